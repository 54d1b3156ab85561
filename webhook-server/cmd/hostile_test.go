package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/memlimit"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// runMainEnv makes the test binary run main() instead of the tests: TestHostileClients starts the server
// that way, as a process of its own, so that its memory is measured as the kernel sees it.
const runMainEnv = "MMELINK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// What the Deployment gives the webhook-server container (config/webhook-server/deployment.yaml).
const (
	podMemoryLimit   = 256 << 20
	deployedMaxConns = webhookserver.DefaultMaxConnections
)

// TestHostileClients runs the webhook-server binary as the Deployment does and attacks it, all at once,
// with what anyone on the internet can send without the app secret:
//
//   - 100 connections that declare a 4 MiB body and send it at 1 KiB/s;
//   - 100 connections that send 4 MiB bodies as fast as they can, with bad signatures;
//   - 10,000 idle keep-alive connections.
//
// Throughout, a signed delivery every 100 ms, each on a new connection as a sender arriving mid-attack
// would come, must be answered 200 within 1 s, and the process's peak resident memory must stay under
// the Deployment's 256 MiB limit.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	raiseFileLimit(t, 12_000)
	srv := startServerProcess(t)

	ctx, stop := context.WithTimeout(context.Background(), 12*time.Second)
	defer stop()
	var attackers sync.WaitGroup
	var trickled, fastRefused, idleOpen atomic.Int64
	for range 100 {
		attackers.Go(func() { trickle(ctx, srv.addr, &trickled) })
	}
	// The floods start once the probes have a baseline.
	time.Sleep(time.Second)
	big := bytes.Repeat([]byte(`{"object":"page","entry":[]}`), (4<<20)/28)
	for range 100 {
		attackers.Go(func() { flood(ctx, srv.addr, big, &fastRefused) })
	}
	var idleConns []net.Conn
	var idleMu sync.Mutex
	for w := range 50 {
		attackers.Go(func() {
			for i := w; i < 10_000 && ctx.Err() == nil; i += 50 {
				if c := idleConnection(srv.addr); c != nil {
					idleMu.Lock()
					idleConns = append(idleConns, c)
					idleMu.Unlock()
					idleOpen.Add(1)
				}
			}
		})
	}

	// Probes and the memory sampler run until the attack ends.
	var worst time.Duration
	var probes, failures int
	peakFDs := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ctx.Err() == nil; n++ {
		<-tick.C
		code, took, err := probe(srv.addr, n)
		probes++
		worst = max(worst, took)
		if err != nil || code != http.StatusOK || took > time.Second {
			failures++
			if failures <= 5 {
				t.Errorf("probe %d at %s: status %d after %v, error %v; want 200 within 1s",
					n, time.Since(srv.started).Round(time.Millisecond), code, took.Round(time.Millisecond), err)
			}
		}
		peakFDs = max(peakFDs, countFDs(srv.pid))
	}
	attackers.Wait()
	rss, hwm := memory(t, srv.pid)
	t.Logf("%d probes, slowest %v; peak RSS %d MiB (now %d MiB), peak fds %d; idle connections opened %d, "+
		"trickled KiB %d, flood requests refused %d", probes, worst.Round(time.Millisecond), hwm>>20, rss>>20,
		peakFDs, idleOpen.Load(), trickled.Load()>>10, fastRefused.Load())
	if failures > 0 {
		t.Errorf("%d of %d probes not answered 200 within 1s", failures, probes)
	}
	if probes < 50 {
		t.Errorf("only %d probes", probes)
	}
	if hwm >= podMemoryLimit {
		t.Errorf("peak resident memory %d MiB, at or over the pod's limit of %d MiB: it would be OOM-killed", hwm>>20, podMemoryLimit>>20)
	}
	if limit := deployedMaxConns + 64; peakFDs > limit {
		t.Errorf("server held %d file descriptors, want at most %d (connections are capped at %d)", peakFDs, limit, deployedMaxConns)
	}
	// The attack must have happened: refusals of each kind in the server's own metrics.
	metrics := srv.metrics(t)
	for _, series := range []string{
		`mmelink_webhook_deliveries_total{result="bad_signature"}`,
		`mmelink_webhook_connections_shed_total{reason="evicted_idle"}`,
	} {
		if v := metricValue(metrics, series); v <= 0 {
			t.Errorf("%s = %v: the attack did not reach the server", series, v)
		}
	}
	for _, c := range idleConns {
		_ = c.Close()
	}
}

// serverProcess is the webhook-server binary running in a child process.
type serverProcess struct {
	addr, metricsAddr string
	pid               int
	started           time.Time
}

