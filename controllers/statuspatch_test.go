package controllers

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The controller's status patch names only what it changed, so that it never overwrites the counts the
// webhook server writes to the same status.
func TestStatusMergePatch(t *testing.T) {
	ready := metav1.Condition{Type: messengerv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded",
		Message: "Link and QR codes are in ConfigMap a-mlink", ObservedGeneration: 1,
		LastTransitionTime: metav1.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC)}
	counted := messengerv1.MessengerLinkStatus{ObservedGeneration: 1, Conditions: []metav1.Condition{ready},
		URL: "https://m.me/acme?ref=a", ConfigMapName: "a-mlink"}
	counted.Referrals = &messengerv1.ReferralStats{Total: 41}

	tests := []struct {
		name   string
		before messengerv1.MessengerLinkStatus
		edit   func(*messengerv1.MessengerLinkStatus)
		want   string
	}{{
		name:   "unchanged: no request",
		before: counted,
		edit:   func(*messengerv1.MessengerLinkStatus) {},
		want:   "",
	}, {
		name:   "first reconcile: url, ConfigMap, generation and Ready, nothing of the counts",
		before: messengerv1.MessengerLinkStatus{ObservedGeneration: -1},
		edit: func(s *messengerv1.MessengerLinkStatus) {
			s.ObservedGeneration, s.URL, s.ConfigMapName, s.Conditions = 1, "https://m.me/acme?ref=a", "a-mlink", []metav1.Condition{ready}
		},
		want: `{"status":{"conditions":[{"lastTransitionTime":"2026-11-21T07:00:00Z","message":"Link and QR codes are in ConfigMap a-mlink","observedGeneration":1,"reason":"Succeeded","status":"True","type":"Ready"}],"configMapName":"a-mlink","observedGeneration":1,"url":"https://m.me/acme?ref=a"}}`,
	}, {
		name:   "new generation: only what moved; the referral counts stay out",
		before: counted,
		edit: func(s *messengerv1.MessengerLinkStatus) {
			s.ObservedGeneration = 2
			s.Conditions[0].ObservedGeneration = 2
		},
		want: `{"status":{"conditions":[{"lastTransitionTime":"2026-11-21T07:00:00Z","message":"Link and QR codes are in ConfigMap a-mlink","observedGeneration":2,"reason":"Succeeded","status":"True","type":"Ready"}],"observedGeneration":2}}`,
	}, {
		name:   "a field the controller clears is removed with null",
		before: counted,
		edit:   func(s *messengerv1.MessengerLinkStatus) { s.URL = "" },
		want:   `{"status":{"url":null}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.before.DeepCopy()
			after := tt.before.DeepCopy()
			tt.edit(after)
			got, err := statusMergePatch(before, after)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("patch\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// linkStatus encodes its fields under the same names as the API's status, so that a patch of it is a patch
// of the link's status.
func TestLinkStatusMatchesTheAPI(t *testing.T) {
	link := &messengerv1.MessengerLink{Status: messengerv1.MessengerLinkStatus{ObservedGeneration: 3,
		Conditions: []metav1.Condition{{Type: messengerv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded"}},
		URL:        "https://m.me/acme?ref=a", ConfigMapName: "a-mlink", Referrals: &messengerv1.ReferralStats{Total: 41}}}
	var owned, full map[string]any
	for _, c := range []struct {
		v    any
		into *map[string]any
	}{{linkStatusOf(link), &owned}, {link.Status, &full}} {
		data, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, c.into); err != nil {
			t.Fatal(err)
		}
	}
	if len(owned) != 4 {
		t.Errorf("linkStatus encodes %d fields, want 4: %v", len(owned), owned)
	}
	for k, v := range owned {
		if !reflect.DeepEqual(full[k], v) {
			t.Errorf("status field %q: linkStatus has %v, the API's status %v", k, v, full[k])
		}
	}
	if _, ok := owned["referrals"]; ok {
		t.Error("linkStatus carries the webhook server's referrals")
	}
}
