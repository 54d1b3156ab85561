// Package status is the webhook server's embedded write path into the API server: it turns attributed
// webhook events into status changes (counts, unique-people sketches, opt-in tokens in Secrets),
// aggregates them per object and commits them as one optimistic-locked status write per object per flush.
//
// Glossary:
//   - item: one attributed event (Item); a delivery's items for one object form a part.
//   - commit: one read-modify-write of one object's status carrying the parts that waited for it
//     (group commit); at most one in flight per object, paced by the flush interval and the write budget.
//   - window: the fingerprints of the events an object counted recently, in its status next to the
//     counts (window.go), so that a redelivery is recognised in the same write that counted it.
//   - late: an event older than the window covers; acknowledged and not counted.
//
// A commit ends stored (its parts are answered 200), not stored, or unknown (the answer was lost); the
// last two are answered 503 and left alone. See commit.go.
package status

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mmelink/operator/internal/delivery"
)

// Kind names the resource an event is attributed to.
type Kind string

// The kinds events are attributed to.
const (
	KindLink  Kind = "MessengerLink"
	KindTopic Kind = "NotificationTopic"
)

// Target is the object an event is attributed to.
type Target struct {
	Kind Kind
	types.NamespacedName
}

// Item is one attributed event.
type Item struct {
	Target Target
	Event  delivery.Event
	// Recipient marks, for a NotificationTopic, an opt-in from the topic's spec.registration.recipientID:
	// the confirmation of the registration.
	Recipient bool
	// UID is the target's UID as the resolver found it in the cache, or empty; a Writer that keys events
	// by UID then needs no lookup of its own.
	UID types.UID
}

// ErrUnavailable means the items could not all be stored before the context's deadline: the delivery is
// not acknowledged, and Meta delivers it again. Some of its items may have been stored (a write whose
// answer was lost, a delivery stored for one object and not another); they are recognised when the
// redelivery comes, on whichever replica, and counted once.
var ErrUnavailable = errors.New("status could not be stored in time")

// Writer stores attributed events. Write blocks until every item is durably stored (nil) or returns
// ErrUnavailable (wrapped) when that cannot happen before ctx is done. Items whose event was already
// stored for their target are not counted again, nor are events older than what the Writer can check.
// Safe for concurrent use.
type Writer interface {
	Write(ctx context.Context, items []Item) error
}
