// Package status is the webhook server's write path into the API server: it turns attributed webhook
// events into status changes (counts, unique-people sketches, opt-in tokens in Secrets), aggregates them
// per object and commits them as one optimistic-locked status write per object per flush.
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
}

// ErrUnavailable means the items could not be stored before the context's deadline; nothing of them is
// counted, now or later. The webhook server answers 503 so that Meta delivers them again.
var ErrUnavailable = errors.New("status could not be stored in time")

// Writer stores attributed events. Write blocks until every item is durably stored in the API server
// (nil) or returns ErrUnavailable (wrapped) when that cannot happen before ctx is done. Items whose event
// fingerprint was already stored for their target are not counted again. Safe for concurrent use.
type Writer interface {
	Write(ctx context.Context, items []Item) error
}
