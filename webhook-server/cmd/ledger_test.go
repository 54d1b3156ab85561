package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// TestBinaryWithPostgresLedger runs the binary with --ledger=postgres against a real API server and a
// real PostgreSQL: a delivery answered 200 is counted once, its redelivery not again, and status shows
// it within the projection interval. It checks the wiring; internal/ledger/pg tests the behaviour.
func TestBinaryWithPostgresLedger(t *testing.T) {
	cp := startControlPlane(t)
	pg := pgtest.Start(t)
	write := func(name string, b []byte) string { return cp.file(t, name, b) }
	t.Setenv("KUBECONFIG", cp.kubeconfig)
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
	c := cp.c
	lnk := cp.claimedLink(t, "summer", "1234567890", "summer")
	// run registers the server's metrics in controller-runtime's global registry, and TestBinary's run
	// has registered them already in this process: this run gets a registry of its own.
	prev := ctrlmetrics.Registry
	ctrlmetrics.Registry = prometheus.NewRegistry()
	t.Cleanup(func() { ctrlmetrics.Registry = prev })
	runInProcess(t, o)
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
			return expect(http.DefaultClient.Do(signedRequest(base+webhookserver.PathWebhook, secret, body)))
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
	metrics := metricsOf(t, o.metricsAddr)
	for _, want := range []string{
		`mmelink_ledger_events_total{outcome="counted"} 3`,
		`mmelink_ledger_events_total{outcome="duplicate"} 3`,
		`mmelink_ledger_link_events_total{name="summer",namespace="default",source="SHORTLINK"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
