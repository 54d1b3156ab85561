package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/graph/graphtest"
)

var operatorFields = []string{"messaging_postbacks", "messaging_referrals", "messaging_optins"}

func TestSubscribedAppsRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	f.emu.Subscribe(page, "555", []string{"messages"}) // another app on the Page

	apps, err := f.client.SubscribedApps(ctx, page, token)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].ID != "555" || !slices.Equal(apps[0].SubscribedFields, []string{"messages"}) || apps[0].Name == "" {
		t.Fatalf("apps = %+v, want only app 555 with messages", apps)
	}
	if err := f.client.SubscribeApp(ctx, page, token, operatorFields); err != nil {
		t.Fatal(err)
	}
	got := f.emu.Subscriptions(page)
	if !slices.Equal(got[graphtest.DefaultAppID], operatorFields) || !slices.Equal(got["555"], []string{"messages"}) {
		t.Fatalf("subscriptions = %v: the token's app gets the fields, the other app keeps its own", got)
	}
	if err := f.client.UnsubscribeApp(ctx, page, token); err != nil {
		t.Fatal(err)
	}
	if _, still := f.emu.Subscriptions(page)[graphtest.DefaultAppID]; still {
		t.Fatal("DELETE subscribed_apps left the app subscribed")
	}
	for _, r := range f.emu.Requests() {
		if r.TokenSource != "header" || strings.Contains(r.URL, token) {
			t.Errorf("%s %s: token from %q", r.Method, r.URL, r.TokenSource)
		}
	}
}

func TestMessengerProfileReadMergeWrite(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	p, err := f.client.MessengerProfile(ctx, page, token)
	if err != nil || p.GetStarted != nil || p.WhitelistedDomains != nil {
		t.Fatalf("empty profile = %+v, %v", p, err)
	}
	bot := "BOT_START"
	f.emu.SetProfile(page, &bot, []string{"https://bot.example.com"})
	p, err = f.client.MessengerProfile(ctx, page, token)
	if err != nil || p.GetStarted == nil || p.GetStarted.Payload != bot || !slices.Equal(p.WhitelistedDomains, []string{"https://bot.example.com"}) {
		t.Fatalf("profile = %+v, %v", p, err)
	}
	merged := append(slices.Clone(p.WhitelistedDomains), "https://shop.example.com")
	if err := f.client.SetMessengerProfile(ctx, page, token, Profile{WhitelistedDomains: merged}); err != nil {
		t.Fatal(err)
	}
	gs, ok, domains := f.emu.Profile(page)
	if !ok || gs != bot || !slices.Equal(domains, merged) {
		t.Fatalf("after writing domains only: get_started %q %v, domains %v", gs, ok, domains)
	}
	if err := f.client.DeleteMessengerProfile(ctx, page, token, []string{ProfileGetStarted}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.emu.Profile(page); ok {
		t.Fatal("get_started still set after DELETE")
	}
}

func TestPageCallErrors(t *testing.T) {
	const metadataOnly, messagingOnly = "EAAGmetadataOnlyToken1", "EAAGmessagingOnlyToken2"
	tests := []struct {
		name       string
		token      string
		call       func(*Client, string) error
		reason     string
		permission string
	}{
		{"unknown token", "EAAGnotATokenOfThePage", func(c *Client, tok string) error {
			_, err := c.SubscribedApps(context.Background(), page, tok)
			return err
		}, ReasonInvalidToken, ""},
		{"subscribing needs pages_manage_metadata", messagingOnly, func(c *Client, tok string) error {
			return c.SubscribeApp(context.Background(), page, tok, operatorFields)
		}, ReasonPermissionDenied, PermissionManageMetadata},
		{"the profile needs pages_messaging", metadataOnly, func(c *Client, tok string) error {
			_, err := c.MessengerProfile(context.Background(), page, tok)
			return err
		}, ReasonPermissionDenied, PermissionMessaging},
		{"an unknown field", token, func(c *Client, tok string) error {
			return c.SubscribeApp(context.Background(), page, tok, []string{"messaging_nonsense"})
		}, ReasonInvalidRequest, ""},
		{"http domain", token, func(c *Client, tok string) error {
			return c.SetMessengerProfile(context.Background(), page, tok, Profile{WhitelistedDomains: []string{"http://shop.example.com"}})
		}, ReasonInvalidRequest, ""},
		{"IP address", token, func(c *Client, tok string) error {
			return c.SetMessengerProfile(context.Background(), page, tok, Profile{WhitelistedDomains: []string{"https://10.0.0.1"}})
		}, ReasonInvalidRequest, ""},
		{"localhost", token, func(c *Client, tok string) error {
			return c.SetMessengerProfile(context.Background(), page, tok, Profile{WhitelistedDomains: []string{"https://localhost:8443"}})
		}, ReasonInvalidRequest, ""},
		{"51 domains", token, func(c *Client, tok string) error {
			var d []string
			for i := range 51 {
				d = append(d, fmt.Sprintf("https://s%d.example.com", i))
			}
			return c.SetMessengerProfile(context.Background(), page, tok, Profile{WhitelistedDomains: d})
		}, ReasonInvalidRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.emu.AddPageToken(page, metadataOnly, graphtest.TokenOptions{Permissions: []string{graphtest.PermManageMetadata}})
			f.emu.AddPageToken(page, messagingOnly, graphtest.TokenOptions{Permissions: []string{graphtest.PermMessaging}})
			err := tt.call(f.client, tt.token)
			if err == nil {
				t.Fatal("no error")
			}
			if Reason(err) != tt.reason || MissingPermission(err) != tt.permission {
				t.Errorf("reason %s, permission %q; want %s, %q (%v)", Reason(err), MissingPermission(err), tt.reason, tt.permission, err)
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Errorf("error carries the token: %v", err)
			}
		})
	}
}

// Meta allows 10 messenger_profile calls per 10 minutes per Page; the 11th is refused as throttling, and
// the window moves with time.
func TestProfileLimit(t *testing.T) {
	f := newFixture(t, nil, WithThrottlePause(time.Second))
	ctx := context.Background()
	for i := range graphtest.ProfileCallLimit {
		if _, err := f.client.MessengerProfile(ctx, page, token); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	_, err := f.client.MessengerProfile(ctx, page, token)
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != 613 || Reason(err) != ReasonRateLimited {
		t.Fatalf("11th call: %v, want code 613 RateLimited", err)
	}
	if n := f.emu.ProfileCalls(page); n != graphtest.ProfileCallLimit+1 {
		t.Errorf("emulator recorded %d profile calls, want %d", n, graphtest.ProfileCallLimit+1)
	}
	f.clock.Advance(graphtest.ProfileCallWindow)
	if _, err := f.client.MessengerProfile(ctx, page, token); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// subscribed_apps is not part of the profile's limit.
	if _, err := f.client.SubscribedApps(ctx, page, token); err != nil {
		t.Fatal(err)
	}
}
