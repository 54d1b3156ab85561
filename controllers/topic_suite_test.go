package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/scheme"
)

// The suite's Graph API: one emulator and one client, as a manager has one. Tests use a Page each
// (pageID of their namespace), so their faults, pauses and request counts never mix.
var (
	emu         *graphtest.Server
	graphClient *graph.Client
	// emuOffset moves the emulator's clock forward, for Meta's weekly rule.
	emuOffset atomic.Int64
)

const (
	// pageRate is the suite's per-Page call rate, and the benchmark's.
	pageRate = 20
	// recipient is the registration recipient of the test topics.
	recipient = "7001234567"
)

// registrationBackoff keeps retries quick and their times exact (no jitter).
var registrationBackoff = graph.Backoff{Base: 300 * time.Millisecond, Max: 2 * time.Second, Jitter: -1}

func startGraphEmulator() (stop func(), err error) {
	emu = graphtest.New(graphtest.WithClock(func() time.Time {
		return time.Now().Add(time.Duration(emuOffset.Load()))
	}))
	graphClient, err = graph.New(graph.WithBaseURL(emu.URL), graph.WithHTTPClient(emu.Client()),
		// A throttling answer without a regain time pauses a Page this long (Meta's default is a minute).
		graph.WithThrottlePause(time.Second))
	if err != nil {
		emu.Close()
		return nil, err
	}
	return emu.Close, nil
}

// tokenFor is a namespace's Page token: distinct, so that a test can look for it in every message.
func tokenFor(ns string) string { return "EAAGpagetoken" + strings.ReplaceAll(ns, "-", "") }

// newTopic returns a topic with a registration, on the namespace's own Page, whose Page is known to the
// emulator with the namespace's token.
func newTopic(ns, name string, mutate ...func(*messengerv1.NotificationTopic)) *messengerv1.NotificationTopic {
	emu.AddPage(pageID(ns), tokenFor(ns))
	t := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: messengerv1.NotificationTopicSpec{
			Page:    messengerv1.PageRef{ID: pageID(ns), Username: "acme.shoes"},
			Topic:   "Weekly deals",
			Cadence: messengerv1.CadenceWeekly,
			Registration: &messengerv1.RegistrationSpec{
				RecipientID: recipient, Payload: "registration-" + name, CTAText: "GET_UPDATES",
				ImageURL: "https://acme.example/deals.png",
			},
			AccessTokenSecretRef: &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"},
		},
	}
	for _, m := range mutate {
		m(t)
	}
	return t
}

// createTokenSecret stores value under the key the test topics use.
func createTokenSecret(t testing.TB, ns, value string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "page-token"},
		Data: map[string][]byte{"token": []byte(value + "\n")}} // as `echo` leaves it
	if err := k8sClient.Create(context.Background(), s); err != nil {
		t.Fatalf("creating the token Secret: %v", err)
	}
}

// pageRequests returns the requests the emulator received for page.
func pageRequests(page string) []graphtest.Request {
	var out []graphtest.Request
	for _, r := range emu.Requests() {
		if r.PageID == page {
			out = append(out, r)
		}
	}
	return out
}

// waitTopic waits until the topic's Ready and Registered conditions, for its current generation, have
// the given reasons ("" for Registered: absent), and returns the topic.
func waitTopic(t *testing.T, key client.ObjectKey, readyReason, registeredReason string) *messengerv1.NotificationTopic {
	t.Helper()
	var got *messengerv1.NotificationTopic
	eventually(t, wait, func() error {
		tp := &messengerv1.NotificationTopic{}
		if err := k8sClient.Get(context.Background(), key, tp); err != nil {
			return err
		}
		if tp.Status.ObservedGeneration != tp.Generation {
			return fmt.Errorf("status describes generation %d, topic is at %d", tp.Status.ObservedGeneration, tp.Generation)
		}
		ready := apimeta.FindStatusCondition(tp.Status.Conditions, messengerv1.ConditionReady)
		reg := apimeta.FindStatusCondition(tp.Status.Conditions, messengerv1.ConditionRegistered)
		switch {
		case ready == nil || ready.Reason != readyReason || ready.ObservedGeneration != tp.Generation:
			return fmt.Errorf("Ready = %+v, want reason %s", ready, readyReason)
		case registeredReason == "" && reg != nil:
			return fmt.Errorf("Registered = %+v, want none", reg)
		case registeredReason != "" && (reg == nil || reg.Reason != registeredReason):
			return fmt.Errorf("Registered = %+v, want reason %s", reg, registeredReason)
		}
		got = tp
		return nil
	})
	return got
}

