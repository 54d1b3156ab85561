package webhookserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/loadgen"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/status"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// The control plane's defaults that the budget's default is sized against (status.DefaultWritesPerSecond).
const (
	defaultCompactionInterval = 5 * time.Minute // kube-apiserver --etcd-compaction-interval
	defaultQuotaBytes         = 2 << 30         // etcd --quota-backend-bytes
	fullWriteBytes            = 27 << 10        // a link's status with a full ledger: the budget's unit
)

// quotaScale shrinks the control plane's time and the budget by the same factor, so that the test runs
// in seconds what a cluster does in minutes (see TestBudgetKeepsEtcdUnderItsQuota).
const quotaScale = 20

// Sizes of the scaled run.
const (
	quotaLinks = 100
	// quotaAllowance is room for what etcd holds before the load: a fresh control plane with the CRDs,
	// the links with their full statuses (quotaLinks × 27 KB) and the history of creating them, 3.3 to
	// 3.4 MB measured, and 1 MB to spare. A cluster's own objects are negligible against 2 GiB but not
	// against a quota 400 times smaller, so the scaled quota is the scaled default plus this; the test
	// checks that what etcd holds when the load starts is under it.
	quotaAllowance = 9 << 19 // 4.5 MB
)

// TestBudgetKeepsEtcdUnderItsQuota drives the webhook server at far more than its status write budget,
// spread over many links with full ledgers, against etcd with the control plane's compaction and quota,
// and shows that etcd's space alarm never fires and writes to the cluster keep succeeding; and that with
// no budget, the same load raises the alarm, after which every write in the cluster fails.
//
// Why the scaled run proves the default. etcd keeps every revision until the API server compacts it. The
// API server's compactor compacts, every interval C, up to the revision it saw one interval earlier, so
// etcd holds between C and 2C of history. Status writes at a rate B of full writes (w = 27 KB each) a
// second therefore make etcd hold at most H = B·w·2C bytes of history on top of the live objects, and
// bbolt reuses the pages a compaction frees. The default must keep that under the quota Q: with B = 50
// (DefaultStatusWritesPerSecond, both replicas), C = 5 min and Q = 2 GiB, H = 50 × 27 KB × 600 s =
// 810 MB = 0.38·Q.
//
// The test divides C by k = quotaScale and B by k too (the budget proportionally to the interval): the
// history then shrinks by k², and so does the quota, Q' = Q/k² = 5.1 MiB (plus quotaAllowance for the
// objects the cluster holds anyway, see there). H'/Q' = H/Q: the scaled run has the default's margin,
// with C' = 15 s and B' = 2.5 full writes (67.5 KB) a second. One Store stands for both replicas (their
// budgets add up). What the run checks is what the argument assumes, and what it leaves out: that the
// budget bounds the bytes stored (asserted: at most its rate and burst, plus 10 %), that compaction
// bounds what etcd keeps, and how far etcd's database, which is what the quota measures, grows past
// the live data. Scaling the budget along with the interval (rather than the interval alone) keeps the
// unbudgeted load far above the budget on this loaded two-core machine, where the API server takes 10
// to 20 full status writes a second (4 to 8 times B'), about half the default B.
//
// Measured (load 25 to 40): under the budget, 2.4 to 2.9 writes (55 to 66 KB) a second; etcd's data in
// use peaks at 2.0 MB over the live data, H' exactly, but its database grows 4.0 to 4.7 MB past it,
// about 2·H': the compaction's own transaction copies the pages it touches before it frees them (the database jumps when
// a compaction runs while the data in use drops), and bbolt never returns the space, it reuses it. So
// the default's real peak is about 2·H = 1.6 GB over the live data, 0.76·Q: it holds, with a margin of
// a quarter of the quota, not the 2.6 times that H alone suggests. The scaled quota has 1 MB over the
// measured live data (quotaAllowance), about a fifth of Q'.
//
// Without the budget (the second run, on the same cluster) the same load writes at what the API server
// takes and the alarm fires within half a minute; from then on a ConfigMap write fails too, not only
// the webhook server's.
func TestBudgetKeepsEtcdUnderItsQuota(t *testing.T) {
	compaction := defaultCompactionInterval / quotaScale
	budget := float64(webhookserver.DefaultStatusWritesPerSecond) / quotaScale
	quota := defaultQuotaBytes/(quotaScale*quotaScale) + quotaAllowance
	t.Logf("scaled by %d: compaction every %s, budget %.2g full writes/s, quota %.1f MB (%.1f MB for history)",
		quotaScale, compaction, budget, mb(int64(quota)), mb(defaultQuotaBytes/(quotaScale*quotaScale)))

	qc := startQuotaCluster(t, compaction, int64(quota))
	t.Run("default budget", func(t *testing.T) {
		r := runQuotaLoad(t, qc, budget, 3*compaction, false)
		// The budget holds: what was stored is at most its rate over the run, plus its burst (one
		// second's worth, at least one full write), plus 10 % for the estimate charged after the write,
		// plus what the commits in flight at the end wrote beyond their estimates: charged after they
		// were stored, a debt the run ends before waiting off (at most a full write each).
		limit := (budget*r.elapsed.Seconds()+max(budget, 1))*fullWriteBytes*1.1 +
			status.DefaultMaxConcurrentCommits*fullWriteBytes
		if r.storedBytes > limit {
			t.Errorf("the webhook server stored %.1f MB in %s, more than the budget's %.1f MB", mb(int64(r.storedBytes)),
				r.elapsed.Round(time.Second), mb(int64(limit)))
		}
		// And it was what held the load back: without that, no alarm would prove nothing.
		if r.storedBytes < limit/4 {
			t.Fatalf("the webhook server stored only %.1f MB in %s, under a quarter of the budget's %.1f MB: the machine "+
				"was too slow for the load to reach the budget", mb(int64(r.storedBytes)), r.elapsed.Round(time.Second), mb(int64(limit)))
		}
		if len(r.alarms) > 0 {
			t.Errorf("etcd raised %v under the budget; peak database %.1f MB of a %.1f MB quota", r.alarms, mb(r.peak), mb(int64(quota)))
		}
		if r.probeErr != nil {
			t.Errorf("a write to the cluster failed under the budget: %v", r.probeErr)
		}
		if r.probes < 10 {
			t.Errorf("only %d probe writes were made; the run does not show that writes keep succeeding", r.probes)
		}
	})
	// Last, on the same cluster and links: the alarm it raises stops every write to etcd.
	t.Run("no budget", func(t *testing.T) {
		// Usually seconds; a starved API server writes less, and then takes longer to fill the quota.
		r := runQuotaLoad(t, qc, -1, 6*compaction, true)
		if len(r.alarms) == 0 {
			t.Fatalf("no alarm without the budget (peak database %.1f MB of a %.1f MB quota): the test cannot tell a "+
				"budget that holds from a load too small", mb(r.peak), mb(int64(quota)))
		}
		if r.probeErr == nil || !strings.Contains(r.probeErr.Error(), "database space exceeded") {
			t.Errorf("after the alarm, a ConfigMap write answered %v, want etcd's database space exceeded", r.probeErr)
		}
	})
}

