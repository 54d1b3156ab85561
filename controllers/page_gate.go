package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// pageKeeper returns the MessengerPage that keeps pageID, the one whose status holds the Page's claim (as
// the MessengerPage controller decided), or nil: a Page without one keeps the behaviour from before
// MessengerPages, every namespace may claim it.
func pageKeeper(ctx context.Context, r client.Reader, pageID string) (*messengerv1.MessengerPage, error) {
	var pages messengerv1.MessengerPageList
	if err := r.List(ctx, &pages); err != nil {
		return nil, fmt.Errorf("listing MessengerPages: %w", err)
	}
	for i := range pages.Items {
		if p := &pages.Items[i]; p.Spec.Page.ID == pageID && p.HoldsClaim() {
			return p, nil
		}
	}
	return nil, nil
}

// pageGate applies a link's or topic's MessengerPage to it: it reports whether the object's namespace
// may claim the Page (when not, it marks the object Stalled with PageNotAllowed), and sets PageReady to
// the MessengerPage's Ready, or removes it when the Page has no MessengerPage.
func pageGate(ctx context.Context, r client.Reader, obj interface {
	conditioned
	GetNamespace() string
}, pageID string) (bool, error) {
	page, err := pageKeeper(ctx, r, pageID)
	if err != nil || page == nil {
		removeCondition(obj, messengerv1.ConditionPageReady)
		return err == nil, err
	}
	var ns corev1.Namespace
	if err := r.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, &ns); err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", obj.GetNamespace(), err)
	}
	allowed, err := page.AllowsNamespace(ns.Name, ns.Labels)
	if err != nil || !allowed {
		msg := fmt.Sprintf("MessengerPage %s/%s keeps Page %s and does not allow namespace %s to claim it "+
			"(spec.allowedNamespaces); nothing is counted for this object", page.Namespace, page.Name, pageID, ns.Name)
		if err != nil {
			msg = fmt.Sprintf("MessengerPage %s/%s keeps Page %s: %v", page.Namespace, page.Name, pageID, err)
		}
		removeCondition(obj, messengerv1.ConditionPageReady)
		markStalled(obj, messengerv1.ReasonPageNotAllowed, msg)
		return false, nil
	}
	status, reason, message := metav1.ConditionUnknown, messengerv1.ReasonProgressing, "MessengerPage "+page.Name+" has not reported yet"
	for _, c := range page.Status.Conditions {
		if c.Type == messengerv1.ConditionReady {
			status, reason = c.Status, c.Reason
			message = fmt.Sprintf("MessengerPage %s/%s: %s", page.Namespace, page.Name, c.Message)
		}
	}
	setCondition(obj, messengerv1.ConditionPageReady, status, reason, message)
	return true, nil
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// pageWatches are the watches that make links or topics decide their pageGate again: a change of a
// MessengerPage (its Ready, its allowedNamespaces, its claim) reconciles the objects of its Page, and a
// change of a namespace's labels the objects in it. list lists the kind's objects; pageOf reads an item's
// Page ID.
func pageWatches[T client.Object](r client.Reader, list func() client.ObjectList, items func(client.ObjectList) []T,
	pageOf func(T) string) (onPage, onNamespace handler.EventHandler) {
	enqueue := func(ctx context.Context, opts []client.ListOption, keep func(T) bool) []ctrl.Request {
		l := list()
		if err := r.List(ctx, l, opts...); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the objects a MessengerPage or namespace change concerns")
			return nil
		}
		var reqs []ctrl.Request
		for _, o := range items(l) {
			if keep(o) {
				reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			}
		}
		return reqs
	}
	onPage = handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []ctrl.Request {
		p, ok := obj.(*messengerv1.MessengerPage)
		if !ok {
			return nil
		}
		return enqueue(ctx, nil, func(o T) bool { return pageOf(o) == p.Spec.Page.ID })
	})
	onNamespace = handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []ctrl.Request {
		return enqueue(ctx, []client.ListOption{client.InNamespace(obj.GetName())}, func(T) bool { return true })
	})
	return onPage, onNamespace
}

// linkItems and topicItems are the items of a list of their kind, as pointers into it.
func linkItems(l client.ObjectList) []*messengerv1.MessengerLink {
	return pointers(l.(*messengerv1.MessengerLinkList).Items)
}

func topicItems(l client.ObjectList) []*messengerv1.NotificationTopic {
	return pointers(l.(*messengerv1.NotificationTopicList).Items)
}

// pointers points at each element of items, in place.
func pointers[E any](items []E) []*E {
	out := make([]*E, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
