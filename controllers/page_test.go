package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

// A Page with nothing set up: the controller subscribes the app for the operator's fields, sets the Get
// Started button and the domain, says so in events, and the MessengerPage turns Ready.
func TestMessengerPageSetsUpAPage(t *testing.T) {
	ns := newNamespace(t)
	emu.AddPage(pageID(ns), tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	key := createPage(t, newMessengerPage(ns, "acme"))
	p := waitPage(t, key, all(pageReady,
		hasCondition(messengerv1.ConditionSubscribed, metav1.ConditionTrue, messengerv1.ReasonSucceeded),
		hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionTrue, messengerv1.ReasonSucceeded),
		hasCondition(messengerv1.ConditionReceiving, metav1.ConditionTrue, messengerv1.ReasonDeliveriesAnswered)))

	if got := emu.Subscriptions(pageID(ns))[suiteAppID]; !slices.Equal(got, operatorFields) {
		t.Errorf("app subscribed for %v, want %v", got, operatorFields)
	}
	gs, ok, domains := emu.Profile(pageID(ns))
	if !ok || gs != "MMELINK_START" || !slices.Equal(domains, []string{"https://shop.acme.example"}) {
		t.Errorf("profile: get_started %q %v, domains %v", gs, ok, domains)
	}
	if p.Status.GetStartedPayload != "MMELINK_START" || !slices.Equal(p.Status.AddedDomains, []string{"https://shop.acme.example"}) ||
		p.Status.AppID != suiteAppID || p.Status.PageID != pageID(ns) {
		t.Errorf("status = %+v", p.Status)
	}
	for _, want := range []string{"Normal Subscribed", "Normal GetStartedSet", "Normal DomainsAdded"} {
		waitEvent(t, ns, want)
	}
	// One read and one write of the profile; nothing more while nothing changes.
	if n := profileCalls(ns); n != 2 {
		t.Errorf("%d profile calls, want 2", n)
	}
	consistently(t, time.Second, func() error {
		if n := profileCalls(ns); n != 2 {
			return fmt.Errorf("%d profile calls", n)
		}
		return nil
	})
	checkNoPageToken(t, ns)
}

// A bot shares the Page: its Get Started payload, its domains and the fields it subscribed the app to stay.
// The operator removes only a domain it added itself, and replaces the bot's payload only under Enforce.
func TestMessengerPageKeepsWhatOthersSet(t *testing.T) {
	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	emu.AddPage(pageID(ns), tokenFor(ns))
	bot := "BOT_WELCOME"
	emu.SetProfile(pageID(ns), &bot, []string{"https://bot.example.com"})
	emu.Subscribe(pageID(ns), suiteAppID, []string{"messages", "messaging_postbacks"})
	emu.Subscribe(pageID(ns), "777", []string{"messages"})

	key := createPage(t, newMessengerPage(ns, "acme", func(p *messengerv1.MessengerPage) {
		p.Spec.Domains = append(p.Spec.Domains, "https://bot.example.com") // also the bot's: not added by the operator
	}))
	waitPage(t, key, all(pageReady,
		hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionTrue, messengerv1.ReasonForeignGetStarted)))
	subs := emu.Subscriptions(pageID(ns))
	if !slices.Equal(subs[suiteAppID], []string{"messages", "messaging_postbacks", "messaging_referrals", "messaging_optins"}) ||
		!slices.Equal(subs["777"], []string{"messages"}) {
		t.Errorf("subscriptions = %v: the app's and the other app's fields must stay", subs)
	}
	waitEvent(t, ns, "Normal FieldsAdded")
	gs, _, domains := emu.Profile(pageID(ns))
	if gs != bot || !slices.Equal(domains, []string{"https://bot.example.com", "https://shop.acme.example"}) {
		t.Fatalf("profile: get_started %q, domains %v", gs, domains)
	}

	// Both domains leave the spec: the operator removes the one it added, never the bot's.
	updatePage(t, key, func(p *messengerv1.MessengerPage) { p.Spec.Domains = nil })
	p := waitPage(t, key, pageReady)
	if _, _, domains := emu.Profile(pageID(ns)); !slices.Equal(domains, []string{"https://bot.example.com"}) {
		t.Errorf("domains = %v, want only the bot's", domains)
	}
	if len(p.Status.AddedDomains) != 0 {
		t.Errorf("addedDomains = %v after removal", p.Status.AddedDomains)
	}
	waitEvent(t, ns, "Normal DomainsRemoved")
	if gs, _, _ := emu.Profile(pageID(ns)); gs != bot {
		t.Fatalf("the bot's payload was replaced under IfAbsent: %q", gs)
	}

	// Enforce: the bot's payload goes, and an event says whose it was.
	updatePage(t, key, func(p *messengerv1.MessengerPage) { p.Spec.GetStarted.Policy = messengerv1.GetStartedEnforce })
	waitPage(t, key, all(pageReady, hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionTrue, messengerv1.ReasonSucceeded)))
	if gs, _, _ := emu.Profile(pageID(ns)); gs != "MMELINK_START" {
		t.Errorf("get_started = %q under Enforce", gs)
	}
	if e := waitEvent(t, ns, "Normal GetStartedReplaced"); !strings.Contains(e, bot) {
		t.Errorf("event does not name the replaced payload: %s", e)
	}
	checkNoPageToken(t, ns)
}

