package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/scheme"
)

// delivery is one simulated webhook delivery from Meta.
type delivery struct {
	what string
	send func(ctx context.Context) (*http.Response, error)
}

// simulateTraffic checks the handshake and sends Meta-like signed deliveries to the webhook server:
// conversations started through the links, an ad, the website's chat plugin, and topic opt-ins.
func (d *demo) simulateTraffic(ctx context.Context) error {
	step("Meta's subscription handshake: GET " + d.webhookURL + "?hub.mode=subscribe&hub.verify_token=…")
	if err := d.handshake(ctx); err != nil {
		return err
	}

	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	var topic messengerv1.NotificationTopic
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "weekly-deals"}, &topic); err != nil {
		return err
	}
	page, title := topic.Spec.Page.ID, topic.Spec.Topic
	hook, secret := d.webhookURL, d.appSecret

	newConv := func(psid, ref string) delivery {
		return delivery{fmt.Sprintf("new conversation (Get Started) from %s, ref %s", psid, ref),
			func(ctx context.Context) (*http.Response, error) {
				return graphtest.PostbackReferral(ctx, hook, secret, graphtest.ReferralEvent{PageID: page, PSID: psid, Ref: ref})
			}}
	}
	returning := func(psid, ref string) delivery {
		return delivery{fmt.Sprintf("returning conversation from %s, ref %s", psid, ref),
			func(ctx context.Context) (*http.Response, error) {
				return graphtest.Referral(ctx, hook, secret, graphtest.ReferralEvent{PageID: page, PSID: psid, Ref: ref})
			}}
	}
	optin := func(psid, status string) delivery {
		what := fmt.Sprintf("topic opt-in to %q from %s", title, psid)
		if status == graphtest.StatusStop {
			what = fmt.Sprintf("%s stops the %q notifications", psid, title)
		}
		return delivery{what, func(ctx context.Context) (*http.Response, error) {
			return graphtest.Optin(ctx, hook, secret, graphtest.OptinEvent{PageID: page, PSID: psid, Title: title,
				Payload: "weekly-deals", Status: status})
		}}
	}
	traffic := []delivery{
		newConv("7001000000000001", "summer_poster--738--store12"),
		newConv("7001000000000002", "summer_poster--738--store12"),
		newConv("7001000000000003", "summer_poster--738--store7"),
		returning("7001000000000004", "summer_poster--738--store12"),
		returning("7001000000000001", "summer_poster--738--store7"),
		{"click-to-Messenger ad (message.referral, source ADS), ref summer_poster",
			func(ctx context.Context) (*http.Response, error) {
				return graphtest.Deliver(ctx, hook, secret, adReferral(page, "7001000000000005", "summer_poster"))
			}},
		{"Send-to-Messenger plugin opt-in on the website, data-ref website_footer",
			func(ctx context.Context) (*http.Response, error) {
				return graphtest.PluginOptin(ctx, hook, secret, graphtest.PluginOptinEvent{PageID: page,
					PSID: "7001000000000006", Ref: "website_footer"})
			}},
		optin("7001000000000007", ""),
		optin("7001000000000008", ""),
		optin("7001000000000009", ""),
		optin("7001000000000008", graphtest.StatusStop),
	}

	step(fmt.Sprintf("Simulating Meta: %d signed deliveries to the webhook server", len(traffic)))
	for _, t := range traffic {
		resp, err := t.send(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", t.what, err)
		}
		body, _ := io.ReadAll(resp.Body) // already in memory (graphtest.Deliver)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: webhook answered %s: %s", t.what, resp.Status, strings.TrimSpace(string(body)))
		}
		fmt.Printf("  %s  %s\n", resp.Status, t.what)
	}
	return nil
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

// adReferral is the first message of a person who tapped a click-to-Messenger ad: message.referral with
// source ADS. The graphtest senders have no helper for it, so it is built here and signed by Deliver.
func adReferral(page, psid, ref string) map[string]any {
	now := time.Now().UnixMilli()
	return map[string]any{
		"object": "page",
		"entry": []any{map[string]any{
			"id": page, "time": now,
			"messaging": []any{map[string]any{
				"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": page}, "timestamp": now,
				"message": map[string]any{
					"mid":  fmt.Sprintf("m_demo_ad_%d", now),
					"text": "Hi! Do you have these in size 42?",
					"referral": map[string]string{
						"ref": ref, "source": "ADS", "type": "OPEN_THREAD", "ad_id": "23851234567890123",
					},
				},
			}},
		}},
	}
}
