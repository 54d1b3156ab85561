package pgledger

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// apiServerPID finds the kube-apiserver this test binary started: the one serving kubeCfg's port.
func apiServerPID(t *testing.T) int {
	t.Helper()
	u, err := url.Parse(kubeCfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("--secure-port=" + u.Port())
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmd, []byte("kube-apiserver")) || !bytes.Contains(cmd, want) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		return pid
	}
	t.Fatalf("no kube-apiserver with %s", want)
	return 0
}

// With the ledger in PostgreSQL, the API server is off the write path (targets resolve through the
// cache): a 3 s freeze of the API server (SIGSTOP) refuses no delivery, and the projection catches up
// after it.
func TestAPIServerFreezeRefusesNothing(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	pool := newPool(t, dsn)
	w := NewWriter(pool, ca, testKeys(t), Options{})
	l := newLink(t, c, "freeze")
	waitCached(t, ca, l)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proj := &Projector{Pool: newPool(t, dsn), Client: c, Interval: 200 * time.Millisecond}
	go func() { _ = proj.Start(ctx) }()

	pid := apiServerPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	var refused, sent atomic.Int64
	deadline := time.Now().Add(3 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		wctx, wcancel := context.WithTimeout(context.Background(), time.Second)
		if err := w.Write(wctx, []status.Item{{Target: linkTarget(l), Event: referral(n, delivery.KindReferral, "SHORTLINK", "summer")}}); err != nil {
			refused.Add(1)
		} else {
			sent.Add(1)
		}
		wcancel()
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if refused.Load() != 0 || sent.Load() == 0 {
		t.Errorf("during the API server's freeze: %d refused, %d answered; want none refused", refused.Load(), sent.Load())
	}
	end := time.Now().Add(20 * time.Second)
	for {
		st := getLink(t, c, l).Status.Referrals
		if st != nil && st.Total == sent.Load() {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("projection after the freeze: %+v, want total %d", st, sent.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
