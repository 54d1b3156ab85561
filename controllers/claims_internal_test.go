package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The rule of claimHolder, case by case. Times are whole seconds, as the API server stores them.
func TestClaimHolder(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	link := func(name string, created time.Time, holds, deleting bool) *messengerv1.MessengerLink {
		l := &messengerv1.MessengerLink{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name),
			CreationTimestamp: metav1.NewTime(created)},
			Spec: messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: "1"}, Ref: "summer"}}
		if holds {
			l.Status.Claim = l.PageRefKey()
		}
		if deleting {
			now := metav1.NewTime(t0.Add(time.Hour))
			l.DeletionTimestamp = &now
		}
		return l
	}
	tests := []struct {
		name   string
		self   *messengerv1.MessengerLink
		others []*messengerv1.MessengerLink
		want   string // the name self yields to; "" when self holds the key
	}{
		{"alone", link("a", t0, false, false), nil, ""},
		{"alone, in the cache's list too", link("a", t0, false, false), []*messengerv1.MessengerLink{link("a", t0, false, false)}, ""},
		{"a newcomer of the same second, named first, yields to the holder",
			link("a-new", t0, false, false), []*messengerv1.MessengerLink{link("z-holder", t0, true, false)}, "z-holder"},
		{"the holder keeps it against that newcomer",
			link("z-holder", t0, true, false), []*messengerv1.MessengerLink{link("a-new", t0, false, false)}, ""},
		{"the holder keeps it against an older link that does not hold it",
			link("holder", t0.Add(time.Minute), true, false), []*messengerv1.MessengerLink{link("older", t0, false, false)}, ""},
		{"nobody holds it: the oldest takes it", link("older", t0, false, false),
			[]*messengerv1.MessengerLink{link("newer", t0.Add(time.Second), false, false)}, ""},
		{"nobody holds it: a newer one yields to the oldest", link("newer", t0.Add(time.Second), false, false),
			[]*messengerv1.MessengerLink{link("older", t0, false, false)}, "older"},
		{"a holder being deleted holds nothing", link("next", t0.Add(time.Second), false, false),
			[]*messengerv1.MessengerLink{link("going", t0, true, true)}, ""},
		{"two holders after a race: the newer lets go", link("newer", t0.Add(time.Second), true, false),
			[]*messengerv1.MessengerLink{link("older", t0, true, false)}, "older"},
		{"two holders after a race: the older stays", link("older", t0, true, false),
			[]*messengerv1.MessengerLink{link("newer", t0.Add(time.Second), true, false)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if h := claimHolder(tt.self, tt.others); h != nil {
				got = h.GetName()
			}
			if got != tt.want {
				t.Errorf("claimHolder = %q, want %q", got, tt.want)
			}
		})
	}
}
