package controllers

import (
	corev1 "k8s.io/api/core/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// eventFunc records an event about the object being reconciled. The MessengerLink reconciler records at
// once; the NotificationTopic reconciler holds its events until the status that explains them is stored.
type eventFunc func(eventType, reason, action, note string)

// stallInvalid records a spec the controller cannot use; only a change of the spec helps.
func stallInvalid(obj conditioned, emit eventFunc, before string, err error) {
	markStalled(obj, messengerv1.ReasonInvalidSpec, err.Error())
	warnOnChange(obj, emit, before, "Validate", err.Error())
}

// warnOnChange records a warning only when the Ready reason changed, so that a stuck object does not
// flood the event stream on every resync.
func warnOnChange(obj conditioned, emit eventFunc, before, action, msg string) {
	if now := readyReason(obj); now != before {
		emit(corev1.EventTypeWarning, now, action, msg)
	}
}
