package charttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// toggles are the chart's optional parts, each rendered alone and all together; every rendering must
// pass a server-side dry run without a warning.
var toggles = []struct {
	name string
	sets []string
}{
	{"defaults", nil},
	{"namespace", []string{"namespace.create=true"}},
	{"no CRDs", []string{"crds.enabled=false"}},
	{"CRDs not kept", []string{"crds.keep=false"}},
	{"ingress", []string{"ingress.enabled=true", "ingress.host=mmelink.acme.example"}},
	{"network policy", []string{"networkPolicy.enabled=true"}},
	{"service monitor", []string{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.interval=30s"}},
	{"prometheus rule", []string{"metrics.prometheusRule.enabled=true"}},
	{"bundled webhook", []string{"bundledWebhook.enabled=true"}},
	{"postgres ledger", postgres},
	{"bundled webhook with postgres, ingress and network policy", append([]string{
		"bundledWebhook.enabled=true", "ingress.enabled=true", "networkPolicy.enabled=true"}, postgres...)},
	{"everything", append([]string{
		"namespace.create=true", "ingress.enabled=true", "networkPolicy.enabled=true",
		"metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
		"webhookSecret.name=acme-webhook", "webhookServer.replicas=3", "manager.replicas=2",
		"manager.extraArgs={--messenger-app-id=1234567890,--graph-page-rate=5}",
		"webhookServer.extraArgs={--max-body-bytes=2097152}",
		"image.repository=registry.acme.example/mmelink", "image.tag=v0.3.0", "image.pullPolicy=IfNotPresent",
		"imagePullSecrets[0].name=regcred", "commonLabels.team=growth",
		"manager.nodeSelector.kubernetes\\.io/os=linux", "webhookServer.podAnnotations.acme/team=growth",
		"webhookServer.tolerations[0].key=dedicated", "webhookServer.tolerations[0].operator=Exists",
	}, postgres...)},
}

var postgres = []string{
	"ledger.mode=postgres", "ledger.postgres.dsnSecret.name=mmelink-ledger-dsn",
	"ledger.postgres.keySecret.name=mmelink-ledger-key", "ledger.postgres.keySecret.key=ledger-key",
	"ledger.postgres.retention=96h", "ledger.postgres.projectInterval=10s", "ledger.postgres.maxConns=8",
}

// TestLint is `helm lint --strict` with the defaults and with every toggle.
func TestLint(t *testing.T) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range toggles {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := values(tc.sets...)
			if err != nil {
				t.Fatal(err)
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = releaseNS
			lint.KubeVersion = kv
			res := lint.Run([]string{chartDir()}, vals)
			for _, m := range res.Messages {
				t.Log(m)
			}
			if res.TotalChartsLinted != 1 || len(res.Errors) > 0 {
				t.Fatalf("helm lint --strict: %d charts linted, errors: %v", res.TotalChartsLinted, res.Errors)
			}
		})
	}
}

// TestTogglesDryRun renders each toggle and dry-runs it against the API server: every object must be
// accepted as is, with no Pod Security (or other) warning.
func TestTogglesDryRun(t *testing.T) {
	s := sharedServer(t)
	for _, tc := range toggles {
		t.Run(tc.name, func(t *testing.T) {
			s.dryRun(t, render(t, tc.sets...))
		})
	}
}

// TestDryRunCatchesPodSecurity: the dry run above fails on a Pod Security warning, so that its passing
// means something. The chart's manager without its pod security context is refused.
func TestDryRunCatchesPodSecurity(t *testing.T) {
	s := sharedServer(t)
	objs := decode(t, render(t))
	d := get(t, objs, "Deployment", "mmelink-controller-manager")
	unstructured.RemoveNestedField(d.Object, "spec", "template", "spec", "securityContext")
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.dryRunErr(string(b)); err == nil || !strings.Contains(err.Error(), "PodSecurity") {
		t.Fatalf("a Deployment without runAsNonRoot and seccompProfile passed the dry run: %v", err)
	}
}

