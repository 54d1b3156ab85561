package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/scheme"
)

// delivery is one simulated webhook delivery from Meta. Its envelope is built once, so that sending it
// again is Meta retrying the same delivery; kind, psid, ref and status say what it should count (check.go).
type delivery struct {
	what              string
	kind              string // kindNew, kindReturning, kindAd, kindPlugin or kindOptin
	psid, ref, status string
	envelope          any
}

const (
	kindNew, kindReturning, kindAd, kindPlugin, kindOptin = "new", "returning", "ad", "plugin", "optin"
)

func (d *demo) send(ctx context.Context, t delivery) error {
	resp, err := graphtest.Deliver(ctx, d.webhookURL, d.appSecret, t.envelope)
	if err != nil {
		return fmt.Errorf("%s: %w", t.what, err)
	}
	body, _ := io.ReadAll(resp.Body) // already in memory (graphtest.Deliver)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: webhook answered %s: %s", t.what, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Printf("  %s  %s\n", resp.Status, t.what)
	return nil
}

// simulateTraffic checks the handshake and sends Meta-like signed deliveries to the webhook server:
// conversations started through the links, an ad, the website's chat plugin, and topic opt-ins. In
// --check mode it restarts the webhook server halfway and resends a delivery from before the restart.
func (d *demo) simulateTraffic(ctx context.Context) ([]delivery, error) {
	step("Meta's subscription handshake: GET " + d.webhookURL + "?hub.mode=subscribe&hub.verify_token=…")
	if err := d.handshake(ctx); err != nil {
		return nil, err
	}
	traffic, err := d.traffic(ctx)
	if err != nil {
		return nil, err
	}
	step(fmt.Sprintf("Simulating Meta: %d signed deliveries to the webhook server", len(traffic)))
	for i, t := range traffic {
		if d.check && i == len(traffic)/2 {
			if err := d.restartWebhookServer(ctx); err != nil {
				return nil, err
			}
			step("Meta retries a delivery sent before the restart; it must not be counted twice")
			if err := d.send(ctx, traffic[0]); err != nil {
				return nil, err
			}
			step("The rest of the deliveries, to the restarted webhook server")
		}
		if err := d.send(ctx, t); err != nil {
			return nil, err
		}
	}
	return traffic, nil
}

// traffic is the list of deliveries the demo sends, each with its envelope built once.
func (d *demo) traffic(ctx context.Context) ([]delivery, error) {
	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	var topic messengerv1.NotificationTopic
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "weekly-deals"}, &topic); err != nil {
		return nil, err
	}
	page, title := topic.Spec.Page.ID, topic.Spec.Topic

	newConv := func(psid, ref string) delivery {
		return delivery{fmt.Sprintf("new conversation (Get Started) from %s, ref %s", psid, ref), kindNew, psid, ref, "",
			graphtest.ReferralEvent{PageID: page, PSID: psid, Ref: ref}.PostbackEnvelope()}
	}
	returning := func(psid, ref string) delivery {
		return delivery{fmt.Sprintf("returning conversation from %s, ref %s", psid, ref), kindReturning, psid, ref, "",
			graphtest.ReferralEvent{PageID: page, PSID: psid, Ref: ref}.Envelope()}
	}
	optin := func(psid, status string) delivery {
		what := fmt.Sprintf("topic opt-in to %q from %s", title, psid)
		if status == graphtest.StatusStop {
			what = fmt.Sprintf("%s stops the %q notifications", psid, title)
		}
		return delivery{what, kindOptin, psid, "", status, graphtest.OptinEvent{PageID: page, PSID: psid,
			Title: title, Payload: "weekly-deals", Status: status}.Envelope()}
	}
	return []delivery{
		newConv("7001000000000001", "summer_poster--738--store12"),
		newConv("7001000000000002", "summer_poster--738--store12"),
		newConv("7001000000000003", "summer_poster--738--store7"),
		returning("7001000000000004", "summer_poster--738--store12"),
		returning("7001000000000001", "summer_poster--738--store7"),
		{"click-to-Messenger ad (message.referral, source ADS), ref summer_poster", kindAd,
			"7001000000000005", "summer_poster", "", graphtest.ReferralEvent{PageID: page,
				PSID: "7001000000000005", Ref: "summer_poster"}.AdEnvelope("")},
		{"Send-to-Messenger plugin opt-in on the website, data-ref website_footer", kindPlugin,
			"7001000000000006", "website_footer", "", graphtest.PluginOptinEvent{PageID: page,
				PSID: "7001000000000006", Ref: "website_footer"}.Envelope()},
		optin("7001000000000007", ""),
		optin("7001000000000008", ""),
		optin("7001000000000009", ""),
		optin("7001000000000008", graphtest.StatusStop),
	}, nil
}

// handshake shows that the webhook server answers Meta's GET with the challenge for the right verify
// token, and 403 for a wrong one.
func (d *demo) handshake(ctx context.Context) error {
	for _, tc := range []struct {
		token string
		want  int
	}{{d.verifyToken, http.StatusOK}, {"wrong-token", http.StatusForbidden}} {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {tc.token}, "hub.challenge": {"1158201444"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.webhookURL+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		_ = resp.Body.Close()
		label := "right verify token"
		if tc.token != d.verifyToken {
			label = "wrong verify token"
		}
		fmt.Printf("  %-18s -> %s %q\n", label, resp.Status, strings.TrimSpace(string(body)))
		if resp.StatusCode != tc.want {
			return fmt.Errorf("handshake with the %s: got %s, want %d", label, resp.Status, tc.want)
		}
	}
	return nil
}
