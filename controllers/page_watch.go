package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

const (
	// PagePageIDIndex indexes MessengerPages by spec.page.id, cluster-wide: one Page, one keeper.
	PagePageIDIndex = "messenger.mmelink.io/mpage-page-id"
	// PageTokenSecretIndex indexes MessengerPages by the name of their token Secret.
	PageTokenSecretIndex = "messenger.mmelink.io/mpage-token-secret"
)

func indexPages(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &messengerv1.MessengerPage{}, PagePageIDIndex, func(o client.Object) []string {
		return []string{o.(*messengerv1.MessengerPage).Spec.Page.ID}
	}); err != nil {
		return fmt.Errorf("indexing MessengerPages by Page ID: %w", err)
	}
	if err := idx.IndexField(ctx, &messengerv1.MessengerPage{}, PageTokenSecretIndex, func(o client.Object) []string {
		return []string{o.(*messengerv1.MessengerPage).Spec.AccessTokenSecretRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing MessengerPages by token Secret: %w", err)
	}
	return nil
}

// peers maps a MessengerPage to the others of its Page, whose claim may change with it.
func (r *MessengerPageReconciler) peers(ctx context.Context, o client.Object) []ctrl.Request {
	p, ok := o.(*messengerv1.MessengerPage)
	if !ok {
		return nil
	}
	var list messengerv1.MessengerPageList
	if err := r.List(ctx, &list, client.MatchingFields{PagePageIDIndex: p.Spec.Page.ID}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the MessengerPages of a Page")
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		if list.Items[i].UID != p.UID {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// secretSource watches the metadata of every Secret in a cache of its own, for the reason secretwatch.go
// gives (the manager's cache holds only labelled Secrets), cut down to name and version.
func (r *MessengerPageReconciler) secretSource(ctx context.Context, mgr ctrl.Manager) (source.Source, error) {
	secrets, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultTransform: identityOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the Secret metadata cache of the MessengerPage controller: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return nil, fmt.Errorf("adding the Secret metadata cache: %w", err)
	}
	return source.Kind(secrets, secretMetadata(),
		handler.TypedEnqueueRequestsFromMapFunc(r.pagesUsingSecret),
		predicate.TypedResourceVersionChangedPredicate[*metav1.PartialObjectMetadata]{}), nil
}

func (r *MessengerPageReconciler) pagesUsingSecret(ctx context.Context, s *metav1.PartialObjectMetadata) []ctrl.Request {
	var list messengerv1.MessengerPageList
	if err := r.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingFields{PageTokenSecretIndex: s.Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the MessengerPages of a token Secret", "secret", s.Name)
		return nil
	}
	reqs := make([]ctrl.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return reqs
}
