package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// TestBinaryWithPostgresLedger runs the binary with --ledger=postgres against a real API server and a
// real PostgreSQL: a delivery answered 200 is counted once, its redelivery not again, and status shows
// it within the projection interval. It checks the wiring; internal/ledger/pg tests the behaviour.
func TestBinaryWithPostgresLedger(t *testing.T) {
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	pg := pgtest.Start(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("KUBECONFIG", write("kubeconfig", env.KubeConfig))
	secret := []byte("binary-app-secret")
	o := options{metricsAddr: freeAddr(t), probeAddr: freeAddr(t), webhook: webhookserver.Flags{
		Options: webhookserver.Options{Addr: freeAddr(t), MaxBodyBytes: webhookserver.DefaultMaxBodyBytes,
			CommitTimeout: 3 * time.Second, ShutdownTimeout: 5 * time.Second},
		AppSecretFile: write("app-secret", secret), VerifyTokenFile: write("verify-token", []byte("tok")),
		Ledger: webhookserver.LedgerFlags{
			Mode: webhookserver.LedgerPostgres, DSNFile: write("dsn", []byte(pg.Database(t)+"\n")),
			KeyFile: write("ledger-key", []byte("0123456789abcdef0123456789abcdef")), Retention: 72 * time.Hour,
			ProjectInterval: 200 * time.Millisecond, MaxConns: 4,
		},
	}}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	lnk := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "summer"},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: "1234567890"}, Ref: "summer"},
	}
	if err := c.Create(context.Background(), lnk); err != nil {
		t.Fatal(err)
	}
	// The claim, as the controller records it: the webhook server counts only for the link that holds it.
	unclaimed := lnk.DeepCopy()
	lnk.Status.Claim = lnk.PageRefKey()
	if err := c.Status().Patch(context.Background(), lnk, client.MergeFrom(unclaimed)); err != nil {
		t.Fatal(err)
	}
	// run registers the server's metrics in controller-runtime's global registry, and TestBinary's run
	// has registered them already in this process: this run gets a registry of its own.
	prev := ctrlmetrics.Registry
	ctrlmetrics.Registry = prometheus.NewRegistry()
	t.Cleanup(func() { ctrlmetrics.Registry = prev })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	base := "http://" + o.webhook.Addr
	testenv.Eventually(t, 30*time.Second, func() error { return expect(http.Get(base + webhookserver.PathReadyz)) })

	now := time.Now().UnixMilli()
	var events []string
	for i := range 3 {
		events = append(events, fmt.Sprintf(`{"sender":{"id":"%d"},"recipient":{"id":"1234567890"},"timestamp":%d,`+
			`"referral":{"ref":"summer--store--%d","source":"SHORTLINK","type":"OPEN_THREAD"}}`, 40+i, now-int64(i), i))
	}
	body := []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":"1234567890","time":%d,"messaging":[%s]}]}`, now, strings.Join(events, ",")))
	for range 2 { // the delivery and Meta's redelivery of it
		// The cache may still be filling right after readiness: a 503 is retried, as Meta would.
		testenv.Eventually(t, 30*time.Second, func() error {
			req, _ := http.NewRequest(http.MethodPost, base+webhookserver.PathWebhook, bytes.NewReader(body))
			req.Header.Set(delivery.SignatureHeader, delivery.Sign(secret, body))
			return expect(http.DefaultClient.Do(req))
		})
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		var got messengerv1.MessengerLink
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(lnk), &got); err != nil {
			return err
		}
		if r := got.Status.Referrals; r == nil || r.Total != 3 || len(r.Daily) != 1 {
			return fmt.Errorf("status.referrals = %+v, want total 3 and one day", r)
		}
		return nil
	})
	resp, err := http.Get("http://" + o.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`mmelink_ledger_events_total{outcome="counted"} 3`,
		`mmelink_ledger_events_total{outcome="duplicate"} 3`,
		`mmelink_ledger_link_events_total{name="summer",namespace="default",source="SHORTLINK"} 3`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
