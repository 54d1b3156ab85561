package controllers

import (
	"context"
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// secretWatch is the one cache of Secret metadata through which the controllers notice token Secrets
// appear and change: NotificationTopics and MessengerPages watch their token Secrets through it.
//
// The manager's cache cannot serve it. index.CacheOptions restricts Secrets to those labelled as ours,
// and controller-runtime applies a ByObject selector by GVK, so it holds for metadata-only
// (PartialObjectMetadata) watches of Secrets too: a person's token Secret would never send an event. So
// the watch has a cache of its own: Secret metadata in every namespace, without a label selector, cut
// down to name and version as it arrives. No Secret data is fetched; the cut also drops annotations,
// where kubectl's last-applied-configuration would hold a copy of the token.
type secretWatch struct {
	cache cache.Cache
}

// newSecretWatch creates the cache and adds it to mgr, which starts it. Setup creates one for all the
// controllers; a controller set up alone creates its own.
func newSecretWatch(mgr ctrl.Manager) (*secretWatch, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:       mgr.GetHTTPClient(),
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: identityOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the Secret metadata cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("adding the Secret metadata cache: %w", err)
	}
	return &secretWatch{cache: c}, nil
}

// orNew returns w, or a new watch for a controller set up on its own.
func (w *secretWatch) orNew(mgr ctrl.Manager) (*secretWatch, error) {
	if w != nil {
		return w, nil
	}
	return newSecretWatch(mgr)
}

// users returns a watch that reconciles, on a change of a Secret, the objects of its namespace that the
// cache of reader finds under the Secret's name in index (the objects that take their token from it).
// list makes an empty list of those objects.
func (w *secretWatch) users(reader client.Reader, list func() client.ObjectList, index string) source.Source {
	toRequests := func(ctx context.Context, s *metav1.PartialObjectMetadata) []ctrl.Request {
		l := list()
		if err := reader.List(ctx, l, client.InNamespace(s.Namespace), client.MatchingFields{index: s.Name}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the users of a token Secret", "secret", s.Name)
			return nil
		}
		var reqs []ctrl.Request
		_ = apimeta.EachListItem(l, func(o runtime.Object) error { // a typed list always has items
			if obj, ok := o.(client.Object); ok {
				reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
			}
			return nil
		})
		return reqs
	}
	return source.Kind(w.cache, secretMetadata(), handler.TypedEnqueueRequestsFromMapFunc(toRequests),
		predicate.TypedResourceVersionChangedPredicate[*metav1.PartialObjectMetadata]{})
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
