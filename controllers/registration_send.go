package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

const (
	// maxLimiterHold is the longest a worker waits for its Page's next call slot. A longer wait becomes a
	// requeue, so that one busy Page does not hold the workers other Pages need.
	maxLimiterHold = time.Second
	// callTimeout bounds one Send API call, which runs to its end even while the manager stops.
	callTimeout = 30 * time.Second
	// Rechecks of a missing token Secret: the Secret watch is what normally notices it; these catch what
	// a watch can miss, sooner at first, then less and less often.
	minSecretRecheck = 15 * time.Second
	maxSecretRecheck = 10 * time.Minute
)

// pageToken is the Page access token and the version of the Secret it came from.
type pageToken struct {
	value   string
	version string
}

// sendNew decides on a new request, records that intent and sends it.
func (rc *topicRun) sendNew(ctx context.Context, key string) (ctrl.Result, error) {
	tok, res, err := rc.readToken(ctx)
	if tok == nil {
		return res, err
	}
	st := &messengerv1.RegistrationStatus{
		RequestID:         newRequestID(key),
		Title:             rc.t.Spec.Topic,
		IntentTime:        &metav1.Time{Time: rc.now},
		RequestAnnotation: rc.t.Annotations[messengerv1.RequestRegistrationAnnotation],
	}
	rc.t.Status.Registration = st
	return rc.call(ctx, st, tok)
}

// retry makes the next attempt of the current request.
func (rc *topicRun) retry(ctx context.Context, st *messengerv1.RegistrationStatus) (ctrl.Result, error) {
	tok, res, err := rc.readToken(ctx)
	if tok == nil {
		return res, err
	}
	return rc.call(ctx, st, tok)
}

