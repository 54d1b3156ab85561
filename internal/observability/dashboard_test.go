package observability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const grafanaDir = "../../config/grafana"

type dashboardPanel struct {
	ID      int              `json:"id"`
	Type    string           `json:"type"`
	Title   string           `json:"title"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// TestDashboard: config/grafana/mmelink.json is valid JSON, its panel ids are unique (Grafana keys panel
// state and links by them), and every query names only metrics the binaries expose.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(grafanaDir, "mmelink.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string           `json:"uid"`
		Title  string           `json:"title"`
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("mmelink.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	exposed := exposedMetrics(t)
	ids := map[int]string{}
	queries := 0
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("panel %q: id %d is missing or also %q's", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				queries++
				names := metricNames(q.Expr)
				if len(names) == 0 {
					t.Errorf("panel %q, query %s names no metric: %s", p.Title, q.RefID, q.Expr)
				}
				for _, n := range names {
					if !exposed[n] {
						t.Errorf("panel %q, query %s: %s is no metric the binaries expose", p.Title, q.RefID, n)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if queries < 20 {
		t.Errorf("%d queries: the dashboard lost panels", queries)
	}
}

// TestDashboardConfigMap: the kustomization ships the same file, labelled for the Grafana sidecar.
func TestDashboardConfigMap(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(grafanaDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		ConfigMapGenerator []struct {
			Files   []string `json:"files"`
			Options struct {
				Labels map[string]string `json:"labels"`
			} `json:"options"`
		} `json:"configMapGenerator"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.ConfigMapGenerator) != 1 || strings.Join(k.ConfigMapGenerator[0].Files, ",") != "mmelink.json" ||
		k.ConfigMapGenerator[0].Options.Labels["grafana_dashboard"] != "1" {
		t.Errorf("config/grafana should generate one ConfigMap of mmelink.json labelled grafana_dashboard=1: %+v", k.ConfigMapGenerator)
	}
}
