package charttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/mmelink/operator/internal/testenv"
)

// apiServer is a throwaway kube-apiserver and etcd (the binaries hack/control-plane.sh builds), driven
// with kubectl as a user would, as hack/installcheck drives it.
type apiServer struct {
	env        *envtest.Environment
	kubectlBin string
	kubeconfig string
	dir        string
}

// startAPIServer starts a control plane with the given CRD files installed (none: a bare cluster, for
// installs that bring the operator's CRDs themselves).
func startAPIServer(crds []string) (*apiServer, error) {
	assets, err := testenv.Assets()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mmelink-charttest-")
	if err != nil {
		return nil, err
	}
	s := &apiServer{
		env: &envtest.Environment{
			BinaryAssetsDirectory: assets,
			CRDDirectoryPaths:     crds,
			ErrorIfCRDPathMissing: true,
		},
		kubectlBin: filepath.Join(assets, "kubectl"),
		dir:        dir,
	}
	if _, err := s.env.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	user, err := s.env.AddUser(envtest.User{Name: "charttest", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var kc []byte
		if kc, err = user.KubeConfig(); err == nil {
			s.kubeconfig = filepath.Join(dir, "kubeconfig")
			err = os.WriteFile(s.kubeconfig, kc, 0o600)
		}
	}
	if err != nil {
		_ = s.stop()
		return nil, fmt.Errorf("writing a kubeconfig: %w", err)
	}
	return s, nil
}

func (s *apiServer) stop() error {
	err := s.env.Stop()
	_ = os.RemoveAll(s.dir)
	return err
}

// kubectlPath is the kubectl built with the control plane.
func kubectlPath() (string, error) {
	assets, err := testenv.Assets()
	if err != nil {
		return "", err
	}
	return filepath.Join(assets, "kubectl"), nil
}

// startBare starts a control plane without any CRD for one test and stops it when the test ends.
func startBare(t *testing.T) *apiServer {
	t.Helper()
	s, err := startAPIServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return s
}

var shared struct {
	once sync.Once
	s    *apiServer
	err  error
}

// sharedServer is the control plane the chart's renderings are dry-run against: the operator's CRDs and
// the third-party ones its optional objects and the README's snippets use (Prometheus Operator, Argo CD,
// Flux), and the namespaces they go to, created as an installer would create them. Started on first use,
// stopped by TestMain.
func sharedServer(t *testing.T) *apiServer {
	t.Helper()
	shared.once.Do(func() {
		crds := []string{filepath.Join(repoRoot(), "config", "crd", "bases")}
		ext, err := externalCRDs()
		if err != nil {
			shared.err = err
			return
		}
		if shared.s, shared.err = startAPIServer(append(crds, ext...)); shared.err != nil {
			return
		}
		for _, ns := range []string{releaseNS, "argocd", "flux-system"} {
			if _, _, err := shared.s.kubectl(context.Background(), nil, "create", "namespace", ns); err != nil {
				shared.err = err
				return
			}
		}
		// The labels the README tells Helm users to set, which are install.yaml's (TestDefaultsEqualInstall).
		_, _, shared.err = shared.s.kubectl(context.Background(), nil, "label", "namespace", releaseNS,
			"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
	})
	if shared.err != nil {
		t.Fatalf("the shared control plane: %v", shared.err)
	}
	return shared.s
}

func TestMain(m *testing.M) {
	logf.SetLogger(logr.Discard()) // envtest logs through controller-runtime; its output is not the test's
	code := m.Run()
	if shared.s != nil {
		if err := shared.s.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the shared control plane:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// kubectl runs kubectl against the server with stdin, returning its output; a non-zero exit is an error
// that carries stderr.
func (s *apiServer) kubectl(ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectlBin, append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String(), nil
}

// dryRun applies manifest with `kubectl apply --server-side --dry-run=server`: admission (Pod Security
// included), the schemas of built-in and custom resources and the CRDs' CEL rules all see it, nothing is
// stored. Any warning is a failure, as in hack/installcheck.
func (s *apiServer) dryRun(t *testing.T, manifest string) {
	t.Helper()
	if err := s.dryRunErr(manifest); err != nil {
		t.Fatal(err)
	}
}

func (s *apiServer) dryRunErr(manifest string) error {
	_, stderr, err := s.kubectl(context.Background(), []byte(manifest),
		"apply", "--server-side", "--dry-run=server", "--field-manager=charttest", "-f", "-")
	if err != nil {
		return err
	}
	if strings.Contains(stderr, "Warning") {
		return fmt.Errorf("the API server warned:\n%s", stderr)
	}
	return nil
}

// getJSON reads one object from the server.
func (s *apiServer) getJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, _, err := s.kubectl(context.Background(), nil, append([]string{"get", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	// Unstructured's decoder, so that integers stay int64.
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON([]byte(out)); err != nil {
		t.Fatalf("kubectl get %s: %v", strings.Join(args, " "), err)
	}
	return u.Object
}
