package charttest

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The values' effects on the rendered objects, one behaviour per test.

func TestCRDToggles(t *testing.T) {
	crds := func(objs []*unstructured.Unstructured) (n, kept int) {
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				n++
				if o.GetAnnotations()["helm.sh/resource-policy"] == "keep" {
					kept++
				}
				if o.GetLabels()["app.kubernetes.io/part-of"] != "mmelink" {
					t.Errorf("%s lacks the part-of label", key(o))
				}
			}
		}
		return n, kept
	}
	for _, tc := range []struct {
		sets        []string
		n, wantKept int
	}{
		{nil, 3, 3},
		{[]string{"crds.keep=false"}, 3, 0},
		{[]string{"crds.enabled=false"}, 0, 0},
	} {
		n, kept := crds(decode(t, render(t, tc.sets...)))
		if n != tc.n || kept != tc.wantKept {
			t.Errorf("--set %v: %d CRDs, %d kept; want %d, %d", tc.sets, n, kept, tc.n, tc.wantKept)
		}
	}
}

func TestStatusWritersFollowReplicas(t *testing.T) {
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{nil, "--status-writers=2"},
		{[]string{"webhookServer.replicas=5"}, "--status-writers=5"},
		{[]string{"webhookServer.replicas=5", "webhookServer.statusWriters=10"}, "--status-writers=10"},
	} {
		d := get(t, decode(t, render(t, tc.sets...)), "Deployment", "mmelink-webhook-server")
		if a := args(t, d); !slices.Contains(a, tc.want) {
			t.Errorf("--set %v: args %v lack %s", tc.sets, a, tc.want)
		}
	}
}

func TestPostgresLedger(t *testing.T) {
	objs := decode(t, render(t, postgres...))
	d := get(t, objs, "Deployment", "mmelink-webhook-server")
	a := args(t, d)
	for _, want := range []string{
		"--ledger=postgres", "--ledger-dsn-file=/etc/mmelink/ledger/dsn", "--ledger-key-file=/etc/mmelink/ledger/key",
		"--ledger-retention=96h", "--ledger-project-interval=10s", "--ledger-max-conns=8",
	} {
		if !slices.Contains(a, want) {
			t.Errorf("args %v lack %s", a, want)
		}
	}
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	var sources []any
	for _, v := range vols {
		if v.(map[string]any)["name"] == "ledger" {
			sources, _, _ = unstructured.NestedSlice(v.(map[string]any), "projected", "sources")
		}
	}
	want := map[string]string{"mmelink-ledger-dsn": "dsn->dsn", "mmelink-ledger-key": "ledger-key->key"}
	if len(sources) != 2 {
		t.Fatalf("ledger volume sources %v, want the DSN and key Secrets", sources)
	}
	for _, src := range sources {
		sec := src.(map[string]any)["secret"].(map[string]any)
		item := sec["items"].([]any)[0].(map[string]any)
		if got := item["key"].(string) + "->" + item["path"].(string); want[sec["name"].(string)] != got {
			t.Errorf("Secret %v mounted as %s, want %v", sec["name"], got, want)
		}
	}
	// The default ledger passes no ledger flag at all: the binary's default (status) holds.
	for _, x := range args(t, get(t, decode(t, render(t)), "Deployment", "mmelink-webhook-server")) {
		if strings.HasPrefix(x, "--ledger") {
			t.Errorf("the default renders %s", x)
		}
	}
}

// Bad values are refused by values.schema.json or the templates, with a message naming the value.
func TestBadValuesRefused(t *testing.T) {
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"manager.replica=2"}, "replica"},
		{[]string{"ledger.mode=sqlite"}, "ledger"},
		{[]string{"ledger.mode=postgres"}, "dsnSecret"},
		{[]string{"image.pullPolicy=Sometimes"}, "pullPolicy"},
		{[]string{"manager.extraArgs={leader-elect}"}, "extraArgs"},
		{[]string{"ledger.postgres.retention=3 days"}, "retention"},
	} {
		_, err := renderChart(loadChart(t), releaseName, releaseNS, tc.sets...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %v: error %v, want one naming %q", tc.sets, err, tc.want)
		}
	}
}

func TestBundledWebhook(t *testing.T) {
	objs := decode(t, render(t, "bundledWebhook.enabled=true"))
	for _, name := range []string{"mmelink-webhook-server", "mmelink-webhook-server-metrics"} {
		if has(objs, "Deployment", name) || has(objs, "ServiceAccount", name) || has(objs, "Service", name+"-metrics") {
			t.Errorf("the webhook-server Deployment's objects are rendered with the bundled receiver")
		}
	}
	m := get(t, objs, "Deployment", "mmelink-controller-manager")
	a := args(t, m)
	if slices.Contains(a, "--webhook-bind-address=0") || !slices.Contains(a, "--app-secret-file=/etc/mmelink/webhook/app-secret") {
		t.Errorf("manager args %v: the receiver is not on, or has no secret file", a)
	}
	if g, _, _ := unstructured.NestedInt64(m.Object, "spec", "template", "spec", "securityContext", "fsGroup"); g != 65532 {
		t.Errorf("fsGroup %d: the non-root user cannot read the 0440 secret files", g)
	}
	get(t, objs, "ClusterRole", "mmelink-manager-bundled-webhook-role")
	svc := get(t, objs, "Service", "mmelink-webhook-server")
	if sel, _, _ := unstructured.NestedString(svc.Object, "spec", "selector", "app.kubernetes.io/component"); sel != "manager" {
		t.Errorf("the webhook Service selects %q, want the manager's pods", sel)
	}
	if has(decode(t, render(t)), "ClusterRole", "mmelink-manager-bundled-webhook-role") {
		t.Error("the defaults grant the manager Secret writes")
	}
}

