package pagehealth

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestTracker(t *testing.T) {
	tr := NewTracker()
	tr.Answered("1", at(0).Add(400*time.Millisecond))
	tr.Refused("1", at(10))
	tr.Refused("1", at(20)) // the run began at 10
	if h := tr.Snapshot(at(40))["1"]; !h.LastDelivery.Equal(at(0)) || !h.RefusingSince.Equal(at(10)) {
		t.Fatalf("after refusals: %+v", h)
	}
	tr.Answered("1", at(30))
	if h := tr.Snapshot(at(40))["1"]; !h.LastDelivery.Equal(at(30)) || !h.RefusingSince.IsZero() {
		t.Fatalf("after a 200: %+v", h)
	}
	tr.Answered("1", at(25)) // a late answer of an older delivery moves nothing back
	if h := tr.Snapshot(at(40))["1"]; !h.LastDelivery.Equal(at(30)) {
		t.Fatalf("LastDelivery moved back: %+v", h)
	}
	tr.Refused("2", at(35))
	if h := tr.Snapshot(at(40))["2"]; !h.LastDelivery.IsZero() || !h.RefusingSince.Equal(at(35)) {
		t.Fatalf("a Page refused from the start: %+v", h)
	}
}

// A run of refusals ends without a 200 for its own Page: once a delivery for another Page is stored
// after it (the write path works again), or after RefusalsEndAfter without a refusal (a Page Meta
// unsubscribed receives nothing, and must not look refused for ever).
func TestRefusalsEndWithoutADelivery(t *testing.T) {
	tr := NewTracker()
	tr.Refused("1", at(0))
	tr.Refused("2", at(0))
	tr.Refused("2", at(100))
	if h := tr.Snapshot(at(200))["1"]; !h.RefusingSince.Equal(at(0)) {
		t.Fatalf("page 1 within RefusalsEndAfter: %+v, want refusing since 0", h)
	}
	tr.Answered("3", at(50)) // stored for another Page after page 1's refusal, before page 2's last
	if h := tr.Snapshot(at(200)); !h["1"].RefusingSince.IsZero() || !h["2"].RefusingSince.Equal(at(0)) {
		t.Fatalf("after a delivery for page 3: %+v, want page 1 over and page 2 still refusing", h)
	}
	if h := tr.Snapshot(at(100).Add(RefusalsEndAfter))["2"]; !h.RefusingSince.IsZero() {
		t.Fatalf("page 2 after %s without a refusal: %+v, want the run over", RefusalsEndAfter, h)
	}
}

func TestMerge(t *testing.T) {
	mt := func(s int) *metav1.Time { v := metav1.NewTime(at(s)); return &v }
	tests := []struct {
		name                string
		cur                 messengerv1.PageWebhookStatus
		mine                Health
		wantLast, wantRefus *metav1.Time
	}{
		{"first write", messengerv1.PageWebhookStatus{}, Health{LastDelivery: at(10)}, mt(10), nil},
		{"another replica answered later", messengerv1.PageWebhookStatus{LastDeliveryTime: mt(50)}, Health{LastDelivery: at(10)}, mt(50), nil},
		{"my refusals after the newest 200 count", messengerv1.PageWebhookStatus{LastDeliveryTime: mt(50)},
			Health{LastDelivery: at(10), RefusingSince: at(60)}, mt(50), mt(60)},
		{"my refusals before another replica's 200 are over", messengerv1.PageWebhookStatus{LastDeliveryTime: mt(50)},
			Health{LastDelivery: at(10), RefusingSince: at(20)}, mt(50), nil},
		{"another replica's refusal stays while I saw nothing newer", messengerv1.PageWebhookStatus{LastDeliveryTime: mt(10), RefusingSince: mt(40)},
			Health{LastDelivery: at(10)}, mt(10), mt(40)},
		{"my 200 ends another replica's refusal", messengerv1.PageWebhookStatus{LastDeliveryTime: mt(10), RefusingSince: mt(40)},
			Health{LastDelivery: at(70)}, mt(70), nil},
		{"the earlier refusal start wins", messengerv1.PageWebhookStatus{RefusingSince: mt(40)}, Health{RefusingSince: at(30)}, nil, mt(30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := merge(tt.cur, tt.mine)
			if !got.LastDeliveryTime.Equal(tt.wantLast) || !got.RefusingSince.Equal(tt.wantRefus) {
				t.Errorf("merge = last %v refusing %v; want %v %v", got.LastDeliveryTime, got.RefusingSince, tt.wantLast, tt.wantRefus)
			}
		})
	}
}
