package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// Meta accepted the request, then the status write of its answer failed: the answer is written later
// from memory, and the request is not sent a second time.
func TestTopicAnswerWrittenAfterFailedWrite(t *testing.T) {
	replaceSuiteManager(t)
	var failed atomic.Int64
	startTopicManager(t, failingOutcomeWrites(&failed, 1))

	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	topic := newTopic(ns, "deals")
	create(t, topic)
	got := waitTopic(t, client.ObjectKeyFromObject(topic), messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)

	if failed.Load() != 1 {
		t.Fatalf("%d failed writes of the answer, want 1 (the test proves nothing otherwise)", failed.Load())
	}
	if got.Status.Registration.MessageID == "" {
		t.Errorf("the answer's message ID was not written: %+v", got.Status.Registration)
	}
	consistently(t, time.Second, func() error {
		if n := len(pageRequests(pageID(ns))); n != 1 {
			return fmt.Errorf("%d requests, want 1", n)
		}
		return nil
	})
}

// The operator stops between the intent and the answer's write: after a restart the request is in
// doubt. Nothing is sent by guessing; a person settles it with the resolve annotation, which acts once.
func TestTopicRequestInDoubt(t *testing.T) {
	cases := []struct {
		name string
		// lost makes the first call fail (after which the operator stops): the request never arrived.
		lost    bool
		resolve string
		// requests is how many reached Meta in the end.
		requests  int
		messageID bool
	}{
		{name: "arrived, settled as sent", resolve: "sent", requests: 1},
		// Meta refuses the repeat under its weekly rule, which tells that the first one arrived.
		{name: "arrived, sent again", resolve: "retry", requests: 2},
		{name: "lost, sent again", lost: true, resolve: "retry", requests: 2, messageID: true},
	}
	replaceSuiteManager(t)
	var failed atomic.Int64
	crash := startTopicManager(t, failingOutcomeWrites(&failed, -1))

	keys := make([]client.ObjectKey, len(cases))
	for i, tc := range cases {
		ns := newNamespace(t)
		if tc.lost {
			emu.FailNext(pageID(ns), 2, 0, 0, 1)
		}
		createTokenSecret(t, ns, tokenFor(ns))
		topic := newTopic(ns, "deals")
		create(t, topic)
		keys[i] = client.ObjectKeyFromObject(topic)
	}
	// Each intent is stored and each call made; the answers cannot be written. Then the operator stops.
	eventually(t, wait, func() error {
		for _, key := range keys {
			tp := &messengerv1.NotificationTopic{}
			if err := k8sClient.Get(context.Background(), key, tp); err != nil {
				return err
			}
			if r := tp.Status.Registration; r == nil || r.IntentTime == nil || len(pageRequests(pageID(key.Namespace))) != 1 {
				return fmt.Errorf("%s: registration %+v", key, r)
			}
		}
		if failed.Load() < int64(len(keys)) {
			return fmt.Errorf("%d failed writes of answers", failed.Load())
		}
		return nil
	})
	crash()
	startTopicManager(t, interceptor.Funcs{})

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, page := keys[i], pageID(keys[i].Namespace)
			got := waitTopic(t, key, messengerv1.ReasonRequestInDoubt, messengerv1.ReasonRequestInDoubt)
			if c := condition(got, messengerv1.ConditionRegistered); c.Status != metav1.ConditionUnknown {
				t.Errorf("Registered = %+v, want Unknown", c)
			}
			stalled := condition(got, messengerv1.ConditionStalled)
			for _, want := range []string{messengerv1.ResolveRegistrationAnnotation + "=sent", messengerv1.ResolveRegistrationAnnotation + "=retry"} {
				if stalled.Status != metav1.ConditionTrue || !strings.Contains(stalled.Message, want) {
					t.Errorf("Stalled = %+v, want it to tell about %s", stalled, want)
				}
			}
			consistently(t, time.Second, func() error {
				if n := len(pageRequests(page)); n != 1 {
					return fmt.Errorf("%d requests while in doubt, want 1", n)
				}
				return nil
			})

			annotate(t, key, messengerv1.ResolveRegistrationAnnotation, tc.resolve)
			got = waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
			if n := len(pageRequests(page)); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if (got.Status.Registration.MessageID != "") != tc.messageID {
				t.Errorf("message ID %q, want one: %v", got.Status.Registration.MessageID, tc.messageID)
			}
			// Acted on once: the annotation is gone, so it cannot settle a later request.
			eventually(t, wait, func() error {
				tp := &messengerv1.NotificationTopic{}
				if err := k8sClient.Get(context.Background(), key, tp); err != nil {
					return err
				}
				if v, ok := tp.Annotations[messengerv1.ResolveRegistrationAnnotation]; ok {
					return fmt.Errorf("annotation still set to %q", v)
				}
				if n := countPrefix(topicEvents(t, key.Namespace), "RequestResolved: "); n != 1 {
					return fmt.Errorf("%d RequestResolved events, want 1", n)
				}
				return nil
			})
			checkNoToken(t, key.Namespace)
		})
	}
}

