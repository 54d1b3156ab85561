package charttest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/strvals"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	// The release of dist/install.yaml: its names are "mmelink-..." in mmelink-system.
	releaseName = "mmelink"
	releaseNS   = "mmelink-system"
	kubeVersion = "v1.37.1"
)

// repoRoot is the checkout's top directory, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func chartDir() string { return filepath.Join(repoRoot(), "charts", "mmelink") }

// loadChart loads charts/mmelink as `helm template` does.
func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return ch
}

// values parses --set expressions, as `helm template --set` does.
func values(sets ...string) (map[string]any, error) {
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	return vals, nil
}

// renderChart is `helm template RELEASE charts/mmelink -n NS --kube-version 1.37.1 --set ...` through Helm's
// action library: the schema is checked, the templates rendered, nothing is sent to a cluster.
func renderChart(ch *chart.Chart, relName, namespace string, sets ...string) (string, error) {
	vals, err := values(sets...)
	if err != nil {
		return "", err
	}
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return "", err
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = relName
	install.Namespace = namespace
	install.Replace = true
	install.KubeVersion = kv
	rel, err := install.Run(ch, vals)
	if err != nil {
		return "", err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return "", fmt.Errorf("unexpected release type %T", rel)
	}
	return r.Manifest, nil
}

// render renders the chart as the release "mmelink" in mmelink-system and fails the test on an error.
func render(t testing.TB, sets ...string) string {
	t.Helper()
	out, err := renderChart(loadChart(t), releaseName, releaseNS, sets...)
	if err != nil {
		t.Fatalf("helm template --set %s: %v", strings.Join(sets, " --set "), err)
	}
	return out
}

// decode splits a multi-document manifest into objects, with integers as int64 (as the API machinery
// reads them).
func decode(t testing.TB, manifest string) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("reading the manifest: %v", err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("decoding the manifest: %v", err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
			continue
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(js); err != nil {
			t.Fatalf("decoding the manifest: %v\n%s", err, doc)
		}
		objs = append(objs, o)
	}
}

// key names an object as the API server does: kind, namespace and name.
func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}

// byKey indexes objects by key and fails on duplicates (two templates writing one object).
func byKey(t testing.TB, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if _, dup := m[key(o)]; dup {
			t.Fatalf("%s is rendered twice", key(o))
		}
		m[key(o)] = o
	}
	return m
}

// get returns the rendered object of that kind and name, failing the test when there is none.
func get(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func has(objs []*unstructured.Unstructured, kind, name string) bool {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return true
		}
	}
	return false
}

// container returns the only container of a rendered Deployment.
func container(t testing.TB, deploy *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s has %d containers, want 1", key(deploy), len(cs))
	}
	return cs[0].(map[string]any)
}

func args(t testing.TB, deploy *unstructured.Unstructured) []string {
	t.Helper()
	a, _, err := unstructured.NestedStringSlice(container(t, deploy), "args")
	if err != nil {
		t.Fatalf("%s args: %v", key(deploy), err)
	}
	return a
}