func (p *serverProcess) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// startServerProcess starts a control plane with one MessengerLink and the binary on it, with the
// Deployment's flags and memory limit, and waits until it is ready. The process is stopped with SIGTERM
// at cleanup and must exit cleanly.
func startServerProcess(t *testing.T) *serverProcess {
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
	lnk := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "probe"},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: probePage}, Ref: "probe"},
	}
	if err := c.Create(context.Background(), lnk); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &serverProcess{addr: freeAddr(t), metricsAddr: freeAddr(t)}
	cmd := exec.Command(os.Args[0], //nolint:gosec // G204: the test binary itself
		"--bind-address="+p.addr,
		"--metrics-bind-address="+p.metricsAddr,
		"--health-probe-bind-address="+freeAddr(t),
		"--app-secret-file="+write("app-secret", probeSecret),
		"--verify-token-file="+write("verify-token", []byte("hostile-verify-token")),
		"--max-body-bytes-in-flight="+strconv.FormatInt(webhookserver.DefaultMaxBodyBytesInFlight, 10),
		"--max-connections="+strconv.Itoa(deployedMaxConns),
	)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "KUBECONFIG="+write("kubeconfig", env.KubeConfig),
		memlimit.Env+"="+strconv.Itoa(podMemoryLimit), "GOMEMLIMIT=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid, p.started = cmd.Process.Pid, time.Now()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("webhook-server exited with %v after SIGTERM; its log:\n%s", err, tail(logs.String()))
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("webhook-server still running 30s after SIGTERM")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + webhookserver.PathReadyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook-server not ready within 30s; its log:\n%s", tail(logs.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const probePage = "1234567890"

var probeSecret = []byte("hostile-app-secret")

// probe sends signed delivery n, a referral to the probe link, on a new connection.
func probe(addr string, n int) (int, time.Duration, error) {
	body := fmt.Appendf(nil, `{"object":"page","entry":[{"id":%q,"time":1458692752478,"messaging":[{"sender":{"id":"%d"},`+
		`"recipient":{"id":%q},"timestamp":%d,"referral":{"ref":"probe","source":"SHORTLINK","type":"OPEN_THREAD"}}]}]}`,
		probePage, 1000+n, probePage, 1458692752478+int64(n))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+webhookserver.PathWebhook, bytes.NewReader(body))
	req.Header.Set(delivery.SignatureHeader, delivery.Sign(probeSecret, body))
	start := time.Now()
	resp, err := probeClient.Do(req)
	took := time.Since(start)
	if err != nil {
		return 0, took, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, took, nil
}

var probeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// trickle declares a 4 MiB body and sends it at 1 KiB/s, reconnecting whenever the server cuts it off.
func trickle(ctx context.Context, addr string, sent *atomic.Int64) {
	chunk := bytes.Repeat([]byte{'x'}, 1<<10)
	for ctx.Err() == nil {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
			"%s: sha256=%064x\r\n\r\n", webhookserver.PathWebhook, 4<<20, delivery.SignatureHeader, 0)
		for err == nil && ctx.Err() == nil {
			if _, err = c.Write(chunk); err == nil {
				sent.Add(int64(len(chunk)))
				sleep(ctx, time.Second)
			}
		}
		stop()
		_ = c.Close()
	}
}

// flood sends 4 MiB bodies with a bad signature back to back, on a keep-alive connection.
func flood(ctx context.Context, addr string, body []byte, refused *atomic.Int64) {
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer cl.CloseIdleConnections()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+webhookserver.PathWebhook, bytes.NewReader(body))
		req.Header.Set(delivery.SignatureHeader, delivery.Sign([]byte("not-the-app-secret"), body))
		resp, err := cl.Do(req)
		if err != nil {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			refused.Add(1)
		}
	}
}

// idleConnection opens a connection, makes one request on it and leaves it open, idle.
func idleConnection(addr string) net.Conn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", webhookserver.PathHealthz)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		_ = c.Close()
		return nil
	}
	resp.Body.Close()
	return c
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// raiseFileLimit raises this process's soft limit of open files to at least n (its children inherit it):
// the idle connections' client ends are file descriptors here.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("open files hard limit %d, the test needs %d", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// memory returns the process's resident memory now and at its peak (VmRSS and VmHWM), in bytes.
func memory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

func countFDs(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// metricValue returns the value of one series in a Prometheus text exposition, or -1.
func metricValue(exposition, series string) float64 {
	for line := range strings.SplitSeq(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
