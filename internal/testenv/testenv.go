// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest) with the operator's
// CRDs installed, for the tests of every package that talks to Kubernetes.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/mmelink/operator/internal/kubeconfig"
	"github.com/mmelink/operator/internal/scheme"
)

// K8sVersion is the version of the control plane hack/control-plane.sh builds.
const K8sVersion = "1.37.1"

// RepoRoot is the repository's top directory, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Assets returns the directory of kube-apiserver, etcd and kubectl: KUBEBUILDER_ASSETS when set (the
// Makefile sets it), else the cache hack/control-plane.sh fills.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the control-plane binaries: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "mmelink", "k8s-"+K8sVersion)
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", errors.New("no kube-apiserver found: run `make control-plane` (or `make test`), or set KUBEBUILDER_ASSETS")
	}
	return dir, nil
}

// StartTimeout is how long kube-apiserver and etcd each get to start.
const StartTimeout = 2 * time.Minute

// New returns an environment with the CRDs from config/crd/bases, not yet started.
func New() (*envtest.Environment, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                scheme.New(),
	}
	// The shared machine (load 30 and more) can take longer than envtest's 20 s to start them.
	env.ControlPlane.GetAPIServer().StartTimeout = StartTimeout
	env.ControlPlane.Etcd = &envtest.Etcd{StartTimeout: StartTimeout}
	return env, nil
}

// Start starts a new environment and returns it with a config for an admin client. Each configure
// function edits the environment before it starts: a test that needs other flags for etcd or the API
// server sets them there (env.ControlPlane.GetAPIServer().Configure(), env.ControlPlane.Etcd).
func Start(configure ...func(*envtest.Environment)) (*envtest.Environment, *rest.Config, error) {
	env, err := New()
	if err != nil {
		return nil, nil, err
	}
	for _, c := range configure {
		c(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	// As ctrl.GetConfig does in production: no client-side throttling; the API server's priority and
	// fairness protects it. A client-side limit here would measure the limiter, not the operator.
	cfg.QPS = -1
	// And the binaries' defaults (kubeconfig.Flags), so that tests and benchmarks use the client they use.
	kubeconfig.Flags{}.Apply(cfg)
	return env, cfg, nil
}
