// Package kubeconfig loads how the operator's binaries reach the API server, with the settings both share.
package kubeconfig

import (
	"flag"
	"fmt"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Flags are the command-line settings of the API server connection.
type Flags struct {
	// Compression asks the API server to gzip large responses (lists, and the first sync of every cache).
	Compression bool
}

// Bind registers the flags on fs.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.BoolVar(&f.Compression, "kube-api-compression", false,
		"Ask the API server to gzip large responses. Off by default, as in kube-controller-manager: next to the API server, compressing lists costs both sides CPU and saves no time; turn it on when the API server is across a slow link.")
}

// Load returns the connection from --kubeconfig, KUBECONFIG, the in-cluster service account or
// ~/.kube/config (as ctrl.GetConfig finds it), with the flags applied.
func (f Flags) Load() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	f.Apply(cfg)
	return cfg, nil
}

// Apply sets the flags on cfg. Tests apply them to their own control plane's config, so that they use the
// client the binaries use.
func (f Flags) Apply(cfg *rest.Config) {
	cfg.DisableCompression = !f.Compression
}
