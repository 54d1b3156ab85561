package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
