package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The third-party CRDs the chart's optional objects and the README's snippets need, taken from the projects'
// published Go modules through the module proxy (pinned here, never committed): `go mod download` puts each
// module in the module cache once, checked against the checksum database.
var externalModules = []struct {
	module, version string
	files           []string
}{
	// ServiceMonitor, PrometheusRule (metrics.serviceMonitor, metrics.prometheusRule).
	{"github.com/prometheus-operator/prometheus-operator", "v0.85.0", []string{
		"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
		"example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
	}},
	// Application (the README's Argo CD snippet). v3.6 needs Go 1.27.
	{"github.com/argoproj/argo-cd/v3", "v3.5.7", []string{
		"manifests/crds/application-crd.yaml",
		"manifests/crds/appproject-crd.yaml",
	}},
	// GitRepository and Kustomization (the README's Flux snippet). helm-controller (HelmRelease) is not
	// served by the module proxy (403 for every version), so the Flux snippet is a Kustomization.
	{"github.com/fluxcd/source-controller", "v1.9.6", []string{
		"config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
	}},
	{"github.com/fluxcd/kustomize-controller", "v1.9.6", []string{
		"config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
	}},
}

// externalCRDs downloads the modules (a no-op once cached) and returns the paths of their CRD files.
func externalCRDs() ([]string, error) {
	var paths []string
	for _, m := range externalModules {
		dir, err := moduleDir(m.module, m.version)
		if err != nil {
			return nil, err
		}
		for _, f := range m.files {
			p := filepath.Join(dir, filepath.FromSlash(f))
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("%s@%s has no %s: %w", m.module, m.version, f, err)
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// moduleDir is `go mod download -json module@version`'s Dir, run outside any module so that no go.mod
// or go.sum changes.
func moduleDir(module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	runErr := cmd.Run()
	var res struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || runErr != nil || res.Error != "" || res.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s %s", module, version, runErr, res.Error, stderr.String())
	}
	return res.Dir, nil
}
