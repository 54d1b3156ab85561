package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The plugin runs on laptops and links only what its commands use: not the controllers, the manager,
// metrics, the Graph API client or its emulator, nor PostgreSQL.
func TestThePluginLinksNoOperatorMachinery(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/mmelink/operator/controllers",
		"github.com/mmelink/operator/internal/graph", // and graphtest below it
		"github.com/mmelink/operator/webhook-server",
		"sigs.k8s.io/controller-runtime",
		"github.com/prometheus/",
		"github.com/jackc/pgx",
		"k8s.io/client-go/informers",
		"k8s.io/client-go/tools/leaderelection",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the plugin links %s", dep)
			}
		}
	}
}
