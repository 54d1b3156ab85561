package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// DefaultRecheckInterval is how often a link that waits for a foreign ConfigMap to go away looks again:
// foreign ConfigMaps are not watched (the cache holds only ours), so their deletion sends no event.
const DefaultRecheckInterval = time.Minute

// MessengerLinkReconciler writes each MessengerLink's link, QR codes and snippet into its ConfigMap.
type MessengerLinkReconciler struct {
	client.Client
	// APIReader reads from the API server directly, for objects outside the cache.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// AppID is the Meta app ID put into the Send-to-Messenger snippet; may be empty.
	AppID string
	// RecheckInterval overrides DefaultRecheckInterval.
	RecheckInterval time.Duration
	// MaxConcurrentReconciles defaults to DefaultWorkers.
	MaxConcurrentReconciles int
	// SkipNameValidation lets tests run a second manager in one process.
	SkipNameValidation bool
}

// +kubebuilder:rbac:groups=messenger.mmelink.io,resources=messengerlinks,verbs=get;list;watch
// +kubebuilder:rbac:groups=messenger.mmelink.io,resources=messengerlinks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one MessengerLink's ConfigMap and status in line with its spec.
func (r *MessengerLinkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	link := &messengerv1.MessengerLink{}
	if err := r.Get(ctx, req.NamespacedName, link); err != nil {
		if apierrors.IsNotFound(err) {
			conditionObjects.forget(kindLink, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !link.DeletionTimestamp.IsZero() {
		// The ConfigMap is owned by the link and goes with it.
		conditionObjects.forget(kindLink, req.NamespacedName)
		return ctrl.Result{}, nil
	}
	status := newStatusPatcher(r.Client, link, linkStatusOf, false)
	result, recErr := r.reconcile(ctx, link)
	link.Status.ObservedGeneration = link.Generation
	if err := status.patch(ctx, link); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, errors.Join(recErr, err)
	}
	conditionObjects.observe(kindLink, req.NamespacedName, link)
	return result, recErr
}

func (r *MessengerLinkReconciler) reconcile(ctx context.Context, link *messengerv1.MessengerLink) (ctrl.Result, error) {
	before := readyReason(link)
	emit := r.emitter(link)

	url, ref, err := messengerLinkURL(&link.Spec)
	if err != nil {
		stallInvalid(link, emit, before, err)
		return ctrl.Result{}, nil
	}

	if allowed, err := pageGate(ctx, r.Client, link, link.Spec.Page.ID); err != nil {
		markReconciling(link, messengerv1.ReasonWriteFailed, err.Error())
		return ctrl.Result{}, err
	} else if !allowed {
		link.Status.Claim = ""
		return ctrl.Result{}, nil
	}
	claims, err := linkClaims.claimants(ctx, r.Client, link.PageRefKey())
	if err != nil {
		markReconciling(link, messengerv1.ReasonWriteFailed, err.Error())
		return ctrl.Result{}, err
	}
	if holder := claimHolder(link, claims); holder != nil {
		link.Status.Claim = ""
		msg := fmt.Sprintf("ref %q of Page %s is held by MessengerLink %s/%s, which claimed it before this link; "+
			"change the ref or delete the other link", link.Spec.Ref, link.Spec.Page.ID, holder.GetNamespace(), holder.GetName())
		markStalled(link, messengerv1.ReasonRefConflict, msg)
		warnOnChange(link, emit, before, "ClaimRef", msg)
		return ctrl.Result{}, nil
	}
	link.Status.Claim = link.PageRefKey()

	name := link.GetConfigMapName()
	lp := &configMapPublisher{
		writer:  &configMapWriter{Client: r.Client, APIReader: r.APIReader, Scheme: r.Scheme()},
		recheck: recheckOrDefault(r.RecheckInterval),
		emit:    emit,
	}
	ok, res, err := lp.publish(ctx, link, publication{
		Kind: "MessengerLink", NameLabel: messengerv1.LinkNameLabel, Name: name,
		Out: &configMapContent{Kind: "MessengerLink", URL: url, QR: link.Spec.QR, Snippet: &snippet{
			AppID: r.AppID, PageID: link.Spec.Page.ID, Ref: ref, Source: link.Namespace + "/" + link.Name,
		}},
	})
	if !ok {
		return res, err
	}
	link.Status.URL = url
	link.Status.ConfigMapName = name
	markReady(link, messengerv1.ReasonSucceeded, "Link and QR codes are in ConfigMap "+name)
	return ctrl.Result{}, nil
}

// emitter records events about link at once.
func (r *MessengerLinkReconciler) emitter(link *messengerv1.MessengerLink) eventFunc {
	return func(eventType, reason, action, note string) {
		r.Recorder.Eventf(link, nil, eventType, reason, action, "%s", note)
	}
}

// SetupWithManager registers the controller. Links are also reconciled when a link with the same Page
// and ref changes or takes or lets go of the claim, so that a ref conflict clears as soon as the holder
// lets go.
func (r *MessengerLinkReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexConfigMapsOf(ctx, mgr, "MessengerLink"); err != nil {
		return err
	}
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = DefaultWorkers
	}
	onPage, onNamespace := pageWatches(mgr.GetClient(), linkClaims.newList, linkClaims.items,
		func(l *messengerv1.MessengerLink) string { return l.Spec.Page.ID })
	return ctrl.NewControllerManagedBy(mgr).
		For(&messengerv1.MessengerLink{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedConfigMapChanges)).
		Watches(&messengerv1.MessengerLink{}, linkClaims.sameClaim(r.Client),
			builder.WithPredicates(claimChanged[*messengerv1.MessengerLink]())).
		Watches(&messengerv1.MessengerPage{}, onPage).
		Watches(&corev1.Namespace{}, onNamespace, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}
