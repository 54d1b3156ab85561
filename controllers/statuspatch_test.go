package controllers

import (
	"reflect"
	"strings"
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
		// version is the resourceVersion sent as precondition; "" for none.
		version string
		want    string
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
	}, {
		name:    "with the optimistic lock: the resourceVersion it was computed from rides along",
		before:  counted,
		edit:    func(s *messengerv1.MessengerLinkStatus) { s.ObservedGeneration = 2 },
		version: "4711",
		want:    `{"metadata":{"resourceVersion":"4711"},"status":{"observedGeneration":2}}`,
	}, {
		name:    "with the optimistic lock and nothing changed: still no request",
		before:  counted,
		edit:    func(*messengerv1.MessengerLinkStatus) {},
		version: "4711",
		want:    "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.before.DeepCopy()
			after := tt.before.DeepCopy()
			tt.edit(after)
			got, err := statusMergePatch(before, after, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("patch\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// Each controller's owned status encodes its fields under the same names as the API's status, so that a
// patch of it is a patch of the object's status; and it holds every field of the status but those the
// webhook server writes, so that a controller write can never carry the webhook server's fields, and a
// field added to the API for the controller is not forgotten by its patch.
func TestOwnedStatusMatchesTheAPI(t *testing.T) {
	tests := []struct {
		kind string
		// api is the API's status type, owned the controller's copy of it.
		api, owned reflect.Type
		// webhook are the fields the webhook server writes.
		webhook []string
	}{
		{"MessengerLink", reflect.TypeFor[messengerv1.MessengerLinkStatus](), reflect.TypeFor[linkStatus](), []string{"referrals"}},
		{"NotificationTopic", reflect.TypeFor[messengerv1.NotificationTopicStatus](), reflect.TypeFor[topicStatus](), []string{"optIns"}},
		{"MessengerPage", reflect.TypeFor[messengerv1.MessengerPageStatus](), reflect.TypeFor[pageStatus](), []string{"webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			api, owned := jsonFields(tt.api), jsonFields(tt.owned)
			for _, w := range tt.webhook {
				if _, ok := api[w]; !ok {
					t.Fatalf("the API's status has no field %q", w)
				}
				if _, ok := owned[w]; ok {
					t.Errorf("the controller's status carries %q, which the webhook server writes", w)
				}
				delete(api, w)
			}
			for name, typ := range api {
				if got, ok := owned[name]; !ok {
					t.Errorf("the controller's status lacks %q", name)
				} else if got != typ {
					t.Errorf("field %q: the controller's status has %s, the API's %s", name, got, typ)
				}
			}
			for name := range owned {
				if _, ok := api[name]; !ok {
					t.Errorf("the controller's status has %q, which the API's status does not", name)
				}
			}
		})
	}
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, typ.NumField())
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[name] = f.Type
	}
	return out
}

// The copies hold the values of the object's status, and are copies: a condition set in place on the
// object after the copy does not change it.
func TestOwnedStatusCopies(t *testing.T) {
	link := &messengerv1.MessengerLink{Status: messengerv1.MessengerLinkStatus{ObservedGeneration: 3,
		Conditions: []metav1.Condition{{Type: messengerv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded"}},
		URL:        "https://m.me/acme?ref=a", ConfigMapName: "a-mlink", Claim: "1/a", Referrals: &messengerv1.ReferralStats{Total: 41}}}
	owned := linkStatusOf(link)
	link.Status.Conditions[0].Status = metav1.ConditionFalse
	want := linkStatus{ObservedGeneration: 3, URL: "https://m.me/acme?ref=a", ConfigMapName: "a-mlink", Claim: "1/a",
		Conditions: []metav1.Condition{{Type: messengerv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded"}}}
	if !reflect.DeepEqual(owned, want) {
		t.Errorf("linkStatusOf = %+v, want %+v", owned, want)
	}

	topic := &messengerv1.NotificationTopic{Status: messengerv1.NotificationTopicStatus{
		Registration: &messengerv1.RegistrationStatus{RequestID: "k-1", Attempts: 1}, OptIns: &messengerv1.OptInStats{Total: 2}}}
	ownedTopic := topicStatusOf(topic)
	topic.Status.Registration.Attempts = 2
	if ownedTopic.Registration.Attempts != 1 {
		t.Error("topicStatusOf shares the registration with the object")
	}

	page := &messengerv1.MessengerPage{Status: messengerv1.MessengerPageStatus{AddedDomains: []string{"https://a.example"}}}
	ownedPage := pageStatusOf(page)
	page.Status.AddedDomains[0] = "https://b.example"
	if ownedPage.AddedDomains[0] != "https://a.example" {
		t.Error("pageStatusOf shares addedDomains with the object")
	}
}
