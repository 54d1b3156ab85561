package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/testenv"
)

// The exactly-once test of TestTwoReplicasUnderFaultsCountEveryEventOnce, with --ledger=postgres: two
// replicas as processes, deliveries alternating between them, every answer but 200 delivered again (to
// the other replica) until it is 200. During the run the API server is frozen for 3 seconds (the
// receiver keeps answering: targets resolve through the cache, the projector catches up after), one
// replica is killed with SIGKILL and started again, and PostgreSQL is stopped as a crash would for 5
// seconds (503s while it is down). Once the projection has converged, status counts every event exactly
// once, in every counter.
func TestTwoReplicasWithPostgresLedgerUnderFaultsCountEveryEventOnce(t *testing.T) {
	const (
		links     = 20
		perPost   = 5
		posts     = 2400 // 12,000 events
		page      = "777000222"
		runFor    = 16 * time.Second
		freezeAt  = 2 * time.Second
		freezeFor = 3 * time.Second
		killAt    = 6 * time.Second
		haltAt    = 9 * time.Second
		haltFor   = 5 * time.Second
	)
	cp := startControlPlane(t)
	c, cfg := cp.c, cp.cfg
	pg := pgtest.Start(t) // its own server: the test stops it
	secret := []byte("replicas-app-secret")
	cp.file(t, "app-secret", secret)
	cp.file(t, "verify-token", []byte("replicas-verify-token"))
	ledgerFlags := []string{"--ledger=postgres", "--ledger-dsn-file=" + cp.file(t, "dsn", []byte(pg.Database(t))),
		"--ledger-key-file=" + cp.file(t, "ledger-key", []byte("0123456789abcdef0123456789abcdef")),
		"--ledger-project-interval=500ms", "--ledger-max-conns=8"}

	keys := make([]client.ObjectKey, links)
	for i := range links {
		l := &messengerv1.MessengerLink{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("link-%02d", i)},
			Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: page}, Ref: fmt.Sprintf("ref%02d", i)},
		}
		if err := c.Create(context.Background(), l); err != nil {
			t.Fatal(err)
		}
		l.Status.Claim = l.PageRefKey() // as the controller records it
		if err := c.Status().Update(context.Background(), l); err != nil {
			t.Fatal(err)
		}
		keys[i] = client.ObjectKeyFromObject(l)
	}
	replicas := startReplicaPair(t, cp, ledgerFlags...)

	// Post i carries events i*perPost .. i*perPost+perPost-1; event e goes to link e%links, from person
	// e%997, at its own millisecond of the last minutes (within the ledger's retention): distinct events,
	// a known total per link.
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	bodyOf := func(i int) []byte {
		var evs []string
		for e := i * perPost; e < (i+1)*perPost; e++ {
			evs = append(evs, fmt.Sprintf(`{"sender":{"id":"p%d"},"recipient":{"id":%q},"timestamp":%d,"referral":{"ref":"ref%02d","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
				e%997, page, base+int64(e), e%links))
		}
		return fmt.Appendf(nil, `{"object":"page","entry":[{"id":%q,"time":%d,"messaging":[%s]}]}`, page, base+int64(i), strings.Join(evs, ","))
	}
	var (
		resent, answered503 atomic.Int64
		halted              atomic.Bool
		answered503Halted   atomic.Int64
		perSecond           [64]atomic.Int64 // 503s by second of the run, for the log
	)
	var start time.Time
	deliver := func(i int) {
		replicas.deliverUntilOK(secret, bodyOf(i), i, func(code int) {
			if code == http.StatusServiceUnavailable {
				answered503.Add(1)
				perSecond[min(int(time.Since(start)/time.Second), len(perSecond)-1)].Add(1)
				if halted.Load() {
					answered503Halted.Add(1)
				}
			}
			resent.Add(1)
		})
	}

	start = time.Now()
	wait := sendOpenLoop(start, posts, runFor, deliver)
	freezeAPIServer(t, cfg.Host, start.Add(freezeAt), freezeFor)
	time.Sleep(time.Until(start.Add(killAt)))
	replicas.restart(t, 0, func() *replica { return startReplica(t, cp, ledgerFlags...) })
	time.Sleep(time.Until(start.Add(haltAt)))
	pg.Halt(t)
	halted.Store(true)
	time.Sleep(haltFor)
	halted.Store(false)
	pg.Resume(t)
	wait()
	t.Logf("%d events in %d deliveries; %d deliveries sent again (%d of them after a 503, %d while PostgreSQL was down)",
		posts*perPost, posts, resent.Load(), answered503.Load(), answered503Halted.Load())
	var bySecond []string
	for s := range perSecond {
		if n := perSecond[s].Load(); n > 0 {
			bySecond = append(bySecond, fmt.Sprintf("%ds:%d", s, n))
		}
	}
	t.Logf("503s by second of the run: %s", strings.Join(bySecond, " "))
	if answered503Halted.Load() == 0 {
		t.Error("no delivery was answered 503 while PostgreSQL was down: the outage did not reach the write path")
	}

	// The projection converges within a few intervals; a count above its due would never come down.
	want := int64(posts * perPost / links)
	got := make([]*messengerv1.ReferralStats, links)
	testenv.Eventually(t, 60*time.Second, func() error {
		for i, key := range keys {
			var l messengerv1.MessengerLink
			if err := c.Get(context.Background(), key, &l); err != nil {
				return err
			}
			got[i] = l.Status.Referrals
		}
		for i, st := range got {
			if st != nil && st.Total > want {
				return nil // counted twice: the checks below say where
			}
			if st == nil || st.Total < want {
				return fmt.Errorf("%s: status.referrals %+v, still below %d", keys[i].Name, st, want)
			}
		}
		return nil
	})
	var sum int64
	for i, st := range got {
		if st == nil {
			t.Errorf("%s: no status.referrals, want %d", keys[i].Name, want)
			continue
		}
		sum += st.Total
		var daily int64
		for _, d := range st.Daily {
			daily += d.BySource["SHORTLINK"]
		}
		if st.Total != want || st.ReturningConversations != want || st.BySource["SHORTLINK"] != want || daily != want {
			t.Errorf("%s: total %d returning %d SHORTLINK %d, daily SHORTLINK %d; want %d each",
				keys[i].Name, st.Total, st.ReturningConversations, st.BySource["SHORTLINK"], daily, want)
		}
	}
	if sum != posts*perPost {
		t.Errorf("%d events counted, want %d", sum, posts*perPost)
	}
}
