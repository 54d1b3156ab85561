package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

// Defaults of the MessengerPage controller.
const (
	// DefaultPageRecheckInterval is how often Meta's side of a Page is read again without a change here:
	// slow, because each profile read counts against Meta's 10 calls per 10 minutes per Page.
	DefaultPageRecheckInterval = 10 * time.Minute
	// DefaultWebhookFailingAfter is how long refusals last before Receiving turns False: when Meta alerts
	// the developer, 45 minutes before its kill switch.
	DefaultWebhookFailingAfter = 15 * time.Minute
	// DefaultProfileBudget is how many Messenger Profile calls the controller makes per window and Page,
	// leaving 2 of Meta's 10 to the bot and the people sharing the Page.
	DefaultProfileBudget = 8
	// DefaultProfileWindow is Meta's window for the profile limit.
	DefaultProfileWindow = 10 * time.Minute
)

// DefaultProfileBackoff spaces profile calls after Meta refused one for rate limiting; its steps stay
// within Meta's window so that the window's end is never missed by much.
var DefaultProfileBackoff = graph.Backoff{Base: time.Minute, Max: 10 * time.Minute, Jitter: 0.1}

// MessengerPageReconciler keeps each MessengerPage's Page on Meta's side: the app subscribed for the
// required fields, the Get Started button and the domain allowlist; and it reports whether the webhook
// server receives the Page's deliveries, from the fields the webhook server writes into status.webhook.
//
// It writes to Meta only what differs from what it read, never replaces what it did not set (unless a
// policy says so), and spends Messenger Profile calls from a budget kept in status.
type MessengerPageReconciler struct {
	client.Client
	// APIReader reads from the API server directly: the token Secret is not in the cache, and profile
	// decisions are taken on a fresh status.
	APIReader client.Reader
	// Recorder records an event for every change on Meta's side.
	Recorder events.EventRecorder
	// Graph calls Graph API; the manager's one client.
	Graph *graph.Client
	// AppID is the manager's --messenger-app-id, used when spec.appID is unset.
	AppID string
	// RecheckInterval overrides DefaultPageRecheckInterval.
	RecheckInterval time.Duration
	// FailingAfter overrides DefaultWebhookFailingAfter.
	FailingAfter time.Duration
	// ProfileBudget and ProfileWindow override DefaultProfileBudget and DefaultProfileWindow.
	ProfileBudget int
	ProfileWindow time.Duration
	// ProfileBackoff overrides DefaultProfileBackoff.
	ProfileBackoff graph.Backoff
	// MaxConcurrentReconciles defaults to 2.
	MaxConcurrentReconciles int
	// SkipNameValidation lets tests run a second manager in one process.
	SkipNameValidation bool

	secrets *secretWatch // shared with the other controllers by Setup
}

