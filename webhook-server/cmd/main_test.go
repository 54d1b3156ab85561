package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
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
	cp := startControlPlane(t)
	t.Setenv("KUBECONFIG", cp.kubeconfig)
	secret, token := []byte("binary-app-secret"), "binary-verify-token"
	o := options{metricsAddr: freeAddr(t), probeAddr: freeAddr(t), webhook: webhookserver.Flags{
		Options: webhookserver.Options{Addr: freeAddr(t), MaxBodyBytes: webhookserver.DefaultMaxBodyBytes,
			CommitTimeout: 3 * time.Second, ShutdownTimeout: 5 * time.Second},
		AppSecretFile: cp.file(t, "app-secret", append(secret, '\n')), VerifyTokenFile: cp.file(t, "verify-token", []byte(token)),
	}}
	c := cp.c
	lnk := cp.claimedLink(t, "summer", "1234567890", "summer")

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

	runInProcess(t, o)

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
	if err := expect(http.DefaultClient.Do(signedRequest(base+webhookserver.PathWebhook, secret, body))); err != nil {
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

	metrics := metricsOf(t, o.metricsAddr)
	for _, want := range []string{`mmelink_webhook_deliveries_total{result="ok"} 1`, `mmelink_webhook_handshakes_total{result="ok"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