func condition(tp *messengerv1.NotificationTopic, typ string) metav1.Condition {
	if c := apimeta.FindStatusCondition(tp.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// confirm writes the recipient's opt-in into status as the webhook server does.
func confirm(t testing.TB, tp *messengerv1.NotificationTopic) {
	t.Helper()
	base := tp.DeepCopy()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	tp.Status.OptIns = &messengerv1.OptInStats{Total: 1, Active: 1, LastTime: &now, ConfirmedTime: &now,
		ConfirmedRequestID: tp.Status.Registration.RequestID}
	if err := k8sClient.Status().Patch(context.Background(), tp, client.MergeFrom(base)); err != nil {
		t.Fatalf("writing the confirmation: %v", err)
	}
}

// annotate sets an annotation on the topic.
func annotate(t testing.TB, key client.ObjectKey, name, value string) {
	t.Helper()
	tp := &messengerv1.NotificationTopic{}
	if err := k8sClient.Get(context.Background(), key, tp); err != nil {
		t.Fatal(err)
	}
	base := tp.DeepCopy()
	metav1.SetMetaDataAnnotation(&tp.ObjectMeta, name, value)
	if err := k8sClient.Patch(context.Background(), tp, client.MergeFrom(base)); err != nil {
		t.Fatalf("annotating: %v", err)
	}
}

// topicEvents returns the notes of the events about topics in ns, as "reason: note".
func topicEvents(t testing.TB, ns string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "NotificationTopic" {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

// checkNoToken fails if the namespace's token appears in any condition or event of its topics.
func checkNoToken(t testing.TB, ns string) {
	t.Helper()
	token := tokenFor(ns)
	var topics messengerv1.NotificationTopicList
	if err := k8sClient.List(context.Background(), &topics, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics.Items {
		for _, c := range tp.Status.Conditions {
			if strings.Contains(c.Message, token) || strings.Contains(c.Reason, token) {
				t.Errorf("condition %s of %s carries the token: %s", c.Type, tp.Name, c.Message)
			}
		}
	}
	for _, e := range topicEvents(t, ns) {
		if strings.Contains(e, token) {
			t.Errorf("event carries the token: %s", e)
		}
	}
}

// replaceSuiteManager stops the suite's manager for the rest of the test, for tests that run their own
// (startTopicManager); it comes back when the test ends.
func replaceSuiteManager(t *testing.T) {
	t.Helper()
	if err := stopManager(); err != nil {
		t.Fatalf("stopping the suite's manager: %v", err)
	}
	t.Cleanup(func() {
		if err := startManager(); err != nil {
			t.Fatalf("restarting the suite's manager: %v", err)
		}
	})
}

// startTopicManager runs a manager with only the NotificationTopic controller, whose client the
// interceptor funcs wrap. The returned function stops it, and with it all it held in memory, as a crash
// would; it also runs when the test ends, before the suite's manager comes back.
func startTopicManager(t *testing.T, funcs interceptor.Funcs) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cacheOpts, err := index.CacheOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Cache: cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &controllers.NotificationTopicReconciler{
		Client:    interceptor.NewClient(cachedWithWatch{mgr.GetClient()}, funcs),
		APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("mmelink-controller"),
		Graph: graphClient, PageRate: pageRate, Backoff: registrationBackoff, SkipNameValidation: true,
	}
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil { // the claims are looked up by index
		t.Fatal(err)
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.CompareAndSwap(false, true) {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("test manager: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// cachedWithWatch lets the interceptor wrap the manager's cached client, which has no Watch.
type cachedWithWatch struct{ client.Client }

func (cachedWithWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("watch is not supported")
}

// failingOutcomeWrites makes every status write that records a Send API answer fail, and counts them.
func failingOutcomeWrites(failed *atomic.Int64, times int64) interceptor.Funcs {
	return interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if tp, ok := obj.(*messengerv1.NotificationTopic); ok && sub == "status" {
				if r := tp.Status.Registration; r != nil && (r.SentTime != nil || r.Attempts > 0 || r.NextAttemptTime != nil) {
					if times < 0 || failed.Load() < times {
						failed.Add(1)
						return errors.New("injected: the API server did not answer")
					}
				}
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
}
