package charttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// snippetRE finds the README's install snippets: a fenced block right after <!-- install-snippet: NAME -->.
var snippetRE = regexp.MustCompile("(?s)<!-- install-snippet: ([a-z]+) -->\\s*\n```([a-z]+)\n(.*?)\n```")

// readmeSnippets returns the README's install snippets by name, failing when one is missing.
func readmeSnippets(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	snippets := map[string]string{}
	for _, m := range snippetRE.FindAllStringSubmatch(string(raw), -1) {
		snippets[m[1]] = m[3]
	}
	for _, name := range []string{"helm", "kustomize", "argocd", "flux", "secret"} {
		if snippets[name] == "" {
			t.Fatalf("README.md has no install snippet %q (<!-- install-snippet: %s --> before a fenced block)", name, name)
		}
	}
	return snippets
}

// warningRE matches what kubectl ("Warning: ...") and Helm (client-go's klog line) print for an API
// server warning, Pod Security's "would violate PodSecurity" among them.
var warningRE = regexp.MustCompile(`(?i)warning|would violate`)

// runShell runs a shell snippet as a user would from a checkout: bash -euo pipefail, in a directory with
// the repository's charts/ and config/, the two secret files the README's Secret command reads, kubectl
// and helm first on PATH and KUBECONFIG set to the throwaway server. Helm's own directories are
// temporary. It fails on an error and on any warning.
func runShell(t *testing.T, s *apiServer, snippet string) string {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(repoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("no helm at %s: build it with make helm (or set HELM)", helm)
	}
	work, tools := t.TempDir(), t.TempDir()
	for link, target := range map[string]string{
		filepath.Join(work, "charts"):   filepath.Join(repoRoot(), "charts"),
		filepath.Join(work, "config"):   filepath.Join(repoRoot(), "config"),
		filepath.Join(tools, "kubectl"): s.kubectlBin,
		filepath.Join(tools, "helm"):    helm,
	} {
		abs, err := filepath.Abs(target)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, link); err != nil {
			t.Fatal(err)
		}
	}
	for name, value := range map[string]string{"app-secret": "test-app-secret\n", "verify-token": "test-verify-token\n"} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	helmHome := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", snippet)
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+s.kubeconfig,
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the snippet failed: %v\n%s\nstdout:\n%s\nstderr:\n%s", err, snippet, stdout.String(), stderr.String())
	}
	if warningRE.MatchString(stderr.String()) {
		t.Fatalf("the snippet printed warnings:\n%s", stderr.String())
	}
	return stdout.String()
}

// installed checks what every install leaves behind: the CRDs and both Deployments, with the webhook
// server's Secret in place.
func installed(t *testing.T, s *apiServer) {
	t.Helper()
	for _, crd := range []string{"messengerlinks", "notificationtopics", "messengerpages"} {
		s.getJSON(t, "crd", crd+".messenger.mmelink.io")
	}
	for _, d := range []string{"mmelink-controller-manager", "mmelink-webhook-server"} {
		s.getJSON(t, "-n", releaseNS, "deployment", d)
	}
	sec := s.getJSON(t, "-n", releaseNS, "secret", "mmelink-webhook")
	if data, _ := sec["data"].(map[string]any); data["app-secret"] == nil || data["verify-token"] == nil {
		t.Errorf("the Secret mmelink-webhook lacks app-secret or verify-token: %v", data)
	}
	ns := s.getJSON(t, "namespace", releaseNS)
	labels, _, _ := unstructured.NestedStringMap(ns, "metadata", "labels")
	if labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s labels %v: Pod Security restricted is not enforced", releaseNS, labels)
	}
}

