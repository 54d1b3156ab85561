package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
)

// The binary started by hand, as a newcomer does (`bin/manager --kubeconfig=...` on a laptop), runs without
// leader election; with --leader-elect it needs --leader-election-namespace outside a pod, and takes its
// Lease there.
func TestManagerStartsOutsideAPod(t *testing.T) {
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mmelink-system"}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		// leaseNS is where the Lease must be; "" for none.
		leaseNS string
	}{
		{"defaults", nil, ""},
		{"leader election in a named namespace", []string{"--leader-elect", "--leader-election-namespace=mmelink-system",
			"--leader-election-id=test-lease"}, "mmelink-system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probe := freeAddr(t)
			args := append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=" + probe,
				"--webhook-bind-address=0"}, tt.args...)
			// A process of its own, as a user starts it: one process registers its controllers once.
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), managerArgsEnv+"="+strings.Join(args, "\n"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				if err := <-exited; err != nil {
					t.Errorf("manager: %v\n%s", err, stderr.String())
				}
			}()
			deadline := time.Now().Add(30 * time.Second)
			for {
				err := ready("http://" + probe + "/readyz")
				if err == nil {
					break
				}
				select {
				case err := <-exited:
					exited <- nil // for the deferred wait
					t.Fatalf("manager exited at once (%v):\n%s", err, stderr.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("manager not ready within 30s: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if tt.leaseNS == "" {
				return
			}
			var lease coordinationv1.Lease
			for {
				err := c.Get(context.Background(), client.ObjectKey{Namespace: tt.leaseNS, Name: "test-lease"}, &lease)
				if err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no Lease held in %s: %v", tt.leaseNS, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// managerArgsEnv, set, makes the test binary the manager, with these arguments, one a line.
const managerArgsEnv = "MMELINK_TEST_MANAGER_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(managerArgsEnv); ok {
		var o options
		fs := flag.NewFlagSet("manager", flag.ExitOnError)
		o.bind(fs)
		_ = fs.Parse(strings.Split(args, "\n"))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := run(ctx, o)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func ready(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return nil
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