// The objects that point at others (Ingress, NetworkPolicy, ServiceMonitor, PDB) select what is rendered.
func TestReferencesResolve(t *testing.T) {
	all := []string{"ingress.enabled=true", "networkPolicy.enabled=true", "metrics.serviceMonitor.enabled=true"}
	for _, tc := range []struct {
		sets           []string
		metricsTargets int // metrics Services the ServiceMonitor selects
	}{
		{all, 2},
		{append([]string{"bundledWebhook.enabled=true"}, all...), 1},
		{append([]string{"fullnameOverride=acme"}, all...), 2},
	} {
		objs := decode(t, render(t, tc.sets...))
		for _, o := range objs {
			switch o.GetKind() {
			case "Ingress":
				rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
				paths, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
				name, _, _ := unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "name")
				port, _, _ := unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "port", "name")
				s := get(t, objs, "Service", name)
				if !servicePort(s, port) {
					t.Errorf("--set %v: the Ingress's Service %s has no port %s", tc.sets, name, port)
				}
				sel, _, _ := unstructured.NestedStringMap(s.Object, "spec", "selector")
				if !servesPort(t, podsMatching(objs, sel), 8090) {
					t.Errorf("--set %v: Service %s selects no pod serving 8090", tc.sets, name)
				}
			case "NetworkPolicy", "PodDisruptionBudget":
				field := []string{"spec", "podSelector", "matchLabels"}
				if o.GetKind() == "PodDisruptionBudget" {
					field = []string{"spec", "selector", "matchLabels"}
				}
				sel, _, _ := unstructured.NestedStringMap(o.Object, field...)
				if len(podsMatching(objs, sel)) != 1 {
					t.Errorf("--set %v: %s selects the pods of %d Deployments, want 1", tc.sets, key(o), len(podsMatching(objs, sel)))
				}
			case "ServiceMonitor":
				sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
				n := 0
				for _, s := range objs {
					if s.GetKind() == "Service" && labelsMatch(sel, s.GetLabels()) && servicePort(s, "metrics") {
						n++
					}
				}
				if n != tc.metricsTargets {
					t.Errorf("--set %v: the ServiceMonitor selects %d metrics Services, want %d", tc.sets, n, tc.metricsTargets)
				}
				// The alerts group by the namespace label the metrics carry themselves.
				endpoints, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
				for _, e := range endpoints {
					if honor, _, _ := unstructured.NestedBool(e.(map[string]any), "honorLabels"); !honor {
						t.Errorf("--set %v: a ServiceMonitor endpoint without honorLabels: the metrics' namespace label becomes exported_namespace", tc.sets)
					}
				}
			}
		}
	}
}

func servicePort(s *unstructured.Unstructured, name string) bool {
	ports, _, _ := unstructured.NestedSlice(s.Object, "spec", "ports")
	for _, p := range ports {
		if p.(map[string]any)["name"] == name {
			return true
		}
	}
	return false
}

// servesPort: one of the Deployments' containers has containerPort port.
func servesPort(t *testing.T, deploys []*unstructured.Unstructured, port int64) bool {
	for _, d := range deploys {
		ports, _, _ := unstructured.NestedSlice(container(t, d), "ports")
		for _, p := range ports {
			if v, _, _ := unstructured.NestedInt64(p.(map[string]any), "containerPort"); v == port {
				return true
			}
		}
	}
	return false
}

// podsMatching returns the Deployments whose pods the label selector matches.
func podsMatching(objs []*unstructured.Unstructured, sel map[string]string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range objs {
		if d.GetKind() != "Deployment" {
			continue
		}
		labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
		if len(sel) > 0 && labelsMatch(sel, labels) {
			out = append(out, d)
		}
	}
	return out
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestImageAndExtras(t *testing.T) {
	objs := decode(t, render(t, "image.digest=sha256:"+strings.Repeat("ab", 32), "image.tag=v9",
		"manager.extraArgs={--messenger-app-id=42}", "commonLabels.team=growth", "imagePullSecrets[0].name=regcred"))
	m := get(t, objs, "Deployment", "mmelink-controller-manager")
	if img := container(t, m)["image"]; img != "ghcr.io/mmelink/operator@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image %v: the digest must win over the tag", img)
	}
	if a := args(t, m); a[len(a)-1] != "--messenger-app-id=42" {
		t.Errorf("manager args %v: extraArgs not appended", a)
	}
	if ps, _, _ := unstructured.NestedSlice(m.Object, "spec", "template", "spec", "imagePullSecrets"); len(ps) != 1 {
		t.Errorf("imagePullSecrets %v", ps)
	}
	for _, o := range objs {
		if o.GetLabels()["team"] != "growth" {
			t.Errorf("%s lacks commonLabels", key(o))
		}
	}
	sel, _, _ := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
	if _, ok := sel["team"]; ok {
		t.Error("commonLabels reached a selector (immutable after install)")
	}
}
