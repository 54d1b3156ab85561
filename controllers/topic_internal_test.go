package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

func TestPageLimiterSpacesCallsPerPage(t *testing.T) {
	l := newPageLimiter(20) // one call per 50ms
	t0 := time.Unix(1000, 0)
	steps := []struct {
		page string
		at   time.Duration // when the call is asked for, after t0
		want time.Duration // when its slot is
	}{
		{"A", 0, 0},                     // an idle Page calls at once
		{"A", 0, 50 * time.Millisecond}, // the next waits one interval
		{"A", 10 * time.Millisecond, 100 * time.Millisecond}, // and the one after, behind it
		{"B", 10 * time.Millisecond, 10 * time.Millisecond},  // another Page has its own bucket
		{"A", time.Second, time.Second},                      // after a quiet while no wait, and no burst saved up
		{"A", time.Second, time.Second + 50*time.Millisecond},
	}
	for i, s := range steps {
		if d := l.delay(s.page, t0.Add(s.at)); d != max(s.want-s.at, 0) {
			t.Errorf("step %d: delay = %v, want %v", i, d, s.want-s.at)
		}
		if got := l.reserve(s.page, t0.Add(s.at)).Sub(t0); got != s.want {
			t.Errorf("step %d: slot at %v, want %v", i, got, s.want)
		}
	}
	if d := newPageLimiter(-1).reserve("A", t0); !d.Equal(t0) {
		t.Errorf("an unlimited limiter made a call wait until %v", d)
	}
}

// The controller wakes up for a new confirmation, not for every opt-in the webhook server counts.
func TestConfirmationChanged(t *testing.T) {
	t1, t2 := metav1.Unix(100, 0), metav1.Unix(200, 0)
	cases := []struct {
		name     string
		old, new *messengerv1.OptInStats
		want     bool
	}{
		{"first confirmation", nil, &messengerv1.OptInStats{Total: 1, ConfirmedTime: &t1, ConfirmedRequestID: "a"}, true},
		{"a later confirmation", &messengerv1.OptInStats{ConfirmedTime: &t1, ConfirmedRequestID: "a"},
			&messengerv1.OptInStats{ConfirmedTime: &t2, ConfirmedRequestID: "a"}, true},
		{"confirmation of another request", &messengerv1.OptInStats{ConfirmedTime: &t1, ConfirmedRequestID: "a"},
			&messengerv1.OptInStats{ConfirmedTime: &t1, ConfirmedRequestID: "b"}, true},
		{"more opt-ins", &messengerv1.OptInStats{Total: 1, ConfirmedTime: &t1},
			&messengerv1.OptInStats{Total: 9, Active: 8, Stopped: 1, LastTime: &t2, ConfirmedTime: &t1}, false},
		{"opt-ins without a confirmation", nil, &messengerv1.OptInStats{Total: 3, LastTime: &t2}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &messengerv1.NotificationTopic{Status: messengerv1.NotificationTopicStatus{OptIns: tc.old}}
			n := &messengerv1.NotificationTopic{Status: messengerv1.NotificationTopicStatus{OptIns: tc.new}}
			if got := topicChanged().Update(event.UpdateEvent{ObjectOld: o, ObjectNew: n}); got != tc.want {
				t.Errorf("reconcile = %v, want %v", got, tc.want)
			}
		})
	}
}