// TestDefaultsEqualInstall: the chart's defaults render what dist/install.yaml (kubectl kustomize
// config/default) holds, object for object, so that the Helm and the kustomize install never drift. Two
// differences are by design and asserted as such: the Namespace is rendered only with namespace.create
// (Helm stores the release in it, so it must exist before the install), and the CRDs carry
// helm.sh/resource-policy: keep (crds.keep), an instruction to Helm that kubectl ignores.
func TestDefaultsEqualInstall(t *testing.T) {
	install := byKey(t, decode(t, kustomize(t)))

	t.Run("with namespace.create", func(t *testing.T) {
		chart := byKey(t, decode(t, render(t, "namespace.create=true")))
		compareObjects(t, chart, install)
	})
	t.Run("defaults, without the Namespace", func(t *testing.T) {
		chart := byKey(t, decode(t, render(t)))
		ns := "Namespace /" + releaseNS
		if _, ok := chart[ns]; ok {
			t.Errorf("the defaults render the Namespace; Helm needs it before the install")
		}
		if _, ok := install[ns]; !ok {
			t.Fatalf("install.yaml has no %s", ns)
		}
		rest := map[string]*unstructured.Unstructured{}
		for k, o := range install {
			if k != ns {
				rest[k] = o
			}
		}
		compareObjects(t, chart, rest)
	})
}

// compareObjects fails for every object only one side has, and for every object that differs beyond
// the CRDs' keep annotation, which must be there.
func compareObjects(t *testing.T, chart, install map[string]*unstructured.Unstructured) {
	t.Helper()
	for k := range install {
		if _, ok := chart[k]; !ok {
			t.Errorf("install.yaml has %s, the chart does not render it", k)
		}
	}
	for k, c := range chart {
		want, ok := install[k]
		if !ok {
			t.Errorf("the chart renders %s, install.yaml does not have it", k)
			continue
		}
		got := c.DeepCopy()
		if got.GetKind() == "CustomResourceDefinition" {
			ann := got.GetAnnotations()
			if ann["helm.sh/resource-policy"] != "keep" {
				t.Errorf("%s lacks helm.sh/resource-policy: keep", k)
			}
			delete(ann, "helm.sh/resource-policy")
			got.SetAnnotations(ann)
		}
		if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
			g, _ := yaml.Marshal(normalize(t, got))
			w, _ := yaml.Marshal(normalize(t, want))
			t.Errorf("%s differs from install.yaml:\n--- chart\n%s\n--- install.yaml\n%s", k, g, w)
		}
	}
}

// normalize round-trips an object through JSON, so that numbers and empty maps compare alike.
func normalize(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// kustomize is what `make build-installer` writes to dist/install.yaml, built fresh so that the test
// never compares with a stale file.
func kustomize(t *testing.T) string {
	t.Helper()
	kubectl, err := kubectlPath()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(repoRoot(), "config", "default"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// TestCopiesAreCurrent: the chart holds copies of generated files, since a chart cannot read outside its
// directory; `make manifests` refreshes them. And the chart's image is config/default's.
func TestCopiesAreCurrent(t *testing.T) {
	root := repoRoot()
	bases, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir(), "files", "crds", "*.yaml"))
	if len(copies) != len(bases) {
		t.Errorf("charts/mmelink/files/crds has %d files, config/crd/bases %d: run make manifests", len(copies), len(bases))
	}
	pairs := [][2]string{
		{filepath.Join(root, "config", "rbac", "role.yaml"), filepath.Join(chartDir(), "files", "manager-role.yaml")},
		{filepath.Join(root, "config", "prometheus", "rules.yaml"), filepath.Join(chartDir(), "files", "prometheus-rules.yaml")},
	}
	for _, b := range bases {
		pairs = append(pairs, [2]string{b, filepath.Join(chartDir(), "files", "crds", filepath.Base(b))})
	}
	for _, p := range pairs {
		src, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		cp, err := os.ReadFile(p[1])
		if err != nil || !bytes.Equal(src, cp) {
			t.Errorf("%s is not a copy of %s: run make manifests", rel(p[1]), rel(p[0]))
		}
	}
}

func rel(p string) string {
	r, err := filepath.Rel(repoRoot(), p)
	if err != nil {
		return p
	}
	return r
}

// TestPrometheusRuleFile: the rule file the PrometheusRule toggle ships is what the rendered object holds.
func TestPrometheusRuleFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(), "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("files/prometheus-rules.yaml: %v", err)
	}
	pr := get(t, decode(t, render(t, "metrics.prometheusRule.enabled=true")), "PrometheusRule", "mmelink")
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	want, _ := file["groups"].([]any)
	if len(want) == 0 || !reflect.DeepEqual(normalizeAny(t, groups), normalizeAny(t, want)) {
		t.Errorf("the PrometheusRule's groups are not files/prometheus-rules.yaml's (%d groups there)", len(want))
	}
}

func normalizeAny(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