// quotaCluster is the control plane of TestBudgetKeepsEtcdUnderItsQuota with its links.
type quotaCluster struct {
	cfg        *rest.Config
	c          client.Client
	cache      client.Reader
	etcd       *etcdProbe
	compaction time.Duration
	quota      int64
	ns, page   string
}

// startQuotaCluster starts a control plane with the given compaction interval and quota, a manager
// cache, and quotaLinks links with full ledgers.
func startQuotaCluster(t *testing.T, compaction time.Duration, quota int64) *quotaCluster {
	env, cfg, err := testenv.Start(func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Set("etcd-compaction-interval", compaction.String())
		env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", strconv.FormatInt(quota, 10))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	qc := &quotaCluster{cfg: cfg, etcd: &etcdProbe{url: env.ControlPlane.Etcd.URL.String()}, compaction: compaction, quota: quota}
	if qc.c, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		t.Fatal(err)
	}
	cache, stopMgr, mgrDone, err := startManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopMgr(); <-mgrDone })
	qc.cache = cache
	qc.ns = testenv.NewNamespace(t, qc.c)
	qc.page = testenv.PageID(qc.ns)
	fill, stopFill := startBudgetInstance(t, qc, -1)
	fullLinks(t, qc, fill)
	stopFill()
	return qc
}

// quotaRun is what one run of runQuotaLoad saw.
type quotaRun struct {
	alarms   []string
	peak     int64 // etcd's largest database size, bytes
	probes   int   // ConfigMap writes made
	probeErr error // the first that failed
	// storedBytes are the status bytes the webhook server stored (mmelink_status_write_bytes_total) in
	// elapsed, the load's time.
	storedBytes float64
	elapsed     time.Duration
}

