package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// requestWeek is how long Meta refuses a second opt-in request with the same title to the same person.
const requestWeek = 7 * 24 * time.Hour

// Values of the resolve-registration annotation.
const (
	resolveSent  = messengerv1.ResolveRegistrationSent
	resolveRetry = messengerv1.ResolveRegistrationRetry
)

// The states of a request are in registration_state.go.

// register moves the registration one step on; the link is already in its ConfigMap.
func (rc *topicRun) register(ctx context.Context) (ctrl.Result, error) {
	t := rc.t
	st := t.Status.Registration
	key := requestKey(t)

	// An answer of Graph API whose write failed is written first: the call is never made again. (An
	// answer whose request the status does not show stays: the cached copy may be too old to show it.)
	if o, ok := rc.r.memory.outcome(rc.key); ok && st != nil && st.RequestID == o.requestID && requestStateOf(st) != requestSent {
		return rc.record(st, o)
	}
	if stop, err := rc.resolve(ctx, st, key); stop || err != nil {
		return ctrl.Result{}, err
	}
	st = t.Status.Registration // a resolution was written: the write replaced the status with the stored one
	state := requestStateOf(st)
	if rc.due(st, key) {
		if state == requestSent && requestFor(st, key) {
			if notBefore := st.SentTime.Add(requestWeek); rc.now.Before(notBefore) {
				return rc.waitForWeek(st, notBefore)
			}
		}
		return rc.sendNew(ctx, key)
	}
	if confirmed(t, st) {
		return rc.registered(st)
	}
	switch state {
	case requestSent:
		return rc.awaiting(st)
	case requestPending:
		return rc.inDoubt(st)
	case requestFailed:
		if rc.specChanged || rc.tokenChanged(ctx, st) {
			return rc.sendNew(ctx, key)
		}
		return rc.failedBefore()
	case requestScheduled:
		switch {
		case rc.specChanged:
			// A new spec starts the schedule over at once. An earlier attempt may have arrived all the
			// same, so it stays counted.
			st.Attempts = min(st.Attempts, 1)
			return rc.retry(ctx, st)
		case rc.now.Before(st.NextAttemptTime.Time):
			return requeueAt(st.NextAttemptTime.Time), nil
		default:
			return rc.retry(ctx, st)
		}
	}
	// requestNone is due, above.
	return ctrl.Result{}, fmt.Errorf("registration of request %q in state %s", st.RequestID, state)
}

// due reports whether a new request is wanted: none was made for this Page, recipient and title, or a
// person asked for one with a new value of the request-registration annotation.
func (rc *topicRun) due(st *messengerv1.RegistrationStatus, key string) bool {
	if !requestFor(st, key) {
		return true
	}
	ann := rc.t.Annotations[messengerv1.RequestRegistrationAnnotation]
	return ann != "" && ann != st.RequestAnnotation
}

// confirmed reports whether the webhook server saw the recipient opt in after the current request was
// decided on.
func confirmed(t *messengerv1.NotificationTopic, st *messengerv1.RegistrationStatus) bool {
	o := t.Status.OptIns
	if o == nil || st == nil || st.RequestID == "" {
		return false
	}
	if o.ConfirmedRequestID == st.RequestID {
		return true
	}
	return o.ConfirmedTime != nil && st.IntentTime != nil && !o.ConfirmedTime.Before(st.IntentTime)
}

// resolve acts on the resolve-registration annotation. It is a command for one request in doubt: acted
// on once, then removed, so that it cannot settle a later request. Found when nothing is in doubt (acted
// on already, or set out of turn), it is only removed. stop ends the run.
func (rc *topicRun) resolve(ctx context.Context, st *messengerv1.RegistrationStatus, key string) (stop bool, err error) {
	value, set := rc.t.Annotations[messengerv1.ResolveRegistrationAnnotation]
	if !set {
		return false, nil
	}
	if requestStateOf(st) != requestPending || !requestFor(st, key) {
		ctrl.LoggerFrom(ctx).V(1).Info("removing a resolve annotation that has nothing to resolve", "value", value)
		err := rc.removeResolveAnnotation(ctx)
		return err != nil, err
	}
	switch value {
	case resolveSent:
		st.SentTime = &metav1.Time{Time: rc.now} // not known better; later than the real time, never earlier
		rc.emit(corev1.EventTypeNormal, "RequestResolved", "Resolve", fmt.Sprintf(
			"Opt-in request %s treated as sent, as %s=%s says", st.RequestID, messengerv1.ResolveRegistrationAnnotation, value))
	case resolveRetry:
		// The attempt in doubt counts, so that Meta's weekly refusal of the retry is read as delivered.
		st.Attempts = 1
		st.NextAttemptTime = &metav1.Time{Time: rc.now}
		rc.emit(corev1.EventTypeNormal, "RequestResolved", "Resolve", fmt.Sprintf(
			"Opt-in request %s will be sent again, as %s=%s says", st.RequestID, messengerv1.ResolveRegistrationAnnotation, value))
	default:
		return false, nil // inDoubt says which values are understood
	}
	if err := rc.persistNow(ctx); err != nil {
		return true, err
	}
	if err := rc.removeResolveAnnotation(ctx); err != nil {
		return true, err
	}
	return false, nil
}