// Each reason is reached from a real state of Meta's side (or of the cluster) and left once it is fixed.
func TestMessengerPageConditions(t *testing.T) {
	ready := all(pageReady, notStalled)
	tests := []struct {
		name string
		// before sets up the broken state; the page is created after it.
		before func(t *testing.T, ns string)
		mutate func(*messengerv1.MessengerPage)
		want   func(*messengerv1.MessengerPage) error
		// fix repairs it.
		fix func(t *testing.T, ns string)
	}{
		{ // recovers by itself once the Secret exists: not Stalled
			name:   "SecretNotFound",
			before: func(*testing.T, string) {},
			want: all(hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonSecretNotFound),
				hasCondition(messengerv1.ConditionReconciling, metav1.ConditionTrue, messengerv1.ReasonSecretNotFound), notStalled),
			fix: func(t *testing.T, ns string) { createTokenSecret(t, ns, tokenFor(ns)) },
		},
		{
			name:   "InvalidToken",
			before: func(t *testing.T, ns string) { createTokenSecret(t, ns, "EAAGexpiredTokenOf"+ns) },
			want: all(hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, graph.ReasonInvalidToken),
				hasCondition(messengerv1.ConditionStalled, metav1.ConditionTrue, graph.ReasonInvalidToken)),
			fix: func(t *testing.T, ns string) { touchSecret(t, ns, tokenFor(ns)) },
		},
		{ // the token lacks pages_manage_metadata, so the operator cannot subscribe the app
			name: "NotSubscribed",
			before: func(t *testing.T, ns string) {
				createTokenSecret(t, ns, tokenFor(ns))
				emu.SetPermissions(tokenFor(ns), graphtest.PermShowList, graphtest.PermMessaging)
			},
			want: all(hasCondition(messengerv1.ConditionSubscribed, metav1.ConditionFalse, messengerv1.ReasonNotSubscribed),
				hasCondition(messengerv1.ConditionStalled, metav1.ConditionTrue, graph.ReasonPermissionDenied),
				messageNames(messengerv1.ConditionReady, graph.PermissionManageMetadata)),
			fix: func(t *testing.T, ns string) {
				emu.SetPermissions(tokenFor(ns), graphtest.AllPermissions...)
				touchSecret(t, ns, tokenFor(ns))
			},
		},
		{
			name: "MissingFields",
			before: func(t *testing.T, ns string) {
				createTokenSecret(t, ns, tokenFor(ns))
				emu.Subscribe(pageID(ns), suiteAppID, []string{"messaging_postbacks"})
				emu.SetPermissions(tokenFor(ns), graphtest.PermShowList, graphtest.PermMessaging)
			},
			want: all(hasCondition(messengerv1.ConditionSubscribed, metav1.ConditionFalse, messengerv1.ReasonMissingFields),
				messageNames(messengerv1.ConditionSubscribed, "messaging_referrals, messaging_optins")),
			fix: func(t *testing.T, ns string) {
				emu.SetPermissions(tokenFor(ns), graphtest.AllPermissions...)
				touchSecret(t, ns, tokenFor(ns))
			},
		},
		{ // the profile needs pages_messaging, and the condition names it
			name: "PermissionDenied",
			before: func(t *testing.T, ns string) {
				createTokenSecret(t, ns, tokenFor(ns))
				emu.SetPermissions(tokenFor(ns), graphtest.PermManageMetadata)
			},
			want: all(hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionFalse, graph.ReasonPermissionDenied),
				hasCondition(messengerv1.ConditionSubscribed, metav1.ConditionTrue, messengerv1.ReasonSucceeded),
				messageNames(messengerv1.ConditionReady, graph.PermissionMessaging)),
			fix: func(t *testing.T, ns string) {
				emu.SetPermissions(tokenFor(ns), graphtest.AllPermissions...)
				touchSecret(t, ns, tokenFor(ns))
			},
		},
		{ // the operator only reports without spec.getStarted; the bot adds a button
			name:   "NoGetStartedButton",
			before: func(t *testing.T, ns string) { createTokenSecret(t, ns, tokenFor(ns)) },
			mutate: func(p *messengerv1.MessengerPage) { p.Spec.GetStarted = nil },
			want: all(hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionFalse, messengerv1.ReasonNoGetStartedButton),
				hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonNoGetStartedButton)),
			fix: func(t *testing.T, ns string) {
				bot := "BOT_START"
				emu.SetProfile(pageID(ns), &bot, nil)
				touchSecret(t, ns, tokenFor(ns))
			},
		},
		{ // the allowlist is full: a 51st domain is refused
			name: "DomainRejected",
			before: func(t *testing.T, ns string) {
				createTokenSecret(t, ns, tokenFor(ns))
				var full []string
				for i := range graphtest.MaxDomains {
					full = append(full, fmt.Sprintf("https://s%d.bot.example.com", i))
				}
				emu.SetProfile(pageID(ns), nil, full)
			},
			want: all(hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionFalse, messengerv1.ReasonDomainRejected),
				hasCondition(messengerv1.ConditionStalled, metav1.ConditionTrue, messengerv1.ReasonDomainRejected)),
			fix: func(t *testing.T, ns string) {
				emu.SetProfile(pageID(ns), nil, []string{"https://s0.bot.example.com"}) // the bot cleans up
				touchSecret(t, ns, tokenFor(ns))
			},
		},
		{ // the bot spent Meta's 10 profile calls of the window
			name: "RateLimited",
			before: func(t *testing.T, ns string) {
				createTokenSecret(t, ns, tokenFor(ns))
				emu.AddPage(pageID(ns), tokenFor(ns))
				spendProfileLimit(t, ns)
			},
			want: all(hasCondition(messengerv1.ConditionProfileReady, metav1.ConditionUnknown, messengerv1.ReasonRateLimited),
				hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonRateLimited), notStalled,
				func(p *messengerv1.MessengerPage) error {
					if p.Status.Profile == nil || p.Status.Profile.NextCallTime == nil || p.Status.Profile.Failures < 1 {
						return fmt.Errorf("no backoff in status: %+v", p.Status.Profile)
					}
					return nil
				}),
			fix: func(t *testing.T, ns string) { emu.ResetProfileCalls(pageID(ns)) }, // Meta's window passed
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			emu.AddPage(pageID(ns), tokenFor(ns))
			tt.before(t, ns)
			var mutate []func(*messengerv1.MessengerPage)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			key := createPage(t, newMessengerPage(ns, "acme", mutate...))
			waitPage(t, key, tt.want)
			tt.fix(t, ns)
			waitPage(t, key, ready)
			checkNoPageToken(t, ns)
		})
	}
}