// The token Secret is missing, or lacks the key: the topic says which, and goes on by itself as soon as
// the Secret is right, well before its slow periodic recheck (15s): the Secret watch works.
func TestTopicWaitsForTokenSecret(t *testing.T) {
	cases := []struct {
		name     string
		initial  map[string][]byte // nil: no Secret
		inReason string
	}{
		{name: "Secret missing", inReason: "Secret page-token not found"},
		{name: "key missing", initial: map[string][]byte{"other": []byte("x")}, inReason: `Secret page-token has no key "token"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ns := newNamespace(t)
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "page-token"}, Data: tc.initial}
			if tc.initial != nil {
				if err := k8sClient.Create(ctx, secret); err != nil {
					t.Fatal(err)
				}
			}
			topic := newTopic(ns, "deals")
			create(t, topic)
			key := client.ObjectKeyFromObject(topic)

			// Not Stalled: it ends without a person (External Secrets may create the Secret a moment later),
			// and kstatus would report a Stalled topic as Failed, Argo CD as Degraded.
			got := waitTopic(t, key, messengerv1.ReasonSecretNotFound, messengerv1.ReasonSecretNotFound)
			if c := condition(got, messengerv1.ConditionReady); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, tc.inReason) {
				t.Errorf("Ready = %+v, want False with a message with %q", c, tc.inReason)
			}
			if c := condition(got, messengerv1.ConditionReconciling); c.Status != metav1.ConditionTrue || c.Reason != messengerv1.ReasonSecretNotFound {
				t.Errorf("Reconciling = %+v, want True, reason %s", c, messengerv1.ReasonSecretNotFound)
			}
			if c := condition(got, messengerv1.ConditionStalled); c.Status == metav1.ConditionTrue {
				t.Errorf("Stalled = %+v, want it absent or False", c)
			}
			if n := len(pageRequests(pageID(ns))); n != 0 {
				t.Errorf("%d requests without a token", n)
			}

			secret.Data = map[string][]byte{"token": []byte(tokenFor(ns))}
			if tc.initial == nil {
				err := k8sClient.Create(ctx, secret)
				if err != nil {
					t.Fatal(err)
				}
			} else if err := k8sClient.Update(ctx, secret); err != nil {
				t.Fatal(err)
			}
			fixed := time.Now()
			waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
			if d := time.Since(fixed); d > 10*time.Second {
				t.Errorf("recovered %s after the fix: the Secret watch did not trigger it", d)
			}
			checkNoToken(t, ns)
		})
	}
}

// A request that failed for good is sent again when a person fixes the cause: the token in the Secret,
// or the spec. Not before.
func TestTopicRetriesAfterFix(t *testing.T) {
	cases := []struct {
		name    string
		stalled string
		wrong   string // token the Secret holds at first ("" for the right one)
		fail    func(page string)
		fix     func(t *testing.T, ns string, key client.ObjectKey)
	}{
		{name: "token replaced in the Secret", stalled: "InvalidToken", wrong: "EAAGrevokedtoken",
			fix: func(t *testing.T, ns string, _ client.ObjectKey) {
				s := &corev1.Secret{}
				if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "page-token"}, s); err != nil {
					t.Fatal(err)
				}
				s.Data["token"] = []byte(tokenFor(ns))
				if err := k8sClient.Update(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "spec changed", stalled: "PermissionDenied", fail: func(page string) { emu.FailNext(page, 200, 0, 0, 1) },
			fix: func(t *testing.T, _ string, key client.ObjectKey) {
				tp := &messengerv1.NotificationTopic{}
				if err := k8sClient.Get(context.Background(), key, tp); err != nil {
					t.Fatal(err)
				}
				tp.Spec.Registration.CTAText = "OPT_IN"
				if err := k8sClient.Update(context.Background(), tp); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			if tc.fail != nil {
				tc.fail(pageID(ns))
			}
			token := tokenFor(ns)
			if tc.wrong != "" {
				token = tc.wrong
			}
			createTokenSecret(t, ns, token)
			topic := newTopic(ns, "deals")
			create(t, topic)
			key := client.ObjectKeyFromObject(topic)
			waitTopic(t, key, tc.stalled, tc.stalled)

			tc.fix(t, ns, key)
			waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
			if n := len(pageRequests(pageID(ns))); n != 2 {
				t.Errorf("%d requests, want 2: the failed one and the one after the fix", n)
			}
		})
	}
}

// Meta allows one opt-in request per title per person per week: a new request asked for earlier waits
// until the week is over, and says until when.
func TestTopicWeekRule(t *testing.T) {
	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	topic := newTopic(ns, "deals")
	create(t, topic)
	key := client.ObjectKeyFromObject(topic)
	got := waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
	confirm(t, got)
	got = waitTopic(t, key, messengerv1.ReasonConfirmed, messengerv1.ReasonConfirmed)
	first := got.Status.Registration.RequestID

	// The request went out six days ago; a person asks for a new one.
	sentAt := backdateSent(t, got, 6*24*time.Hour)
	annotate(t, key, messengerv1.RequestRegistrationAnnotation, "second")
	got = waitTopic(t, key, messengerv1.ReasonRequestLimitReached, messengerv1.ReasonConfirmed)
	allowed := sentAt.Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if msg := condition(got, messengerv1.ConditionReady).Message; !strings.Contains(msg, allowed) {
		t.Errorf("Ready message lacks the date %s: %s", allowed, msg)
	}
	consistently(t, time.Second, func() error {
		if n := len(pageRequests(pageID(ns))); n != 1 {
			return fmt.Errorf("%d requests within the week, want 1", n)
		}
		return nil
	})

	// Eight days later (for Meta too), the next new value is sent.
	emuOffset.Store(int64(8 * 24 * time.Hour))
	t.Cleanup(func() { emuOffset.Store(0) })
	backdateSent(t, got, 8*24*time.Hour)
	annotate(t, key, messengerv1.RequestRegistrationAnnotation, "third")
	got = waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
	reg := got.Status.Registration
	if reg.RequestID == first || reg.RequestAnnotation != "third" || reg.MessageID == "" {
		t.Errorf("status.registration = %+v, want a new request for annotation value third", reg)
	}
	if n := len(pageRequests(pageID(ns))); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// backdateSent moves status.registration.sentTime into the past and returns it.
func backdateSent(t *testing.T, tp *messengerv1.NotificationTopic, ago time.Duration) time.Time {
	t.Helper()
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tp), tp); err != nil {
		t.Fatal(err)
	}
	base := tp.DeepCopy()
	sent := metav1.NewTime(time.Now().Add(-ago).Truncate(time.Second))
	tp.Status.Registration.SentTime = &sent
	if err := k8sClient.Status().Patch(context.Background(), tp, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	return sent.Time
}