// TestReadmeHelm runs the README's Helm snippet and Secret command for real on a bare API server, then
// upgrades the release with a changed value and uninstalls it, as an operator's user would.
func TestReadmeHelm(t *testing.T) {
	snippets := readmeSnippets(t)
	s := startBare(t)
	runShell(t, s, snippets["helm"])
	runShell(t, s, snippets["secret"])
	installed(t, s)
	crd := s.getJSON(t, "crd", "messengerlinks.messenger.mmelink.io")
	if ann, _, _ := unstructured.NestedStringMap(crd, "metadata", "annotations"); ann["meta.helm.sh/release-name"] != releaseName || ann["helm.sh/resource-policy"] != "keep" {
		t.Errorf("CRD annotations %v: not the release's, or not kept", ann)
	}

	// An upgrade changes what the values say, and the CRDs stay the release's.
	runShell(t, s, "helm upgrade mmelink ./charts/mmelink --namespace mmelink-system --reuse-values --set webhookServer.replicas=3")
	d := s.getJSON(t, "-n", releaseNS, "deployment", "mmelink-webhook-server")
	if r, _, _ := unstructured.NestedInt64(d, "spec", "replicas"); r != 3 {
		t.Errorf("after the upgrade the webhook server has %d replicas, want 3", r)
	}
	cs, _, _ := unstructured.NestedSlice(d, "spec", "template", "spec", "containers")
	if a, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args"); !strings.Contains(strings.Join(a, " "), "--status-writers=3") {
		t.Errorf("after the upgrade the args are %v, want --status-writers=3", a)
	}
	if out := runShell(t, s, "helm history mmelink -n mmelink-system -o yaml"); strings.Count(out, "revision:") != 2 {
		t.Errorf("helm history:\n%s\nwant two revisions", out)
	}

	// Uninstalling removes the Deployments and keeps the CRDs (and so every custom resource).
	runShell(t, s, "helm uninstall mmelink --namespace mmelink-system --wait")
	s.getJSON(t, "crd", "messengerlinks.messenger.mmelink.io")
	if _, _, err := s.kubectl(context.Background(), nil, "-n", releaseNS, "get", "deployment", "mmelink-webhook-server"); err == nil {
		t.Error("the webhook server's Deployment is still there after helm uninstall")
	}
}

// TestReadmeKustomize runs the README's kustomize snippet and Secret command for real on a bare API server.
func TestReadmeKustomize(t *testing.T) {
	snippets := readmeSnippets(t)
	s := startBare(t)
	runShell(t, s, snippets["kustomize"])
	runShell(t, s, snippets["secret"])
	installed(t, s)
}

// TestReadmeGitOps dry-runs the README's Argo CD Application and Flux objects against the API server with
// those projects' CRDs, and checks that what they point to exists and renders: the chart with the
// Application's values, config/default for the Flux Kustomization.
func TestReadmeGitOps(t *testing.T) {
	snippets := readmeSnippets(t)
	s := sharedServer(t)

	t.Run("argocd", func(t *testing.T) {
		s.dryRun(t, snippets["argocd"])
		var app map[string]any
		if err := yaml.Unmarshal([]byte(snippets["argocd"]), &app); err != nil {
			t.Fatal(err)
		}
		path, _, _ := unstructured.NestedString(app, "spec", "source", "path")
		name, _, _ := unstructured.NestedString(app, "spec", "source", "helm", "releaseName")
		ns, _, _ := unstructured.NestedString(app, "spec", "destination", "namespace")
		vals, _, _ := unstructured.NestedMap(app, "spec", "source", "helm", "valuesObject")
		if path != "charts/mmelink" {
			t.Fatalf("the Application renders %q, not charts/mmelink", path)
		}
		sets := setsOf("", vals)
		manifest, err := renderChart(loadChart(t), name, ns, sets...)
		if err != nil {
			t.Fatalf("the chart with the Application's values: %v", err)
		}
		s.dryRun(t, manifest)
	})
	t.Run("flux", func(t *testing.T) {
		s.dryRun(t, snippets["flux"])
		var kust map[string]any
		docs := strings.Split(snippets["flux"], "\n---\n")
		if err := yaml.Unmarshal([]byte(docs[len(docs)-1]), &kust); err != nil {
			t.Fatal(err)
		}
		path, _, _ := unstructured.NestedString(kust, "spec", "path")
		if _, err := os.Stat(filepath.Join(repoRoot(), path, "kustomization.yaml")); err != nil {
			t.Fatalf("the Kustomization's path %s is no kustomization in this repository: %v", path, err)
		}
	})
}

// setsOf flattens values into --set expressions, as the test's renderer takes them.
func setsOf(prefix string, vals map[string]any) []string {
	var sets []string
	for k, v := range vals {
		if m, ok := v.(map[string]any); ok {
			sets = append(sets, setsOf(prefix+k+".", m)...)
			continue
		}
		sets = append(sets, fmt.Sprintf("%s%s=%v", prefix, k, v))
	}
	return sets
}
