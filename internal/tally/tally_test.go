package tally

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/link"
)

func TestAddReferral(t *testing.T) {
	ref, err := link.EncodeRef("spring", []link.Field{{ID: "utm", Value: "mail"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		r        Referral
		referral bool
		want     messengerv1.ReferralStats
	}{
		{"a postback referral is a new conversation", Referral{Kind: delivery.KindPostbackReferral, Source: "SHORTLINK"}, true,
			messengerv1.ReferralStats{Total: 3, NewConversations: 3, BySource: map[string]int64{"SHORTLINK": 3}}},
		{"a referral is a returning conversation", Referral{Kind: delivery.KindReferral}, true,
			messengerv1.ReferralStats{Total: 3, ReturningConversations: 3}},
		{"a message referral is an ad, neither new nor returning", Referral{Kind: delivery.KindMessageReferral, Source: "ADS"}, true,
			messengerv1.ReferralStats{Total: 3, AdReferrals: 3, BySource: map[string]int64{"ADS": 3}}},
		{"any source ADS is an ad", Referral{Kind: delivery.KindReferral, Source: "ADS"}, true,
			messengerv1.ReferralStats{Total: 3, ReturningConversations: 3, AdReferrals: 3, BySource: map[string]int64{"ADS": 3}}},
		{"a plugin opt-in is counted apart, not in total", Referral{Kind: delivery.KindOptIn, Ref: ref}, false,
			messengerv1.ReferralStats{PluginOptIns: 3, Fields: []messengerv1.FieldCounts{{ID: "utm", Values: map[string]int64{"mail": 3}}}}},
		{"a ref's fields are counted", Referral{Kind: delivery.KindReferral, Ref: ref}, true,
			messengerv1.ReferralStats{Total: 3, ReturningConversations: 3, Fields: []messengerv1.FieldCounts{{ID: "utm", Values: map[string]int64{"mail": 3}}}}},
		{"a kind links do not count adds nothing", Referral{Kind: delivery.KindNotificationOptIn, Source: "ADS", Ref: ref}, false,
			messengerv1.ReferralStats{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st messengerv1.ReferralStats
			if got := AddReferral(&st, tc.r, 3); got != tc.referral {
				t.Errorf("referral = %v, want %v", got, tc.referral)
			}
			if !equality.Semantic.DeepEqual(st, tc.want) {
				t.Errorf("stats = %+v, want %+v", st, tc.want)
			}
		})
	}
}

func TestAddSourceBounded(t *testing.T) {
	var m map[string]int64
	for i := range MaxSources + 5 {
		m = AddSource(m, fmt.Sprint("S", i), 1)
	}
	m = AddSource(m, "S0", 1) // a source already counted keeps its own entry
	if len(m) != MaxSources+1 || m[OtherSource] != 5 || m["S0"] != 2 {
		t.Errorf("%d sources, OTHER %d, S0 %d; want %d, 5, 2", len(m), m[OtherSource], m["S0"], MaxSources+1)
	}
}

func TestFieldsBounded(t *testing.T) {
	var st messengerv1.ReferralStats
	for i := range MaxFieldIDs + 2 {
		for v := range messengerv1.MaxFieldValues + 3 {
			ref, err := link.EncodeRef("b", []link.Field{{ID: fmt.Sprint("f", i), Value: fmt.Sprint("v", v)}})
			if err != nil {
				t.Fatal(err)
			}
			AddReferral(&st, Referral{Kind: delivery.KindReferral, Ref: ref}, 1)
		}
	}
	if len(st.Fields) != MaxFieldIDs {
		t.Fatalf("%d field IDs counted, want %d", len(st.Fields), MaxFieldIDs)
	}
	if f := st.Fields[0]; len(f.Values) != messengerv1.MaxFieldValues || f.Other != 3 {
		t.Errorf("field %s: %d values, other %d; want %d, 3", f.ID, len(f.Values), f.Other, messengerv1.MaxFieldValues)
	}
}

func TestReferralOfAndPerson(t *testing.T) {
	optIn := delivery.Event{Kind: delivery.KindOptIn, UserRef: "u1", OptIn: delivery.OptIn{Ref: "plugin"}, Referral: delivery.Referral{Ref: "ignored", Source: "S"}}
	if r := ReferralOf(&optIn); r.Ref != "plugin" || r.Source != "S" {
		t.Errorf("plugin opt-in: %+v, want the ref of optin.ref", r)
	}
	ref := delivery.Event{Kind: delivery.KindReferral, SenderID: "42", UserRef: "u1", Referral: delivery.Referral{Ref: "r"}}
	if r := ReferralOf(&ref); r.Ref != "r" {
		t.Errorf("referral: %+v, want referral.ref", r)
	}
	for ev, want := range map[*delivery.Event]string{&optIn: "uref:u1", &ref: "psid:42", {}: ""} {
		if got := Person(ev); got != want {
			t.Errorf("Person = %q, want %q", got, want)
		}
	}
}

func TestTokens(t *testing.T) {
	tok := func(status delivery.Status, token string) *delivery.Event {
		return &delivery.Event{Kind: delivery.KindNotificationOptIn, OptIn: delivery.OptIn{Token: token, Status: status}}
	}
	for _, tc := range []struct {
		name              string
		ev                *delivery.Event
		sets              bool
		state             string
		newOptIn, confirm bool
	}{
		{"an opt-in", tok(delivery.StatusOptIn, "t"), true, TokenActive, true, true},
		{"a stop", tok(delivery.StatusStop, "t"), true, TokenStopped, false, false},
		{"a resume", tok(delivery.StatusResume, "t"), true, TokenActive, false, false},
		{"no token", tok(delivery.StatusOptIn, ""), false, TokenActive, true, true},
		{"a token too long to be Meta's", tok(delivery.StatusOptIn, string(make([]byte, MaxTokenLength+1))), false, TokenActive, true, true},
		{"a plugin opt-in", &delivery.Event{Kind: delivery.KindOptIn, OptIn: delivery.OptIn{Token: "t"}}, false, TokenActive, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SetsToken(tc.ev); got != tc.sets {
				t.Errorf("SetsToken = %v, want %v", got, tc.sets)
			}
			if got := TokenState(tc.ev); got != tc.state {
				t.Errorf("TokenState = %q, want %q", got, tc.state)
			}
			if got := NewOptIn(tc.ev); got != tc.newOptIn {
				t.Errorf("NewOptIn = %v, want %v", got, tc.newOptIn)
			}
			if Confirms(tc.ev, false) || Confirms(tc.ev, true) != tc.confirm {
				t.Errorf("Confirms(recipient) = %v, want %v, and never without the recipient", Confirms(tc.ev, true), tc.confirm)
			}
		})
	}
}

func TestEarliestLatestInWholeSeconds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 700e6, time.FixedZone("x", 3600))
	mt := func(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }
	first := Earliest(nil, t0)
	if !first.Time.Equal(t0.Truncate(time.Second)) || first.Location() != time.UTC {
		t.Errorf("Earliest(nil) = %v, want %v in UTC", first, t0.Truncate(time.Second))
	}
	if got := Earliest(mt(t0.Add(-time.Hour)), t0); !got.Time.Equal(t0.Add(-time.Hour)) {
		t.Errorf("Earliest kept %v, want the earlier", got)
	}
	if got := Latest(mt(t0.Add(-time.Hour)), t0); !got.Time.Equal(t0.Truncate(time.Second)) {
		t.Errorf("Latest = %v, want %v", got, t0.Truncate(time.Second))
	}
}