// +kubebuilder:rbac:groups=messenger.mmelink.io,resources=messengerpages,verbs=get;list;watch
// +kubebuilder:rbac:groups=messenger.mmelink.io,resources=messengerpages/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Page on Meta's side in line with its MessengerPage, and its status with both.
func (r *MessengerPageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &messengerv1.MessengerPage{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			failingPages.forget(req.NamespacedName)
			conditionObjects.forget(kindPage, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		// Meta's side stays as it is: the subscription and profile serve the Page, not this object.
		failingPages.forget(req.NamespacedName)
		conditionObjects.forget(kindPage, req.NamespacedName)
		return ctrl.Result{}, nil
	}
	run := &pageRun{r: r, p: p, status: newStatusPatcher(r.Client, p, pageStatusOf, false), key: req.NamespacedName, now: time.Now().Truncate(time.Second),
		before: conditionsOf(p)}
	res, err := run.reconcile(ctx)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
	defer cancel()
	if perr := run.persist(wctx); perr != nil {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	conditionObjects.observe(kindPage, req.NamespacedName, p)
	return res, err
}

// pageRun is one reconcile of one MessengerPage.
type pageRun struct {
	r      *MessengerPageReconciler
	p      *messengerv1.MessengerPage
	status *statusPatcher[*messengerv1.MessengerPage, pageStatus]
	key    types.NamespacedName
	now    time.Time
	// before holds the conditions when the run began, to tell transitions from repeats.
	before map[string]string
	// token is the Page token once read, scrubbed from every message; secretVersion is its Secret's.
	token         string
	secretVersion string
	events        []pendingEvent
	// failed is set when a Graph call failed: Ready already tells why.
	failed bool
	// next is the earliest time something is due (a profile call, the failing threshold); zero for none.
	next time.Time
}

func (run *pageRun) reconcile(ctx context.Context) (ctrl.Result, error) {
	p := run.p
	p.Status.AppID = p.AppIDOr(run.r.AppID)
	if held, by := run.claim(ctx); !held {
		p.Status.PageID = ""
		removeCondition(p, messengerv1.ConditionSubscribed)
		removeCondition(p, messengerv1.ConditionProfileReady)
		removeCondition(p, messengerv1.ConditionReceiving)
		markStalled(p, messengerv1.ReasonPageConflict, fmt.Sprintf("MessengerPage %s keeps Page %s: it claimed it first; "+
			"delete this one or change its spec.page.id", by, p.Spec.Page.ID))
		failingPages.forget(run.key)
		return ctrl.Result{}, nil
	}
	p.Status.PageID = p.Spec.Page.ID
	if p.Status.AppID == "" {
		markStalled(p, messengerv1.ReasonInvalidSpec, "no app ID: set spec.appID, or start the manager with --messenger-app-id")
		return ctrl.Result{}, nil
	}
	run.receiving()
	token, err := run.readToken(ctx)
	if err != nil || token == "" {
		return ctrl.Result{}, err
	}
	stop, err := run.subscription(ctx)
	if stop || err != nil {
		return run.result(), err
	}
	stop, err = run.profile(ctx)
	if stop || err != nil {
		return run.result(), err
	}
	run.aggregate()
	return run.result(), nil
}

// result requeues at the next due time, and at the recheck interval at the latest.
func (run *pageRun) result() ctrl.Result {
	after := run.r.recheck()
	if !run.next.IsZero() {
		if d := time.Until(run.next); d < after {
			after = max(d, time.Second)
		}
	}
	return ctrl.Result{RequeueAfter: after}
}

// due records a time something must be looked at again.
func (run *pageRun) due(t time.Time) {
	if run.next.IsZero() || t.Before(run.next) {
		run.next = t
	}
}

// readToken reads the Page token; "" with no error means the Secret is missing and the status says so.
func (run *pageRun) readToken(ctx context.Context) (string, error) {
	ref := run.p.Spec.AccessTokenSecretRef
	var s corev1.Secret
	err := run.r.APIReader.Get(ctx, types.NamespacedName{Namespace: run.p.Namespace, Name: ref.Name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		markReconciling(run.p, messengerv1.ReasonSecretNotFound, fmt.Sprintf("Secret %s not found: create it with the "+
			"Page access token under key %q; the Page is checked as soon as it exists", ref.Name, ref.Key))
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading Secret %s: %w", ref.Name, err)
	}
	value := strings.TrimSpace(string(s.Data[ref.Key]))
	if value == "" {
		markReconciling(run.p, messengerv1.ReasonSecretNotFound, fmt.Sprintf("Secret %s has no key %q, or it is empty: "+
			"put the Page access token there; the Page is checked as soon as it does", ref.Name, ref.Key))
		return "", nil
	}
	run.token, run.secretVersion = value, s.ResourceVersion
	return value, nil
}

// graphFailure records a failed Graph call in Ready (and Stalled for what needs a person) and tells the
// caller whether to return an error for a transient one. It returns the condition reason.
func (run *pageRun) graphFailure(what string, err error, permission string) (string, error) {
	run.failed = true
	reason := graph.Reason(err)
	msg := run.scrub(fmt.Sprintf("%s: %v", what, err))
	switch graph.Classify(err) {
	case graph.Throttled:
		if d, ok := graph.RetryAfter(err); ok {
			run.due(run.now.Add(d))
		}
		markReconciling(run.p, messengerv1.ReasonRateLimited, msg)
		return messengerv1.ReasonRateLimited, nil
	case graph.Permanent:
		switch reason {
		case graph.ReasonPermissionDenied:
			missing := graph.MissingPermission(err)
			if missing == "" {
				missing = permission
			}
			msg = run.scrub(fmt.Sprintf("%s: the Page token lacks the permission %s: %v", what, missing, err))
		case graph.ReasonInvalidToken:
			msg += "; put a valid Page access token into the Secret"
		}
		markStalled(run.p, reason, msg)
		return reason, nil
	default:
		markReconciling(run.p, graph.ReasonTransient, msg)
		return graph.ReasonTransient, fmt.Errorf("%s: %w", what, errors.New(msg))
	}
}

// persist stores the status if it changed, then records the events it explains. status.webhook, which
// the webhook server writes, is never in the patch.
func (run *pageRun) persist(ctx context.Context) error {
	p := run.p
	p.Status.ObservedGeneration = p.Generation
	if err := run.status.patch(ctx, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	for _, e := range run.events {
		run.r.Recorder.Eventf(p, nil, e.eventType, e.reason, e.action, "%s", e.note)
	}
	run.events = nil
	return nil
}

// emit holds an event until the status that explains it is stored.
func (run *pageRun) emit(eventType, reason, action, note string) {
	run.events = append(run.events, pendingEvent{eventType, reason, action, run.scrub(note)})
}

// scrub removes the Page token from a message, whatever produced it.
func (run *pageRun) scrub(s string) string {
	if len(run.token) < 8 {
		return s
	}
	return strings.ReplaceAll(s, run.token, "[REDACTED]")
}

func (r *MessengerPageReconciler) recheck() time.Duration {
	if r.RecheckInterval > 0 {
		return r.RecheckInterval
	}
	return DefaultPageRecheckInterval
}

// SetupWithManager registers the controller. It watches MessengerPages (their spec, and the webhook
// server's status.webhook), the other MessengerPages of the same Page (a conflict ends when the holder
// goes), and the metadata of token Secrets.
func (r *MessengerPageReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Graph == nil {
		return errors.New("MessengerPage controller: no Graph API client")
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 2
	}
	if err := indexPages(ctx, mgr); err != nil {
		return err
	}
	secrets, err := r.secrets.orNew(mgr)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("messengerpage").
		For(&messengerv1.MessengerPage{}, builder.WithPredicates(pageChanged())).
		Watches(&messengerv1.MessengerPage{}, handler.EnqueueRequestsFromMapFunc(r.peers),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(secrets.users(mgr.GetClient(), func() client.ObjectList { return &messengerv1.MessengerPageList{} },
			PageTokenSecretIndex)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles, SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}

// claim reports whether this MessengerPage keeps its Page, and else which one does, by the rule every
// claim follows (claimHolder): a MessengerPage that holds the Page keeps it against any newcomer.
func (run *pageRun) claim(ctx context.Context) (held bool, by string) {
	var list messengerv1.MessengerPageList
	if err := run.r.List(ctx, &list, client.MatchingFields{PagePageIDIndex: run.p.Spec.Page.ID}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the MessengerPages of a Page; assuming no conflict")
		return true, ""
	}
	others := make([]*messengerv1.MessengerPage, len(list.Items))
	for i := range list.Items {
		others[i] = &list.Items[i]
	}
	if holder := claimHolder(run.p, others); holder != nil {
		return false, holder.GetNamespace() + "/" + holder.GetName()
	}
	return true, ""
}

// conditionsOf maps condition types to "status/reason", to tell a transition from a repeat.
func conditionsOf(p *messengerv1.MessengerPage) map[string]string {
	out := make(map[string]string, len(p.Status.Conditions))
	for _, c := range p.Status.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}
