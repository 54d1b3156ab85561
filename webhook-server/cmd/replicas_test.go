package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/testenv"
)

// The default install's two webhook replicas, as processes of the built binary, behind a sender that
// plays Meta: deliveries alternate between the replicas and every answer but 200 (a 503, a refused or
// reset connection) is delivered again, to the other replica, until it is 200. During the run the API
// server is frozen for 3 seconds and one replica is killed with SIGKILL and started again. At the end every
// event is counted exactly once, in every counter.
func TestTwoReplicasUnderFaultsCountEveryEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and two webhook servers")
	}
	const (
		links     = 20
		perPost   = 5
		posts     = 2400 // 12,000 events
		page      = "777000111"
		runFor    = 12 * time.Second
		freezeAt  = 2 * time.Second
		freezeFor = 3 * time.Second
		killAt    = 6 * time.Second
	)
	cp := startControlPlane(t)
	c, cfg := cp.c, cp.cfg
	secret := []byte("replicas-app-secret")
	cp.file(t, "app-secret", secret)
	cp.file(t, "verify-token", []byte("replicas-verify-token"))

	keys := make([]client.ObjectKey, links)
	for i := range links {
		keys[i] = client.ObjectKeyFromObject(cp.claimedLink(t, fmt.Sprintf("link-%02d", i), page, fmt.Sprintf("ref%02d", i)))
	}
	replicas := startReplicaPair(t, cp)

	// Post i carries events i*perPost .. i*perPost+perPost-1; event e goes to link e%links, from person
	// e%997, at its own millisecond: distinct events, a known total per link.
	bodyOf := func(i int) []byte {
		var evs []string
		for e := i * perPost; e < (i+1)*perPost; e++ {
			evs = append(evs, fmt.Sprintf(`{"sender":{"id":"p%d"},"recipient":{"id":%q},"timestamp":%d,"referral":{"ref":"ref%02d","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
				e%997, page, 1_760_000_000_000+int64(e), e%links))
		}
		return fmt.Appendf(nil, `{"object":"page","entry":[{"id":%q,"time":%d,"messaging":[%s]}]}`, page, 1_760_000_000_000+int64(i), strings.Join(evs, ","))
	}
	var resent, answered503 atomic.Int64
	deliver := func(i int) {
		replicas.deliverUntilOK(secret, bodyOf(i), i, func(code int) {
			if code == http.StatusServiceUnavailable {
				answered503.Add(1)
			}
			resent.Add(1)
		})
	}

	start := time.Now()
	wait := sendOpenLoop(start, posts, runFor, deliver)
	freezeAPIServer(t, cfg.Host, start.Add(freezeAt), freezeFor)
	time.Sleep(time.Until(start.Add(killAt)))
	replicas.restart(t, 0, func() *replica { return startReplica(t, cp) })
	wait()
	t.Logf("%d events in %d deliveries; %d deliveries sent again (%d of them after a 503)",
		posts*perPost, posts, resent.Load(), answered503.Load())
	if answered503.Load() == 0 {
		t.Error("no delivery was answered 503: the faults did not reach the write path")
	}

	var sum int64
	for i, key := range keys {
		var l messengerv1.MessengerLink
		if err := c.Get(context.Background(), key, &l); err != nil {
			t.Fatal(err)
		}
		want := int64(posts * perPost / links)
		st := l.Status.Referrals
		if st == nil {
			t.Errorf("%s: no referrals, want %d", key.Name, want)
			continue
		}
		sum += st.Total
		if st.Total != want || st.ReturningConversations != want || st.BySource["SHORTLINK"] != want {
			t.Errorf("%s: total %d returning %d SHORTLINK %d, want %d each", key.Name, st.Total, st.ReturningConversations, st.BySource["SHORTLINK"], want)
		}
		if st.Window == nil || st.Window.LateEvents != 0 {
			t.Errorf("%s: window %+v, want no late events", key.Name, st.Window)
		}
		_ = i
	}
	if sum != posts*perPost {
		t.Errorf("%d events counted, want %d", sum, posts*perPost)
	}
}

// replica is one webhook-server process.
type replica struct {
	*mainProcess
	addr string
}

// replicaPair is the two replicas that deliveries alternate between, as Meta's load balancer would
// spread them; one may be replaced (killed and started again) during the run.
type replicaPair struct {
	mu sync.Mutex
	r  [2]*replica
}

// startReplicaPair starts two replicas on cp with the same flags and waits until both are ready.
func startReplicaPair(t testing.TB, cp *controlPlane, extra ...string) *replicaPair {
	t.Helper()
	p := &replicaPair{r: [2]*replica{startReplica(t, cp, extra...), startReplica(t, cp, extra...)}}
	for _, r := range p.r {
		r.waitReady(t)
	}
	return p
}

// deliverUntilOK posts delivery i as Meta does: to one replica, then, after every answer but 200
// (refused is told its code, 0 for no answer), again to the other after a growing pause, until one
// answers 200.
func (p *replicaPair) deliverUntilOK(secret, body []byte, i int, refused func(code int)) {
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		r := p.r[(i+attempt)%2]
		p.mu.Unlock()
		code := r.post(secret, body)
		if code == http.StatusOK {
			return
		}
		refused(code)
		time.Sleep(time.Duration(min(attempt+1, 10)) * 20 * time.Millisecond)
	}
}

// restart kills replica i with SIGKILL and puts the one start returns, once ready, in its place.
func (p *replicaPair) restart(t testing.TB, i int, start func() *replica) {
	t.Helper()
	p.mu.Lock()
	old := p.r[i]
	p.mu.Unlock()
	old.kill(t)
	r := start()
	r.waitReady(t)
	p.mu.Lock()
	p.r[i] = r
	p.mu.Unlock()
}

// sendOpenLoop starts n deliveries spread evenly over d from start, each leaving at its time whatever
// the answers to the others (an open loop, as Meta sends), and returns a function that waits for all.
func sendOpenLoop(start time.Time, n int, d time.Duration, deliver func(i int)) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			time.Sleep(time.Until(start.Add(time.Duration(i) * d / time.Duration(n))))
			wg.Add(1)
			go func() { defer wg.Done(); deliver(i) }()
		}
	}()
	return wg.Wait
}

// freezeAPIServer stops the API server at host with SIGSTOP at the time at, for d, as a stalled node or
// a long GC pause would.
func freezeAPIServer(t testing.TB, host string, at time.Time, d time.Duration) {
	t.Helper()
	apiserver, err := testenv.APIServerPID(host)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at))
	if err := syscall.Kill(apiserver, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	if err := syscall.Kill(apiserver, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

var replicaClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// startReplica runs the binary's main as a process of its own on cp, with the files cp holds; extra are
// more flags.
func startReplica(t testing.TB, cp *controlPlane, extra ...string) *replica {
	t.Helper()
	r := &replica{addr: freeAddr(t)}
	r.mainProcess = startMain(t, append([]string{"--bind-address=" + r.addr, "--metrics-bind-address=0", "--health-probe-bind-address=" + freeAddr(t),
		"--kubeconfig=" + cp.kubeconfig, "--app-secret-file=" + filepath.Join(cp.dir, "app-secret"),
		"--verify-token-file=" + filepath.Join(cp.dir, "verify-token"), "--zap-log-level=error", "--zap-stacktrace-level=panic"}, extra...))
	return r
}

func (r *replica) waitReady(t testing.TB) {
	t.Helper()
	r.mainProcess.waitReady(t, "http://"+r.addr+"/readyz")
}

// post delivers body signed with secret and returns the status code, 0 when there was no answer.
func (r *replica) post(secret, body []byte) int {
	resp, err := replicaClient.Do(signedRequest("http://"+r.addr+"/webhook", secret, body))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