// runQuotaLoad starts a webhook server whose Store has the given budget (negative: none) and sends it
// 1-event deliveries round-robin over the links at 100 a second (a write a second for every link) for d (or until the alarm, when
// stopOnAlarm), while a probe writes a ConfigMap every 200 ms and etcd's size and alarms are read every
// second.
func runQuotaLoad(t *testing.T, qc *quotaCluster, budget float64, d time.Duration, stopOnAlarm bool) quotaRun {
	in, stop := startBudgetInstance(t, qc, budget)
	defer stop()
	before, err := qc.etcd.dbSize()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd holds %.1f MB before the load", mb(before.total))
	if budget > 0 && before.total >= quotaAllowance {
		t.Fatalf("etcd holds %.1f MB before the load, more than the %.1f MB allowed for it: raise quotaAllowance",
			mb(before.total), mb(quotaAllowance))
	}

	// The load ends by itself after d; the probe and the monitor run until it does, or end it at the alarm.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var run quotaRun
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the probe: a write to the cluster that is not the webhook server's
		defer wg.Done()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: qc.ns, Name: fmt.Sprintf("probe-%v", budget)}}
		for i := 0; ctx.Err() == nil; i++ {
			cm.Data = map[string]string{"n": strconv.Itoa(i)}
			var err error
			if i == 0 {
				err = qc.c.Create(context.Background(), cm)
			} else {
				err = qc.c.Update(context.Background(), cm)
			}
			mu.Lock()
			run.probes++
			if err != nil && run.probeErr == nil {
				run.probeErr = err
			}
			mu.Unlock()
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}()
	start := time.Now()
	var samples []string
	go func() { // etcd's size and alarms, every second
		defer wg.Done()
		for ctx.Err() == nil {
			size, err := qc.etcd.dbSize()
			alarms, aerr := qc.etcd.alarms()
			mu.Lock()
			if err == nil && size.total > run.peak {
				run.peak = size.total
			}
			if err == nil {
				samples = append(samples, fmt.Sprintf("%.0fs:%.1f/%.1f", time.Since(start).Seconds(), mb(size.total), mb(size.inUse)))
			}
			if aerr == nil && len(alarms) > 0 && len(run.alarms) == 0 {
				run.alarms = alarms
				t.Logf("etcd raised %v after %s of load at %.1f MB", alarms, time.Since(start).Round(time.Second), mb(size.total))
			}
			alarmed := len(run.alarms) > 0
			mu.Unlock()
			if alarmed && stopOnAlarm {
				sleepCtx(ctx, time.Second) // the probe's next write meets the alarm
				cancel()
				return
			}
			sleepCtx(ctx, time.Second)
		}
	}()
	var next atomic.Int64
	res, err := loadgen.Run(ctx, loadgen.Config{URL: in.url, Rate: 100, Duration: d, Delivery: func(int) loadgen.Delivery {
		k := int(next.Add(1))
		b := body(qc.page, ev(qc.page, fmt.Sprintf("q%d", k), fmt.Sprintf("r%d", k%quotaLinks), 1_000_000+k, "referral"))
		return loadgen.Delivery{Body: b, Header: http.Header{"Content-Type": {"application/json"},
			delivery.SignatureHeader: {delivery.Sign(appSecret, b)}}}
	}})
	if err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	run.elapsed = time.Since(start)
	cancel()
	wg.Wait()
	writes := counterValue(t, in.reg, "mmelink_status_commits_total", "result", "ok")
	run.storedBytes = counterValue(t, in.reg, "mmelink_status_write_bytes_total", "", "")
	t.Logf("budget %v: %s; %.0f status writes (%.1f MB) in %s, %.1f a second; peak database %.1f MB of %.1f MB, %d probe writes",
		budget, res, writes, mb(int64(run.storedBytes)), run.elapsed.Round(time.Second), writes/run.elapsed.Seconds(),
		mb(run.peak), mb(qc.quota), run.probes)
	t.Logf("etcd database size/in use (MB) by second of load: %s", strings.Join(samples, " "))
	return run
}

