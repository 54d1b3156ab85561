package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
)

// The helpers of this package's tests: a control plane, the files the binary reads, the binary run in
// the test's process or as a process of its own, and signed deliveries to it.

// controlPlane is a real API server and etcd for one test, a client of it, and a directory for the
// files the binary reads (kubeconfig, secrets), as a Deployment mounts them.
type controlPlane struct {
	cfg *rest.Config
	c   client.Client
	dir string
	// kubeconfig is the path of the kubeconfig file.
	kubeconfig string
}

// startControlPlane starts a control plane, stopped when the test ends.
func startControlPlane(t testing.TB) *controlPlane {
	t.Helper()
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{cfg: cfg, c: c, dir: t.TempDir()}
	cp.kubeconfig = cp.file(t, "kubeconfig", env.KubeConfig)
	return cp
}

// file writes b into the file name of the directory, readable by its owner only, and returns its path.
func (cp *controlPlane) file(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(cp.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// claimedLink creates a MessengerLink for page and ref in namespace default and records its claim as
// the controller would: the webhook server counts only for the link that holds it.
func (cp *controlPlane) claimedLink(t testing.TB, name, page, ref string) *messengerv1.MessengerLink {
	t.Helper()
	l := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: page}, Ref: ref},
	}
	if err := cp.c.Create(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	unclaimed := l.DeepCopy()
	l.Status.Claim = l.PageRefKey()
	if err := cp.c.Status().Patch(context.Background(), l, client.MergeFrom(unclaimed)); err != nil {
		t.Fatal(err)
	}
	return l
}

// runInProcess runs the binary's run with o in this process until the test ends; it must then return nil.
func runInProcess(t testing.TB, o options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// mainProcess is the binary's main in a process of its own: the test binary again, which TestMain turns
// into main for runMainEnv. Until the test ends it runs, unless killed or stopped; then it gets SIGTERM and
// must exit cleanly within 30 s.
type mainProcess struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	logs    lockedBuffer
	done    chan struct{}
	err     error // how it exited, once done is closed
	ended   bool  // killed or stopped: the cleanup has nothing to do
}

// startMain starts main with args and, besides the test's environment, env.
func startMain(t testing.TB, args []string, env ...string) *mainProcess {
	t.Helper()
	p := &mainProcess{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid, p.started = p.cmd.Process.Pid, time.Now()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM, unless the process was killed or stopped already, and waits for a clean exit.
func (p *mainProcess) stop(t testing.TB) {
	t.Helper()
	if p.ended {
		return
	}
	p.ended = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("webhook-server exited with %v after SIGTERM; its log:\n%s", p.err, tail(p.logs.String()))
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("webhook-server still running 30s after SIGTERM")
	}
}

// waitReady waits until url answers 200, for 30 s at most.
func (p *mainProcess) waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := expect(readyClient.Get(url))
		if err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("webhook-server exited with %v before it was ready; its log:\n%s", p.err, tail(p.logs.String()))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook-server not ready within 30s (%v); its log:\n%s", err, tail(p.logs.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var readyClient = &http.Client{Timeout: 5 * time.Second}

// kill ends the process as the kernel's OOM killer or a node failure would: no shutdown at all.
func (p *mainProcess) kill(t testing.TB) {
	t.Helper()
	p.ended = true
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// signedRequest is a delivery of body to url, signed with secret as Meta signs.
func signedRequest(url string, secret, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body)) // a URL made by the test
	req.Header.Set(delivery.SignatureHeader, delivery.Sign(secret, body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// metricsOf returns what the metrics endpoint at addr serves.
func metricsOf(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return string(b)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// expect turns anything but a 200 into an error, and closes the body.
func expect(resp *http.Response, err error) error {
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

// tail is the end of a long log, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// lockedBuffer collects a process's output while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
