package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

const (
	// statusWriteTimeout bounds the final status write, which runs even while the manager stops.
	statusWriteTimeout = 10 * time.Second
	// conflictRetry is how soon a topic read from a stale cache is reconciled again.
	conflictRetry = 100 * time.Millisecond
)

// NotificationTopicReconciler writes each NotificationTopic's m.me/rn link and QR codes into its
// ConfigMap and registers the topic with Meta: it sends the opt-in request to the registration recipient
// and waits for the opt-in that the webhook server records in status.optIns.
//
// Every Send API call is preceded by a status write of the intent that must succeed, and followed by a
// write of the answer; all its status writes carry the resourceVersion they were computed from, so that
// no decision is taken on a stale cached copy (which could send a request a second time).
type NotificationTopicReconciler struct {
	client.Client
	// APIReader reads from the API server directly: the Page token Secret is not in the cache.
	APIReader client.Reader
	// Recorder records events about topics, once the status that explains them is stored.
	Recorder events.EventRecorder
	// Graph calls the Send API; one client for the manager, which holds the per-Page pauses.
	Graph *graph.Client
	// PageRate is how many Send API calls per second go to one Page; default DefaultGraphPageRate,
	// negative for no limit.
	PageRate float64
	// Backoff schedules attempts after transient failures; default graph.DefaultBackoff().
	Backoff graph.Backoff
	// RecheckInterval overrides DefaultRecheckInterval.
	RecheckInterval time.Duration
	// MaxConcurrentReconciles defaults to DefaultWorkers.
	MaxConcurrentReconciles int
	// SkipNameValidation lets tests run a second manager in one process.
	SkipNameValidation bool

	limiter *pageLimiter
	memory  *registrationMemory
	secrets *secretWatch // shared with the other controllers by Setup
}

// TopicTokenSecretIndex indexes NotificationTopics by the name of their token Secret (same namespace).
const TopicTokenSecretIndex = "messenger.mmelink.io/token-secret"

func indexTopicsByTokenSecret(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &messengerv1.NotificationTopic{}, TopicTokenSecretIndex,
		func(o client.Object) []string {
			if ref := o.(*messengerv1.NotificationTopic).Spec.AccessTokenSecretRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("indexing NotificationTopics by token Secret: %w", err)
	}
	return nil
}

