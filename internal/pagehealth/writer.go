package pagehealth

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/index"
)

// DefaultMinInterval is the least time between two writes for one Page.
const DefaultMinInterval = 30 * time.Second

// Writer writes the Tracker's health into the status.webhook of the MessengerPage that keeps each Page.
// It is a manager Runnable that runs on every replica (no leader election): each replica reports what it
// answered, and a write merges with what the others wrote (the newest 200 wins; a refusal older than it
// is over).
type Writer struct {
	// Client reads MessengerPages (the manager's cached client) and patches their status.
	Client client.Client
	// Tracker is what the webhook handler records into.
	Tracker *Tracker
	// MinInterval overrides DefaultMinInterval.
	MinInterval time.Duration
	// Tick is how often the Writer looks for changes. Default 1s.
	Tick time.Duration
	// Log receives write failures.
	Log logr.Logger

	lastWrite map[string]time.Time
	written   map[string]Health
}

// NeedLeaderElection is false: every replica writes what it answered.
func (w *Writer) NeedLeaderElection() bool { return false }

// Start writes until ctx ends, then makes a last pass.
func (w *Writer) Start(ctx context.Context) error {
	tick := w.Tick
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			w.Flush(flush, time.Now())
			cancel()
			return nil
		case now := <-t.C:
			w.Flush(ctx, now)
		}
	}
}

// Flush writes, as of now, every Page whose health changed since its last write and whose last write is
// at least MinInterval old. A failed write is tried again on the next pass.
func (w *Writer) Flush(ctx context.Context, now time.Time) {
	if w.lastWrite == nil {
		w.lastWrite, w.written = map[string]time.Time{}, map[string]Health{}
	}
	interval := w.MinInterval
	if interval <= 0 {
		interval = DefaultMinInterval
	}
	for pageID, h := range w.Tracker.Snapshot(now) {
		if prev, ok := w.written[pageID]; ok && prev == h {
			continue
		}
		if last, ok := w.lastWrite[pageID]; ok && now.Sub(last) < interval {
			continue
		}
		wrote, err := w.write(ctx, pageID, h)
		if err != nil {
			w.Log.Error(err, "writing the webhook health of a Page", "page", pageID)
			continue
		}
		w.written[pageID] = h
		if wrote {
			w.lastWrite[pageID] = now
		}
	}
}

// write patches status.webhook of the Page's keeper with h merged into what it holds; wrote is false when
// nothing changed (or no MessengerPage keeps the Page).
func (w *Writer) write(ctx context.Context, pageID string, h Health) (wrote bool, err error) {
	p, err := keeper(ctx, w.Client, pageID)
	if err != nil || p == nil {
		return false, err
	}
	cur := messengerv1.PageWebhookStatus{}
	if p.Status.Webhook != nil {
		cur = *p.Status.Webhook
	}
	next := merge(cur, h)
	if next.LastDeliveryTime.Equal(cur.LastDeliveryTime) && next.RefusingSince.Equal(cur.RefusingSince) {
		return false, nil
	}
	base := p.DeepCopy()
	p.Status.Webhook = &next
	// Only status.webhook differs from base, so the merge patch carries only it, with the resourceVersion
	// as precondition: a concurrent writer makes it fail and the next pass merges again.
	if err := w.Client.Status().Patch(ctx, p, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("patching status.webhook of MessengerPage %s/%s: %w", p.Namespace, p.Name, err)
	}
	return true, nil
}

// merge combines another replica's view (cur) with this one's (h): the newest 200 is the last delivery,
// and a refusal run counts only while it began after it.
func merge(cur messengerv1.PageWebhookStatus, h Health) messengerv1.PageWebhookStatus {
	last := h.LastDelivery
	if cur.LastDeliveryTime != nil && cur.LastDeliveryTime.After(last) {
		last = cur.LastDeliveryTime.Time
	}
	var refusing time.Time
	for _, r := range []time.Time{h.RefusingSince, timeOf(cur.RefusingSince)} {
		if !r.IsZero() && !r.Before(last) && (refusing.IsZero() || r.Before(refusing)) {
			refusing = r
		}
	}
	out := messengerv1.PageWebhookStatus{}
	if !last.IsZero() {
		t := metav1.NewTime(last)
		out.LastDeliveryTime = &t
	}
	if !refusing.IsZero() {
		t := metav1.NewTime(refusing)
		out.RefusingSince = &t
	}
	return out
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// keeper returns the MessengerPage that keeps pageID: the one whose status holds the claim, else the
// oldest (the rule of the MessengerPage controller); nil when there is none.
func keeper(ctx context.Context, c client.Client, pageID string) (*messengerv1.MessengerPage, error) {
	var list messengerv1.MessengerPageList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing MessengerPages: %w", err)
	}
	var best *messengerv1.MessengerPage
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.Page.ID != pageID || !p.DeletionTimestamp.IsZero() {
			continue
		}
		holds := p.HoldsClaim()
		switch {
		case best == nil:
			best = p
		case holds && !best.HoldsClaim():
			best = p
		case holds == best.HoldsClaim() && index.OlderThan(p, best):
			best = p
		}
	}
	return best, nil
}
