package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// Every state a request can be in, as the controller writes it into status.registration, and what
// requestStateOf reads back from it.
func TestRequestStateOf(t *testing.T) {
	at := func(s int) *metav1.Time { v := metav1.NewTime(time.Unix(1_800_000_000+int64(s), 0)); return &v }
	const id = "a1b2c3d4e5-0011223344556677"
	tests := []struct {
		name string
		st   *messengerv1.RegistrationStatus
		want requestState
	}{
		{"no registration status", nil, requestNone},
		{"a status without a request", &messengerv1.RegistrationStatus{RequestAnnotation: "x"}, requestNone},
		{"intent stored before the first call", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0)}, requestPending},
		{"an answer lost (graph.OutcomeUnknown): back to pending", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0),
			Attempts: 0, NextAttemptTime: nil}, requestPending},
		{"Meta accepted it", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0), SentTime: at(1), MessageID: "m.1"},
			requestSent},
		{"weekly refusal after an earlier attempt: read as sent, without a message ID",
			&messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0), SentTime: at(9)}, requestSent},
		{"a person said it arrived (resolve-registration=sent)",
			&messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0), SentTime: at(60)}, requestSent},
		{"sent wins over a leftover schedule", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0), SentTime: at(5),
			NextAttemptTime: at(10), Attempts: 2}, requestSent},
		{"transient failure, next attempt scheduled", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0),
			Attempts: 1, NextAttemptTime: at(30)}, requestScheduled},
		{"throttled before any attempt counted", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0),
			NextAttemptTime: at(30)}, requestScheduled},
		{"a person asked for a retry (resolve-registration=retry)", &messengerv1.RegistrationStatus{RequestID: id,
			IntentTime: at(0), Attempts: 1, NextAttemptTime: at(60)}, requestScheduled},
		{"refused for good", &messengerv1.RegistrationStatus{RequestID: id, IntentTime: at(0), Attempts: 1}, requestFailed},
		{"no intent time and nothing else: not a call under way", &messengerv1.RegistrationStatus{RequestID: id}, requestFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestStateOf(tt.st); got != tt.want {
				t.Errorf("requestStateOf(%+v) = %s, want %s", tt.st, got, tt.want)
			}
		})
	}
}

// A request belongs to the Page, recipient and title it was made for: a change of any of them makes it
// no request for the spec, whatever its state.
func TestRequestFor(t *testing.T) {
	topic := func(title string) *messengerv1.NotificationTopic {
		return &messengerv1.NotificationTopic{Spec: messengerv1.NotificationTopicSpec{Page: messengerv1.PageRef{ID: "1234"},
			Topic: title, Registration: &messengerv1.RegistrationSpec{RecipientID: "999"}}}
	}
	key := requestKey(topic("Weekly deals"))
	sent := &messengerv1.RegistrationStatus{RequestID: newRequestID(key), SentTime: &metav1.Time{Time: time.Unix(1, 0)}}
	tests := []struct {
		name string
		st   *messengerv1.RegistrationStatus
		key  string
		want bool
	}{
		{"made for this spec", sent, key, true},
		{"made for another title", sent, requestKey(topic("Daily deals")), false},
		{"no request", &messengerv1.RegistrationStatus{}, key, false},
		{"no status", nil, key, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestFor(tt.st, tt.key); got != tt.want {
				t.Errorf("requestFor = %v, want %v", got, tt.want)
			}
		})
	}
	if s := requestState(99).String(); s != "Unknown" {
		t.Errorf("requestState(99) = %q", s)
	}
}
