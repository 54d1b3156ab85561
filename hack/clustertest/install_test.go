package main

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestCustomize: the kubectl install sets both Deployments' image and appends the manager's arguments
// to its own, leaving every other object as dist/install.yaml has it.
func TestCustomize(t *testing.T) {
	in := []byte(`apiVersion: v1
kind: Namespace
metadata: {name: mmelink-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mmelink-controller-manager}
spec:
  template:
    spec:
      containers:
      - {name: manager, image: ghcr.io/mmelink/operator:latest, args: [--leader-elect]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mmelink-webhook-server}
spec:
  template:
    spec:
      containers:
      - {name: webhook-server, image: ghcr.io/mmelink/operator:latest, args: [--bind-address=:8090]}
`)
	out, err := customize(in, Install{Image: "ghcr.io/mmelink/operator:cluster-test", ManagerArgs: []string{"--graph-api-url=http://10.213.1.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(out), "---\n")[1:]
	if len(docs) != 3 {
		t.Fatalf("got %d objects, want 3:\n%s", len(docs), out)
	}
	var ns, mgr, wh map[string]any
	for doc, into := range map[string]*map[string]any{docs[0]: &ns, docs[1]: &mgr, docs[2]: &wh} {
		if err := yaml.Unmarshal([]byte(doc), into); err != nil {
			t.Fatal(err)
		}
	}
	container := func(d map[string]any) map[string]any {
		return d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	}
	for _, tc := range []struct {
		what      string
		got, want string
	}{
		{"manager image", container(mgr)["image"].(string), "ghcr.io/mmelink/operator:cluster-test"},
		{"webhook image", container(wh)["image"].(string), "ghcr.io/mmelink/operator:cluster-test"},
		{"manager args", strings.Join(toStrings(container(mgr)["args"]), " "), "--leader-elect --graph-api-url=http://10.213.1.1:1"},
		{"webhook args", strings.Join(toStrings(container(wh)["args"]), " "), "--bind-address=:8090"},
		{"namespace", ns["metadata"].(map[string]any)["name"].(string), "mmelink-system"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if _, err := customize([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"), Install{}); err == nil {
		t.Error("customize accepted manifests without the two Deployments")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