// messageNames accepts a page whose condition typ's message contains s.
func messageNames(typ, s string) func(*messengerv1.MessengerPage) error {
	return func(p *messengerv1.MessengerPage) error {
		if c := pageCondition(p, typ); !strings.Contains(c.Message, s) {
			return fmt.Errorf("%s message %q does not name %q", typ, c.Message, s)
		}
		return nil
	}
}

// spendProfileLimit makes Meta's 10 profile calls for the Page as the bot would, with the Page's token.
func spendProfileLimit(t *testing.T, ns string) {
	t.Helper()
	bot, err := graph.New(graph.WithBaseURL(emu.URL), graph.WithHTTPClient(emu.Client()))
	if err != nil {
		t.Fatal(err)
	}
	for range graphtest.ProfileCallLimit {
		if _, err := bot.MessengerProfile(context.Background(), pageID(ns), tokenFor(ns)); err != nil {
			t.Fatal(err)
		}
	}
}

// Two MessengerPages for one Page: the older keeps it, the newer is Stalled with PageConflict until the
// older goes.
func TestMessengerPageConflict(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	emu.AddPage(pageID(ns), tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	createTokenSecret(t, other, tokenFor(ns))
	first := createPage(t, newMessengerPage(ns, "first"))
	waitPage(t, first, pageReady)
	second := newMessengerPage(ns, "second")
	second.Namespace = other
	secondKey := createPage(t, second)
	p := waitPage(t, secondKey, all(hasCondition(messengerv1.ConditionStalled, metav1.ConditionTrue, messengerv1.ReasonPageConflict),
		hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonPageConflict)))
	if !strings.Contains(pageCondition(p, messengerv1.ConditionReady).Message, ns+"/first") || p.Status.PageID != "" {
		t.Errorf("conflict: %+v", p.Status)
	}
	waitPage(t, first, all(pageReady, func(p *messengerv1.MessengerPage) error {
		if p.Status.PageID != pageID(ns) {
			return fmt.Errorf("pageID = %q", p.Status.PageID)
		}
		return nil
	}))
	if err := k8sClient.Delete(context.Background(), &messengerv1.MessengerPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "first"}}); err != nil {
		t.Fatal(err)
	}
	waitPage(t, secondKey, all(pageReady, notStalled))
}

// A Graph error that echoes the token (a proxy, a verbose error page) reaches status, events and the
// manager's log only with the token scrubbed.
func TestMessengerPageTokenNeverLeaks(t *testing.T) {
	ns := newNamespace(t)
	page := pageID(ns)
	emu.AddPage(page, tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	emu.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{Code: 2, Times: 2,
		Message: "An unexpected error has occurred with access_token=" + tokenFor(ns)})
	key := createPage(t, newMessengerPage(ns, "acme"))
	waitPage(t, key, pageReady)
	logs := suiteLog.String()
	if !strings.Contains(logs, ns) || !strings.Contains(logs, "[REDACTED]") {
		t.Fatalf("the failed reconciles were not logged, so this test checks nothing")
	}
	if strings.Contains(logs, tokenFor(ns)) {
		t.Error("the Page token is in the manager's log")
	}
	checkNoPageToken(t, ns)
}