// removeResolveAnnotation deletes the annotation with a patch of the metadata alone, made on a copy so
// that the run's pending status changes stay; the optimistic lock keeps it from acting on a stale copy.
func (rc *topicRun) removeResolveAnnotation(ctx context.Context) error {
	m := rc.t.DeepCopy()
	patch := client.MergeFromWithOptions(rc.t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	delete(m.Annotations, messengerv1.ResolveRegistrationAnnotation)
	if err := rc.r.Patch(ctx, m, patch, client.FieldOwner(FieldManager)); err != nil {
		rc.writeFailed = true
		return fmt.Errorf("removing annotation %s: %w", messengerv1.ResolveRegistrationAnnotation, err)
	}
	// The status patcher's next write carries this version; its base is unchanged, as the status is.
	rc.t.ResourceVersion = m.ResourceVersion
	rc.t.Annotations = m.Annotations
	return nil
}

// waitForWeek holds a requested repeat until Meta's weekly rule allows it.
func (rc *topicRun) waitForWeek(st *messengerv1.RegistrationStatus, notBefore time.Time) (ctrl.Result, error) {
	msg := fmt.Sprintf("A new opt-in request was asked for (%s=%q), but Meta allows one request per title per person per week: "+
		"the last one went to recipient %s at %s; the new one will be sent at %s",
		messengerv1.RequestRegistrationAnnotation, rc.t.Annotations[messengerv1.RequestRegistrationAnnotation],
		rc.t.Spec.Registration.RecipientID, stamp(st.SentTime.Time), stamp(notBefore))
	markReconciling(rc.t, messengerv1.ReasonRequestLimitReached, msg)
	warnOnChange(rc.t, rc.emit, rc.before, "SendOptInRequest", msg)
	// Registered keeps describing the request that was sent.
	if !confirmed(rc.t, st) {
		rc.setRegistered(metav1.ConditionFalse, messengerv1.ReasonAwaitingConfirmation, rc.awaitingMessage(st))
	}
	return requeueAt(notBefore), nil
}

// registered records the confirmation: the recipient opted in, so Meta registered the topic.
func (rc *topicRun) registered(st *messengerv1.RegistrationStatus) (ctrl.Result, error) {
	if requestStateOf(st) != requestSent { // the opt-in proves that the request was delivered
		st.SentTime = st.IntentTime
	}
	st.Attempts, st.NextAttemptTime = 0, nil
	when := rc.now
	if o := rc.t.Status.OptIns; o != nil && o.ConfirmedTime != nil {
		when = o.ConfirmedTime.Time
	}
	msg := fmt.Sprintf("Topic %q is registered: recipient %s opted in at %s", rc.t.Spec.Topic,
		rc.t.Spec.Registration.RecipientID, stamp(when))
	wasRegistered := apimeta.IsStatusConditionTrue(rc.t.Status.Conditions, messengerv1.ConditionRegistered)
	markReady(rc.t, messengerv1.ReasonConfirmed, msg)
	rc.setRegistered(metav1.ConditionTrue, messengerv1.ReasonConfirmed, msg)
	if !wasRegistered {
		rc.emit(corev1.EventTypeNormal, messengerv1.ReasonConfirmed, "Register", msg)
	}
	return ctrl.Result{}, nil
}

// awaiting records a request sent and not yet confirmed; the webhook server's write of the confirmation
// triggers the next reconcile.
func (rc *topicRun) awaiting(st *messengerv1.RegistrationStatus) (ctrl.Result, error) {
	msg := rc.awaitingMessage(st)
	markReconciling(rc.t, messengerv1.ReasonAwaitingConfirmation, msg)
	rc.setRegistered(metav1.ConditionFalse, messengerv1.ReasonAwaitingConfirmation, msg)
	return ctrl.Result{}, nil
}

func (rc *topicRun) awaitingMessage(st *messengerv1.RegistrationStatus) string {
	mid := st.MessageID
	if mid == "" {
		mid = "ID unknown"
	}
	return fmt.Sprintf("Opt-in request sent to recipient %s at %s (message %s): the recipient must tap its button in Messenger to register topic %q",
		rc.t.Spec.Registration.RecipientID, stamp(st.SentTime.Time), mid, rc.t.Spec.Topic)
}

// inDoubt stops on an intent without an answer: the operator stopped while the call was under way, and
// only a person can know whether the recipient got the request.
func (rc *topicRun) inDoubt(st *messengerv1.RegistrationStatus) (ctrl.Result, error) {
	lost := ""
	if rc.lostAnswer != "" {
		lost = " (this time: " + rc.lostAnswer + ")"
	}
	msg := fmt.Sprintf("Opt-in request %s (decided at %s) has no recorded answer: the operator stopped, or Meta's answer was lost%s, "+
		"after the call began, so it does not know whether recipient %s got it, and will not guess. If the request arrived in Messenger, "+
		"set annotation %s=%s; to send it again, set %s=%s",
		st.RequestID, stamp(st.IntentTime.Time), lost, rc.t.Spec.Registration.RecipientID,
		messengerv1.ResolveRegistrationAnnotation, resolveSent, messengerv1.ResolveRegistrationAnnotation, resolveRetry)
	if v, set := rc.t.Annotations[messengerv1.ResolveRegistrationAnnotation]; set {
		msg = fmt.Sprintf("%s=%q is neither %q nor %q. %s", messengerv1.ResolveRegistrationAnnotation, v, resolveSent, resolveRetry, msg)
	}
	markStalled(rc.t, messengerv1.ReasonRequestInDoubt, msg)
	rc.setRegistered(metav1.ConditionUnknown, messengerv1.ReasonRequestInDoubt, msg)
	warnOnChange(rc.t, rc.emit, rc.before, "SendOptInRequest", msg)
	return ctrl.Result{}, nil
}

// failedBefore keeps the conditions of a request that failed for good; they hold Meta's answer. Only if
// something else replaced them does it say so in general terms.
func (rc *topicRun) failedBefore() (ctrl.Result, error) {
	if c := apimeta.FindStatusCondition(rc.t.Status.Conditions, messengerv1.ConditionStalled); c != nil &&
		c.Status == metav1.ConditionTrue && c.Reason != messengerv1.ReasonSecretNotFound && readyReason(rc.t) == c.Reason {
		return ctrl.Result{}, nil
	}
	rc.stall(messengerv1.ReasonRequestFailed, "The last opt-in request failed and is not sent again by itself. "+retryHint)
	return ctrl.Result{}, nil
}

// retryHint says what makes a request that failed for good go again.
const retryHint = "It is sent again when the spec or the token Secret changes, or when annotation " +
	messengerv1.RequestRegistrationAnnotation + " gets a new value."

// stall records a failure only a person can end.
func (rc *topicRun) stall(reason, msg string) {
	msg = rc.scrub(msg)
	markStalled(rc.t, reason, msg)
	rc.setRegistered(metav1.ConditionFalse, reason, msg)
	warnOnChange(rc.t, rc.emit, rc.before, "SendOptInRequest", msg)
}

// progress records a step or a failure the controller gets past by itself.
func (rc *topicRun) progress(reason, msg string, warn bool) {
	msg = rc.scrub(msg)
	markReconciling(rc.t, reason, msg)
	rc.setRegistered(metav1.ConditionFalse, reason, msg)
	if warn {
		warnOnChange(rc.t, rc.emit, rc.before, "SendOptInRequest", msg)
	}
}

func (rc *topicRun) setRegistered(status metav1.ConditionStatus, reason, msg string) {
	setCondition(rc.t, messengerv1.ConditionRegistered, status, reason, msg)
}

// requestKey fingerprints what makes a request a new one for Meta: the Page, the recipient and the title.
// It prefixes each requestID, so that a change of any of them asks for a new request.
func requestKey(t *messengerv1.NotificationTopic) string {
	sum := sha256.Sum256([]byte(t.Spec.Page.ID + "\x00" + t.Spec.Registration.RecipientID + "\x00" + t.Spec.Topic))
	return hex.EncodeToString(sum[:5])
}

// newRequestID is the key and a random part: two requests for the same key are still told apart.
func newRequestID(key string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return key + "-" + hex.EncodeToString(b)
}

func requestKeyOf(requestID string) string {
	key, _, _ := strings.Cut(requestID, "-")
	return key
}

// stamp formats a time for a condition message.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
