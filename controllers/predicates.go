package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// ownedConfigMapChanges passes updates and deletions of a ConfigMap, which are a person's edits to repair,
// but not its creation: only the controller creates it, and the reconcile that did has already written
// the status. Reacting to it would reconcile every new object twice, the second time from a cache that
// may not yet show the first status write, and so write it again.
var ownedConfigMapChanges = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
}

// topicChanged passes what the controller must act on: a new spec (generation), a new annotation (a
// request or a resolution by a person), and a new confirmation recorded by the webhook server. It drops
// the controller's own status writes and the webhook server's opt-in counts, which change far more often
// and ask nothing of the controller.
func topicChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
		predicate.Funcs{UpdateFunc: confirmationChanged})
}

func confirmationChanged(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*messengerv1.NotificationTopic)
	n, ok2 := e.ObjectNew.(*messengerv1.NotificationTopic)
	if !ok1 || !ok2 {
		return false
	}
	var oldTime, newTime *metav1.Time
	var oldID, newID string
	if s := o.Status.OptIns; s != nil {
		oldTime, oldID = s.ConfirmedTime, s.ConfirmedRequestID
	}
	if s := n.Status.OptIns; s != nil {
		newTime, newID = s.ConfirmedTime, s.ConfirmedRequestID
	}
	return oldID != newID || !oldTime.Equal(newTime)
}

// pageChanged passes a new spec and a change of the webhook server's status.webhook; it drops the
// controller's own status writes.
func pageChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*messengerv1.MessengerPage)
		n, ok2 := e.ObjectNew.(*messengerv1.MessengerPage)
		if !ok1 || !ok2 {
			return false
		}
		var a, b messengerv1.PageWebhookStatus
		if o.Status.Webhook != nil {
			a = *o.Status.Webhook
		}
		if n.Status.Webhook != nil {
			b = *n.Status.Webhook
		}
		return !a.LastDeliveryTime.Equal(b.LastDeliveryTime) || !a.RefusingSince.Equal(b.RefusingSince)
	}})
}

// claimChanged passes the events after which other claimants of a key may decide differently: a spec that
// changed (the key may have), a claim taken or let go, a deletion begun, and creations and deletions.
func claimChanged[T claimant]() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(T)
			n, ok2 := e.ObjectNew.(T)
			return ok1 && ok2 && (o.HoldsClaim() != n.HoldsClaim() ||
				(o.GetDeletionTimestamp() == nil) != (n.GetDeletionTimestamp() == nil))
		},
	})
}
