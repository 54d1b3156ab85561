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

// TopicTokenSecretIndex indexes NotificationTopics by the name of their token Secret (same namespace).
const TopicTokenSecretIndex = "messenger.mmelink.io/token-secret"

// secretSource returns the watch of token Secrets: their changes reconcile the topics that use them.
//
// The manager's cache cannot serve it. index.CacheOptions restricts Secrets to those labelled as ours,
// and controller-runtime applies a ByObject selector by GVK, so it holds for metadata-only
// (PartialObjectMetadata) watches of Secrets too: a person's token Secret would never send an event. So
// the watch has a cache of its own: Secret metadata in every namespace, without a label selector, cut
// down to name and version as it arrives. No Secret data is fetched; the cut also drops annotations,
// where kubectl's last-applied-configuration would hold a copy of the token.
func (r *NotificationTopicReconciler) secretSource(ctx context.Context, mgr ctrl.Manager) (source.Source, error) {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &messengerv1.NotificationTopic{}, TopicTokenSecretIndex,
		func(o client.Object) []string {
			if ref := o.(*messengerv1.NotificationTopic).Spec.AccessTokenSecretRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}); err != nil {
		return nil, fmt.Errorf("indexing NotificationTopics by token Secret: %w", err)
	}
	secrets, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:       mgr.GetHTTPClient(),
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: identityOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the Secret metadata cache: %w", err)
	}
	if err := mgr.Add(secrets); err != nil {
		return nil, fmt.Errorf("adding the Secret metadata cache: %w", err)
	}
	return source.Kind(secrets, secretMetadata(),
		handler.TypedEnqueueRequestsFromMapFunc(r.topicsUsingSecret),
		predicate.TypedResourceVersionChangedPredicate[*metav1.PartialObjectMetadata]{}), nil
}

func secretMetadata() *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
}

// identityOnly keeps what the watch needs of an object: which one it is and its version.
func identityOnly(in any) (any, error) {
	if m, ok := in.(*metav1.PartialObjectMetadata); ok {
		m.ObjectMeta = metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion}
	}
	return in, nil
}

// topicsUsingSecret maps a Secret to the topics of its namespace that take their token from it.
func (r *NotificationTopicReconciler) topicsUsingSecret(ctx context.Context, s *metav1.PartialObjectMetadata) []ctrl.Request {
	var topics messengerv1.NotificationTopicList
	if err := r.List(ctx, &topics, client.InNamespace(s.Namespace),
		client.MatchingFields{TopicTokenSecretIndex: s.Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the topics of a token Secret", "secret", s.Name)
		return nil
	}
	reqs := make([]ctrl.Request, len(topics.Items))
	for i := range topics.Items {
		reqs[i] = ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&topics.Items[i])}
	}
	return reqs
}