// call sends the request st describes. The intent of a first attempt is stored before; from then on,
// the call and the write of its answer run to their end even if the manager stops meanwhile.
func (rc *topicRun) call(ctx context.Context, st *messengerv1.RegistrationStatus, tok *pageToken) (ctrl.Result, error) {
	page := rc.t.Spec.Page.ID
	if d := rc.r.Graph.PausedFor(page); d > 0 {
		// Graph API asked for a pause: no call is made, so nothing can be in doubt.
		return rc.record(st, sendOutcome{requestID: st.RequestID, at: time.Now(), delay: d,
			err: &graph.ThrottledError{PageID: page, RetryAfter: d}})
	}
	if d := rc.r.limiter.delay(page, time.Now()); d > maxLimiterHold {
		next := metav1.NewTime(ceilSecond(time.Now().Add(d)))
		st.NextAttemptTime = &next
		rc.progress(messengerv1.ReasonProgressing, fmt.Sprintf("Waiting for a free slot of Page %s's request rate; "+
			"the opt-in request goes at %s", page, stamp(next.Time)), false)
		return requeueAt(next.Time), nil
	}
	if st.Attempts == 0 {
		st.NextAttemptTime = nil
		rc.progress(messengerv1.ReasonProgressing, fmt.Sprintf("Sending opt-in request %s for topic %q to recipient %s",
			st.RequestID, rc.t.Spec.Topic, rc.t.Spec.Registration.RecipientID), false)
		if err := rc.persistNow(ctx); err != nil {
			return ctrl.Result{}, err
		}
		st = rc.t.Status.Registration // the write replaced the status with the stored one
	} else {
		// A retry first moves its due time past the call (a lease), under the optimistic lock. A run on a
		// stale cached copy, which still shows the attempt due after this run has made it, then fails
		// this write with a conflict instead of calling a second time (TestTopicRequestInDoubt saw three
		// requests where a resolve said retry once); a process that stops mid-call leaves the attempt
		// due again when the lease ends.
		lease := metav1.NewTime(ceilSecond(time.Now().Add(2 * callTimeout)))
		st.NextAttemptTime = &lease
		if err := rc.persistNow(ctx); err != nil {
			return ctrl.Result{}, err
		}
		st = rc.t.Status.Registration
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	// The slot is booked only now, after the intent's write, so that the call leaves on time.
	time.Sleep(time.Until(rc.r.limiter.reserve(page, time.Now())))
	result, err := rc.r.Graph.SendOptInRequest(ctx, page, tok.value, optInRequest(rc.t))
	o := sendOutcome{requestID: st.RequestID, at: time.Now(), result: result, err: err,
		secretVersion: tok.version}
	if err != nil {
		o.message, o.delay = rc.scrub(err.Error()), rc.retryDelay(st, err)
	}
	rc.r.memory.putOutcome(rc.key, o)

	log := ctrl.LoggerFrom(ctx).WithValues("requestID", st.RequestID, "page", page)
	if err != nil {
		log.Info("opt-in request failed", "class", graph.Classify(err), "reason", graph.Reason(err),
			"attempt", st.Attempts+1, "error", o.message)
	} else {
		log.Info("sent opt-in request", "messageID", result.MessageID)
	}
	return rc.record(st, o)
}

// record writes the answer of a call into st and the conditions.
func (rc *topicRun) record(st *messengerv1.RegistrationStatus, o sendOutcome) (ctrl.Result, error) {
	rc.forget = o.requestID
	at := metav1.NewTime(o.at)
	if o.err == nil {
		st.SentTime, st.MessageID, st.Attempts, st.NextAttemptTime = &at, o.result.MessageID, 0, nil
		return rc.sent(st, fmt.Sprintf("Opt-in request %s for topic %q sent to recipient %s (message %s)",
			st.RequestID, rc.t.Spec.Topic, rc.t.Spec.Registration.RecipientID, o.result.MessageID))
	}
	reason, msg := graph.Reason(o.err), o.message
	if msg == "" {
		msg = o.err.Error()
	}
	if graph.OutcomeUnknown(o.err) {
		// The request was sent and its answer lost: it may have reached the recipient. Sending it again
		// could deliver it twice, so it is in doubt, as after a crash, until the opt-in arrives or a person
		// decides. The status returns to "a call under way", which is how a restart sees it too.
		st.Attempts, st.NextAttemptTime = 0, nil
		rc.lostAnswer = msg
		return rc.inDoubt(st)
	}
	next := metav1.NewTime(ceilSecond(o.at.Add(o.delay)))
	switch graph.Classify(o.err) {
	case graph.Permanent:
		if reason == graph.ReasonRequestLimitReached && st.Attempts > 0 {
			// The rule refuses a repeat only of a request that arrived: one of the earlier attempts did.
			st.SentTime, st.MessageID, st.Attempts, st.NextAttemptTime = &at, "", 0, nil
			return rc.sent(st, fmt.Sprintf("Meta refused to repeat opt-in request %s within the week, so an earlier attempt "+
				"whose answer was lost reached recipient %s", st.RequestID, rc.t.Spec.Registration.RecipientID))
		}
		st.Attempts++
		st.NextAttemptTime = nil
		rc.r.memory.setFailure(rc.key, failure{requestID: st.RequestID, secretVersion: o.secretVersion})
		rc.stall(reason, fmt.Sprintf("Meta refused the opt-in request for topic %q: %s. %s%s",
			rc.t.Spec.Topic, msg, rc.hint(reason), retryHint))
		return ctrl.Result{}, nil
	case graph.Throttled:
		st.NextAttemptTime = &next
		rc.progress(messengerv1.ReasonRateLimited, fmt.Sprintf("Graph API is rate limiting Page %s: %s; "+
			"the opt-in request goes at %s", rc.t.Spec.Page.ID, msg, stamp(next.Time)), true)
	default:
		st.Attempts++
		st.NextAttemptTime = &next
		rc.progress(reason, fmt.Sprintf("The Send API call failed (attempt %d): %s; the next attempt is at %s",
			st.Attempts, msg, stamp(next.Time)), true)
	}
	return requeueAt(next.Time), nil
}

// sent records a request that reached the recipient.
func (rc *topicRun) sent(st *messengerv1.RegistrationStatus, note string) (ctrl.Result, error) {
	rc.emit(corev1.EventTypeNormal, "RequestSent", "SendOptInRequest", note)
	if confirmed(rc.t, st) {
		return rc.registered(st)
	}
	return rc.awaiting(st)
}

// retryDelay is the wait after a failed call: what Graph API asked for when it throttles, the backoff of
// the attempt count (kept in status, so it survives restarts) for transient failures.
func (rc *topicRun) retryDelay(st *messengerv1.RegistrationStatus, err error) time.Duration {
	switch graph.Classify(err) {
	case graph.Throttled:
		if d, ok := graph.RetryAfter(err); ok {
			return d
		}
		return rc.r.Backoff.Duration(1)
	case graph.Transient:
		d, _ := rc.r.Backoff.Delay(err, int(st.Attempts)+1)
		return d
	}
	return 0
}

// readToken reads the Page access token with the API reader: the Secret is a person's, not in the
// cache. A missing Secret or key makes the topic wait until the Secret watch sees it appear; tok is nil then.
func (rc *topicRun) readToken(ctx context.Context) (tok *pageToken, res ctrl.Result, err error) {
	ref := rc.t.Spec.AccessTokenSecretRef
	if ref == nil {
		err := errors.New("spec.registration needs spec.accessTokenSecretRef: the Send API call needs the Page access token")
		stallInvalid(rc.t, rc.emit, rc.before, err)
		rc.setRegistered(metav1.ConditionFalse, messengerv1.ReasonInvalidSpec, err.Error())
		return nil, ctrl.Result{}, nil
	}
	var s corev1.Secret
	err = rc.r.APIReader.Get(ctx, types.NamespacedName{Namespace: rc.t.Namespace, Name: ref.Name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, rc.tokenMissing(fmt.Sprintf("Secret %s not found: create it with the Page access token under key %q; "+
			"the topic goes on by itself once it exists", ref.Name, ref.Key)), nil
	case err != nil:
		return nil, ctrl.Result{}, fmt.Errorf("reading Secret %s: %w", ref.Name, err)
	}
	value := strings.TrimSpace(string(s.Data[ref.Key])) // a trailing newline from `echo` is not part of a token
	if value == "" {
		return nil, rc.tokenMissing(fmt.Sprintf("Secret %s has no key %q, or it is empty: put the Page access token there; "+
			"the topic goes on by itself once it does", ref.Name, ref.Key)), nil
	}
	rc.token = value
	return &pageToken{value: value, version: s.ResourceVersion}, ctrl.Result{}, nil
}

// tokenMissing records the wait for the token Secret and looks again later, backing off with the time
// the Secret has been missing (read from the condition, so it survives restarts). It is not Stalled: the
// Secret often comes a moment later by itself (External Secrets, a sealed secret, a second kubectl apply),
// and the topic then goes on without a person.
func (rc *topicRun) tokenMissing(msg string) ctrl.Result {
	missingFor := time.Duration(0)
	if c := apimeta.FindStatusCondition(rc.t.Status.Conditions, messengerv1.ConditionReconciling); c != nil &&
		c.Status == metav1.ConditionTrue && c.Reason == messengerv1.ReasonSecretNotFound {
		// When Reconciling was True already for another reason, its transition time is older than the
		// wait and the recheck backs off faster; the Secret watch, not the recheck, normally notices it.
		missingFor = rc.now.Sub(c.LastTransitionTime.Time)
	}
	rc.progress(messengerv1.ReasonSecretNotFound, msg, true)
	return ctrl.Result{RequeueAfter: min(max(missingFor, minSecretRecheck), maxSecretRecheck)}
}

// tokenChanged reports whether the token Secret changed since the current request failed with it. After
// a restart that version is not known: the present one becomes the reference, and the next change counts.
func (rc *topicRun) tokenChanged(ctx context.Context, st *messengerv1.RegistrationStatus) bool {
	ref := rc.t.Spec.AccessTokenSecretRef
	if ref == nil {
		return false
	}
	m := secretMetadata()
	version := ""
	if err := rc.r.APIReader.Get(ctx, types.NamespacedName{Namespace: rc.t.Namespace, Name: ref.Name}, m); err == nil {
		version = m.ResourceVersion
	} else if !apierrors.IsNotFound(err) {
		ctrl.LoggerFrom(ctx).Error(err, "reading the token Secret's version", "secret", ref.Name)
		return false
	}
	f, ok := rc.r.memory.failure(rc.key)
	if !ok || f.requestID != st.RequestID {
		rc.r.memory.setFailure(rc.key, failure{requestID: st.RequestID, secretVersion: version})
		return false
	}
	return version != f.secretVersion
}

// hint tells a person what to do about a refusal.
func (rc *topicRun) hint(reason string) string {
	switch reason {
	case graph.ReasonInvalidToken:
		ref := rc.t.Spec.AccessTokenSecretRef
		return fmt.Sprintf("Put a valid Page access token under key %q of Secret %s. ", ref.Key, ref.Name)
	case graph.ReasonPermissionDenied:
		return "The app or the token lacks a permission the Send API needs, such as pages_messaging. "
	case graph.ReasonTopicRestricted:
		return "Meta does not offer recurring notifications to this Page, app or region. "
	case graph.ReasonRecipientOptedOut:
		return "The recipient stopped notifications from the Page. "
	case graph.ReasonRecipientUnavailable:
		return "The recipient must have messaged the Page within the last 24 hours. "
	case graph.ReasonPolicyBlocked:
		return "The Page or app is blocked for a policy violation; wait until Meta lifts it. "
	case graph.ReasonRequestLimitReached:
		return "Meta allows one opt-in request per title per person per week. "
	case graph.ReasonInvalidRequest:
		return "Check spec.registration. "
	}
	return ""
}

func optInRequest(t *messengerv1.NotificationTopic) graph.OptInRequest {
	r := t.Spec.Registration
	return graph.OptInRequest{
		RecipientID:      r.RecipientID,
		Title:            t.Spec.Topic,
		Payload:          r.Payload,
		ImageURL:         r.ImageURL,
		ImageAspectRatio: r.ImageAspectRatio,
		Timezone:         r.Timezone,
		CTAText:          r.CTAText,
		APIVersion:       t.Spec.GraphAPIVersion,
	}
}

// ceilSecond rounds t up to whole seconds, as status stores times: an attempt is never made early.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); r.Before(t) {
		return r.Add(time.Second)
	}
	return t
}

// requeueAt reconciles again at t (at once if t has passed).
func requeueAt(t time.Time) ctrl.Result {
	return ctrl.Result{RequeueAfter: max(time.Until(t), 10*time.Millisecond)}
}
