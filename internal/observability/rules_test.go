package observability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const prometheusDir = "../../config/prometheus"

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// TestAlerts: every alert names only metrics the binaries expose, has a severity and a runbook_url to a
// section of docs/runbooks.md that exists; the PrometheusRule of kustomize holds rules.yaml unchanged.
// (promtool checks the syntax and runs the unit tests: make test-alerts.)
func TestAlerts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(prometheusDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleGroups
	if err := yaml.UnmarshalStrict(b, &rules); err != nil {
		t.Fatal(err)
	}
	runbooks, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, l := range strings.Split(string(runbooks), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			sections[strings.ToLower(h)] = true
		}
	}
	exposed := exposedMetrics(t)
	const runbookBase = "https://github.com/mmelink/operator/blob/main/docs/runbooks.md#"
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts++
			for _, n := range metricNames(r.Expr) {
				if !exposed[n] {
					t.Errorf("%s: %s is no metric the binaries expose", r.Alert, n)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase)
			if !ok || anchor != strings.ToLower(r.Alert) || !sections[anchor] {
				t.Errorf("%s: runbook_url %q should be %s%s, a section of docs/runbooks.md", r.Alert,
					r.Annotations["runbook_url"], runbookBase, strings.ToLower(r.Alert))
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts in rules.yaml")
	}

	pr, err := os.ReadFile(filepath.Join(prometheusDir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var wrapped struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       ruleGroups     `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(pr, &wrapped); err != nil {
		t.Fatal(err)
	}
	a, _ := yaml.Marshal(rules)
	w, _ := yaml.Marshal(wrapped.Spec)
	if wrapped.Kind != "PrometheusRule" || string(a) != string(w) {
		t.Error("prometheusrule.yaml is not rules.yaml as a PrometheusRule: run make prometheus-rule")
	}
}
