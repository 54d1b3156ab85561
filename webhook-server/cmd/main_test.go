package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// TestBinary runs the binary's run() against a real API server, as a Deployment would: secrets from files,
// kubeconfig from the environment, every endpoint on its own port. It checks the wiring (cache, indexes,
// status writer, probes, metrics), not the behaviour each package tests on its own.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("KUBECONFIG", write("kubeconfig", env.KubeConfig))
	secret, token := []byte("binary-app-secret"), "binary-verify-token"
	o := options{metricsAddr: freeAddr(t), probeAddr: freeAddr(t), webhook: webhookserver.Flags{
		Addr: freeAddr(t), AppSecretFile: write("app-secret", append(secret, '\n')), VerifyTokenFile: write("verify-token", []byte(token)),
		MaxBodyBytes: webhookserver.DefaultMaxBodyBytes, CommitTimeout: 3 * time.Second, ShutdownTimeout: 5 * time.Second,
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

	mpage := &messengerv1.MessengerPage{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "the-page"},
		Spec: messengerv1.MessengerPageSpec{
			Page:                 messengerv1.PageRef{ID: "1234567890"},
			AccessTokenSecretRef: messengerv1.SecretKeySelector{Name: "page-token", Key: "token"},
		},
	}
	if err := c.Create(context.Background(), mpage); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- run(ctx, o) }()
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	base := "http://" + o.webhook.Addr
	testenv.Eventually(t, 30*time.Second, func() error { return expect(http.Get(base + webhookserver.PathReadyz)) })
	if err := expect(http.Get("http://" + o.probeAddr + "/readyz")); err != nil {
		t.Errorf("manager readyz: %v", err)
	}
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"31337"}}
	if err := expect(http.Get(base + webhookserver.PathWebhook + "?" + q.Encode())); err != nil {
		t.Errorf("handshake: %v", err)
	}

	body := []byte(`{"object":"page","entry":[{"id":"1234567890","time":1458692752478,"messaging":[{"sender":{"id":"42"},` +
		`"recipient":{"id":"1234567890"},"timestamp":1458692752478,"referral":{"ref":"summer--738--store12","source":"SHORTLINK","type":"OPEN_THREAD"}}]}]}`)
	req, _ := http.NewRequest(http.MethodPost, base+webhookserver.PathWebhook, bytes.NewReader(body))
	req.Header.Set(delivery.SignatureHeader, delivery.Sign(secret, body))
	if err := expect(http.DefaultClient.Do(req)); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	var got messengerv1.MessengerLink
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(lnk), &got); err != nil {
		t.Fatal(err)
	}
	if r := got.Status.Referrals; r == nil || r.Total != 1 {
		t.Errorf("status.referrals after one acknowledged referral: %+v, want total 1", r)
	}
	// The kill-switch watchdog: the Page's MessengerPage learns when a delivery was last answered 200.
	testenv.Eventually(t, 10*time.Second, func() error {
		var p messengerv1.MessengerPage
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(mpage), &p); err != nil {
			return err
		}
		if p.Status.Webhook == nil || p.Status.Webhook.LastDeliveryTime == nil {
			return fmt.Errorf("status.webhook %+v: no last delivery recorded", p.Status.Webhook)
		}
		return nil
	})

	resp, err := http.Get("http://" + o.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`mmelink_webhook_deliveries_total{result="ok"} 1`, `mmelink_webhook_handshakes_total{result="ok"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
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