// +kubebuilder:rbac:groups=messenger.mmelink.io,resources=notificationtopics,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=messenger.mmelink.io,resources=notificationtopics/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one NotificationTopic's ConfigMap, registration and status in line with its spec.
func (r *NotificationTopicReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &messengerv1.NotificationTopic{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		if apierrors.IsNotFound(err) {
			r.memory.drop(req.NamespacedName)
			conditionObjects.forget(kindTopic, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !t.DeletionTimestamp.IsZero() {
		conditionObjects.forget(kindTopic, req.NamespacedName)
		return ctrl.Result{}, nil // the ConfigMap and token Secrets are owned by the topic and go with it
	}
	rc := &topicRun{r: r, t: t, status: newStatusPatcher(r.Client, t, topicStatusOf, true), key: req.NamespacedName, now: time.Now().Truncate(time.Second),
		before: readyReason(t), specChanged: t.Status.ObservedGeneration != t.Generation}
	result, recErr := rc.reconcile(ctx)
	if rc.writeFailed {
		// A write inside the run failed: what the run holds must not be stored, as it may record an
		// intent to call without the call.
		return rc.retryAfterWriteFailure(ctx, recErr)
	}
	// The write runs to its end even when the manager stops: it may record a call already made.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
	defer cancel()
	if err := rc.persist(wctx); client.IgnoreNotFound(err) != nil { // a deleted topic needs no status
		return rc.retryAfterWriteFailure(ctx, errors.Join(recErr, err))
	}
	conditionObjects.observe(kindTopic, req.NamespacedName, t)
	return result, recErr
}

// topicRun is one reconcile of one topic.
type topicRun struct {
	r *NotificationTopicReconciler
	t *messengerv1.NotificationTopic
	// status writes t's status, each write with the resourceVersion it was computed from.
	status *statusPatcher[*messengerv1.NotificationTopic, topicStatus]
	key    types.NamespacedName
	// now is the time of the run, whole seconds as status stores it.
	now time.Time
	// before is the Ready reason when the run began; warnings are recorded when it changes.
	before string
	// specChanged reports a spec the status does not describe yet.
	specChanged bool
	// token is the Page access token once read, scrubbed from every message.
	token string

	events      []pendingEvent
	forget      string // requestID whose outcome is stored by the next successful write
	lostAnswer  string // why the current request is in doubt, when Meta's answer was lost rather than a crash
	writeFailed bool
}

type pendingEvent struct{ eventType, reason, action, note string }

// reconcile writes the link, then registers the topic.
func (rc *topicRun) reconcile(ctx context.Context) (ctrl.Result, error) {
	t := rc.t
	url, err := recurringURL(t)
	if err != nil {
		stallInvalid(t, rc.emit, rc.before, err)
		return ctrl.Result{}, nil
	}
	if allowed, err := pageGate(ctx, rc.r.Client, t, t.Spec.Page.ID); err != nil {
		markReconciling(t, messengerv1.ReasonWriteFailed, err.Error())
		return ctrl.Result{}, err
	} else if !allowed {
		// No claim: no opt-ins attributed, no registration request sent for a Page it may not use.
		t.Status.Claim = ""
		return ctrl.Result{}, nil
	}
	claims, err := topicClaims.claimants(ctx, rc.r.Client, t.PageTopicKey())
	if err != nil {
		markReconciling(t, messengerv1.ReasonWriteFailed, err.Error())
		return ctrl.Result{}, err
	}
	if holder := claimHolder(t, claims); holder != nil {
		// Meta's opt-ins name only the Page and the title: this topic would get none, and a registration
		// request would ask the recipient about the other topic's title.
		t.Status.Claim = ""
		msg := fmt.Sprintf("topic %q of Page %s is held by NotificationTopic %s/%s, which claimed it before this topic; "+
			"this one is not registered and gets no opt-ins: change the topic or delete the other NotificationTopic",
			t.Spec.Topic, t.Spec.Page.ID, holder.GetNamespace(), holder.GetName())
		markStalled(t, messengerv1.ReasonTopicConflict, msg)
		if t.Spec.Registration != nil {
			rc.setRegistered(metav1.ConditionFalse, messengerv1.ReasonTopicConflict, msg)
		}
		warnOnChange(t, rc.emit, rc.before, "ClaimTopic", msg)
		return ctrl.Result{}, nil
	}
	t.Status.Claim = t.PageTopicKey()
	name := t.GetConfigMapName()
	lp := &configMapPublisher{
		writer:  &configMapWriter{Client: rc.r.Client, APIReader: rc.r.APIReader, Scheme: rc.r.Scheme()},
		recheck: recheckOrDefault(rc.r.RecheckInterval),
		emit:    rc.emit,
	}
	ok, res, err := lp.publish(ctx, t, publication{
		Kind: "NotificationTopic", NameLabel: messengerv1.TopicNameLabel, Name: name,
		Out: &configMapContent{Kind: "NotificationTopic", URL: url, QR: t.Spec.QR},
	})
	if !ok {
		return res, err
	}
	t.Status.URL = url
	t.Status.ConfigMapName = name
	if t.Spec.Registration == nil {
		removeCondition(t, messengerv1.ConditionRegistered)
		markReady(t, messengerv1.ReasonSucceeded, "Link and QR codes are in ConfigMap "+name+
			"; the topic is not registered by the operator (spec.registration is not set)")
		return ctrl.Result{}, nil
	}
	return rc.register(ctx)
}

// persist stores the status if it changed, with the resourceVersion it was computed from, then records
// the events it explains and forgets the Send API answer it holds. A deleted topic is an error here: an
// intent must be stored before its call.
func (rc *topicRun) persist(ctx context.Context) error {
	t := rc.t
	t.Status.ObservedGeneration = t.Generation
	if err := rc.status.patch(ctx, t); err != nil {
		return err
	}
	if rc.forget != "" {
		rc.r.memory.forgetOutcome(rc.key, rc.forget)
		rc.forget = ""
	}
	for _, e := range rc.events {
		rc.r.Recorder.Eventf(t, nil, e.eventType, e.reason, e.action, "%s", e.note)
	}
	rc.events = nil
	return nil
}

// persistNow stores the status in the middle of a run; a failure ends the run without a further write.
func (rc *topicRun) persistNow(ctx context.Context) error {
	if err := rc.persist(ctx); err != nil {
		rc.writeFailed = true
		return err
	}
	return nil
}

// retryAfterWriteFailure turns a failed write into a retry. A conflict means the cached topic was stale
// (or the webhook server wrote meanwhile): read again soon, no error to log.
func (rc *topicRun) retryAfterWriteFailure(ctx context.Context, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		ctrl.LoggerFrom(ctx).V(1).Info("topic changed since it was read; reconciling again")
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

// emit holds an event until the status that explains it is stored.
func (rc *topicRun) emit(eventType, reason, action, note string) {
	rc.events = append(rc.events, pendingEvent{eventType, reason, action, rc.scrub(note)})
}

// scrub removes the Page token from a message: the Graph client never puts it in an error, and this
// makes sure that no message of the controller ever carries it either.
func (rc *topicRun) scrub(s string) string {
	if len(rc.token) < 8 { // a token this short is not one; replacing it would garble the message
		return s
	}
	return strings.ReplaceAll(s, rc.token, "[REDACTED]")
}

func recheckOrDefault(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return DefaultRecheckInterval
}

// SetupWithManager registers the controller; the manager's cache needs the indexes of index.Setup (the
// claims are looked up by them). Besides its topics and their ConfigMaps it watches the metadata of
// Secrets, so that a topic waiting for its token Secret goes on as soon as the Secret is created or
// changed (see secretwatch.go).
func (r *NotificationTopicReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Graph == nil {
		return errors.New("NotificationTopic controller: no Graph API client")
	}
	rate := r.PageRate
	if rate == 0 {
		rate = DefaultGraphPageRate
	}
	r.limiter = newPageLimiter(rate)
	r.memory = newRegistrationMemory()
	if r.Backoff.Base == 0 {
		r.Backoff = graph.DefaultBackoff()
	}
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = DefaultWorkers
	}
	if err := indexConfigMapsOf(ctx, mgr, "NotificationTopic"); err != nil {
		return err
	}
	if err := indexTopicsByTokenSecret(ctx, mgr); err != nil {
		return err
	}
	secrets, err := r.secrets.orNew(mgr)
	if err != nil {
		return err
	}
	onPage, onNamespace := pageWatches(mgr.GetClient(), topicClaims.newList, topicClaims.items,
		func(t *messengerv1.NotificationTopic) string { return t.Spec.Page.ID })
	return ctrl.NewControllerManagedBy(mgr).
		For(&messengerv1.NotificationTopic{}, builder.WithPredicates(topicChanged())).
		Watches(&messengerv1.MessengerPage{}, onPage).
		Watches(&corev1.Namespace{}, onNamespace, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		// Topics with the same Page and title decide again when one takes or lets go of the claim.
		Watches(&messengerv1.NotificationTopic{}, topicClaims.sameClaim(r.Client),
			builder.WithPredicates(claimChanged[*messengerv1.NotificationTopic]())).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedConfigMapChanges)).
		WatchesRawSource(secrets.users(mgr.GetClient(), func() client.ObjectList { return &messengerv1.NotificationTopicList{} },
			TopicTokenSecretIndex)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}
