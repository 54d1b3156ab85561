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
	replicas := []*replica{startReplica(t, cp), startReplica(t, cp)}
	for _, r := range replicas {
		r.waitReady(t)
	}

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
	var (
		resent, answered503 atomic.Int64
		mu                  sync.Mutex
	)
	deliver := func(i int) {
		body := bodyOf(i)
		for attempt := 0; ; attempt++ {
			mu.Lock()
			r := replicas[(i+attempt)%2]
			mu.Unlock()
			code := r.post(secret, body)
			if code == http.StatusOK {
				return
			}
			if code == http.StatusServiceUnavailable {
				answered503.Add(1)
			}
			resent.Add(1)
			time.Sleep(time.Duration(min(attempt+1, 10)) * 20 * time.Millisecond)
		}
	}

	// Open loop, as Meta sends: each delivery leaves at its time, whatever the answers to the others.
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range posts {
			time.Sleep(time.Until(start.Add(time.Duration(i) * runFor / posts)))
			wg.Add(1)
			go func() { defer wg.Done(); deliver(i) }()
		}
	}()
	apiserver, err := testenv.APIServerPID(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(freezeAt)))
	if err := syscall.Kill(apiserver, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(freezeFor)
	if err := syscall.Kill(apiserver, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(killAt)))
	replicas[0].kill(t)
	restarted := startReplica(t, cp)
	restarted.waitReady(t)
	mu.Lock()
	replicas[0] = restarted
	mu.Unlock()
	wg.Wait()
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

var replicaClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// startReplica runs the binary's main as a process of its own on cp, with the files cp holds; extra are
// more flags.
func startReplica(t *testing.T, cp *controlPlane, extra ...string) *replica {
	t.Helper()
	r := &replica{addr: freeAddr(t)}
	r.mainProcess = startMain(t, append([]string{"--bind-address=" + r.addr, "--metrics-bind-address=0", "--health-probe-bind-address=" + freeAddr(t),
		"--kubeconfig=" + cp.kubeconfig, "--app-secret-file=" + filepath.Join(cp.dir, "app-secret"),
		"--verify-token-file=" + filepath.Join(cp.dir, "verify-token"), "--zap-log-level=error", "--zap-stacktrace-level=panic"}, extra...))
	return r
}

func (r *replica) waitReady(t *testing.T) {
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