// startBudgetInstance is a webhook server replica whose Store has the given write budget; stop ends it
// (and its pending writes).
func startBudgetInstance(t *testing.T, qc *quotaCluster, budget float64) (in *instance, stop func()) {
	cached, err := client.New(qc.cfg, client.Options{Scheme: scheme.New(), Cache: &client.CacheOptions{Reader: qc.cache}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	store := status.NewStore(cached, qc.c, status.Options{WritesPerSecond: budget, Registerer: reg})
	srv, err := webhookserver.New(webhookserver.Options{AppSecret: appSecret, VerifyToken: verifyToken, Reader: qc.cache,
		Writer: store, Registerer: prometheus.NewRegistry(), Logger: logr.Discard(), CommitTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelClose()
		_ = store.Close(closeCtx) // writes refused by the alarm may still be pending
	})
	t.Cleanup(stop)
	return &instance{url: "http://" + ln.Addr().String() + webhookserver.PathWebhook, store: store, reg: reg}, stop
}

// fullLinks creates quotaLinks links r0..r(n-1) of page that hold their claims, each with a full ledger:
// link r0 is filled through the webhook server, the others get a copy of its status.
func fullLinks(t *testing.T, qc *quotaCluster, in *instance) {
	c, cache, ns, page := qc.c, qc.cache, qc.ns, qc.page
	newLink := func(i int) *messengerv1.MessengerLink {
		return &messengerv1.MessengerLink{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("l%d", i)},
			Spec: messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: page}, Ref: fmt.Sprintf("r%d", i)}}
	}
	first := newLink(0)
	if err := c.Create(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	first.Status.Claim = first.PageRefKey()
	if err := c.Status().Update(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	waitClaims(t, cache, ns, 1)
	for b := range status.DefaultWindowEvents / 1000 {
		evs := make([]string, 1000)
		for j := range evs {
			n := b*1000 + j
			evs[j] = ev(page, fmt.Sprintf("f%d", n), "r0", n, "referral")
		}
		data := body(page, evs...)
		eventually(t, 30*time.Second, func() error {
			if code := in.send(data); code != http.StatusOK {
				return fmt.Errorf("filling the ledger: answered %d", code)
			}
			return nil
		})
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(first), first); err != nil {
		t.Fatal(err)
	}
	full, err := json.Marshal(first.Status)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a link's status with a full ledger: %d bytes", len(full))
	// Eight at a time: the machine is slow, not the API server's concurrency.
	var next atomic.Int64
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for i := int(next.Add(1)); i < quotaLinks; i = int(next.Add(1)) {
				l := newLink(i)
				err := c.Create(context.Background(), l)
				if err == nil {
					l.Status.Claim, l.Status.Referrals = l.PageRefKey(), first.Status.Referrals.DeepCopy()
					err = c.Status().Update(context.Background(), l)
				}
				if err != nil {
					errs <- fmt.Errorf("creating link %d: %w", i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitClaims(t, cache, ns, quotaLinks)
}

// waitClaims waits until the cache shows n links of ns holding their claims.
func waitClaims(t *testing.T, cache client.Reader, ns string, n int) {
	eventually(t, time.Minute, func() error {
		var list messengerv1.MessengerLinkList
		if err := cache.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		held := 0
		for i := range list.Items {
			if list.Items[i].Status.Claim != "" {
				held++
			}
		}
		if held < n {
			return fmt.Errorf("%d of %d links hold their claim in the cache", held, n)
		}
		return nil
	})
}

// etcdProbe reads etcd's database size from its metrics and its alarms through its HTTP gateway.
type etcdProbe struct{ url string }

var etcdClient = &http.Client{Timeout: 5 * time.Second}

// dbSizes are etcd_mvcc_db_total_size_in_bytes, the size the quota is checked against, and
// etcd_mvcc_db_total_size_in_use_in_bytes, what of it holds data (the rest is free pages etcd reuses).
type dbSizes struct{ total, inUse int64 }

func (e *etcdProbe) dbSize() (dbSizes, error) {
	resp, err := etcdClient.Get(e.url + "/metrics")
	if err != nil {
		return dbSizes{}, err
	}
	defer resp.Body.Close()
	var out dbSizes
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != "etcd_mvcc_db_total_size_in_bytes" && name != "etcd_mvcc_db_total_size_in_use_in_bytes") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return dbSizes{}, fmt.Errorf("etcd metric %s: %w", name, err)
		}
		if name == "etcd_mvcc_db_total_size_in_bytes" {
			out.total = int64(f)
		} else {
			out.inUse = int64(f)
		}
		found++
	}
	if found != 2 {
		return dbSizes{}, fmt.Errorf("etcd's metrics lack the database sizes (%v)", sc.Err())
	}
	return out, nil
}

// alarms is `etcdctl alarm list`: the alarms raised, e.g. NOSPACE.
func (e *etcdProbe) alarms() ([]string, error) {
	u, err := url.JoinPath(e.url, "/v3/maintenance/alarm")
	if err != nil {
		return nil, err
	}
	resp, err := etcdClient.Post(u, "application/json", bytes.NewReader([]byte(`{"action":"GET"}`)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Alarms []struct {
			Alarm string `json:"alarm"`
		} `json:"alarms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding etcd's alarm list: %w", err)
	}
	var names []string
	for _, a := range out.Alarms {
		names = append(names, a.Alarm)
	}
	return names, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
