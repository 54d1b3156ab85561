package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/index"
)

// claimant is an object that claims a key on a Page (a link its Page and ref, a topic its Page and title),
// and records in status whether it holds it.
type claimant interface {
	client.Object
	HoldsClaim() bool
}

// claimHolder decides, for self, who holds the key that self and others claim; others are the objects of
// the cache's claim index for that key (self may be among them). It returns nil when self holds the key,
// and otherwise the object self yields to. This is the one place the rule lives; the webhook server only
// reads what it decided from status.claim.
//
//  1. A claim once held is kept against every newcomer, whatever their creation times and names (creation
//     times have one-second resolution): an object that holds its key keeps it, and others yield to it.
//  2. Objects being deleted hold nothing and take nothing.
//  3. A key nobody holds goes to the oldest claimant (index.OlderThan), which records it on its next
//     reconcile; the others yield to it meanwhile.
//  4. Two holders at once (two reconciles that each took a free key before the cache showed the other's
//     status) keep the older one; the other lets go, as its own status write makes it reconcile again.
func claimHolder[T claimant](self T, others []T) client.Object {
	var holder, oldest client.Object
	for _, o := range others {
		if o.GetUID() == self.GetUID() || o.GetDeletionTimestamp() != nil {
			continue
		}
		if o.HoldsClaim() && (holder == nil || index.OlderThan(o, holder)) {
			holder = o
		}
		if oldest == nil || index.OlderThan(o, oldest) {
			oldest = o
		}
	}
	switch {
	case holder != nil && (!self.HoldsClaim() || index.OlderThan(holder, self)):
		return holder
	case holder != nil || self.HoldsClaim():
		return nil
	case oldest != nil && index.OlderThan(oldest, self):
		return oldest
	}
	return nil
}

// claimRequests are the reconciles that a change of obj calls for among claimants, the objects that
// claim its key: every other one, and obj itself when another one holds the key too (rule 4 above).
func claimRequests[T claimant](obj T, claimants []T) []ctrl.Request {
	reqs := make([]ctrl.Request, 0, len(claimants))
	self := false
	for _, c := range claimants {
		if c.GetUID() == obj.GetUID() {
			continue
		}
		reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)})
		self = self || (c.HoldsClaim() && obj.HoldsClaim())
	}
	if self {
		reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
	}
	return reqs
}

// claimKind is what the lookups of claimants need of a kind whose objects claim a key on a Page: the
// cache index of the key, a list to fill and its items, and how errors and logs name the key.
type claimKind[T claimant] struct {
	index   string // the cache index of the key (see index.Setup)
	key     func(T) string
	newList func() client.ObjectList
	items   func(client.ObjectList) []T
	listing string // for errors: "links of Page and ref"
	same    string // for logs: "links with the same ref"
}

// linkClaims: a link claims its Page and ref. topicClaims: a topic claims its Page and title.
var (
	linkClaims = claimKind[*messengerv1.MessengerLink]{
		index: index.LinkPageRef, key: (*messengerv1.MessengerLink).PageRefKey,
		newList: func() client.ObjectList { return &messengerv1.MessengerLinkList{} }, items: linkItems,
		listing: "links of Page and ref", same: "links with the same ref",
	}
	topicClaims = claimKind[*messengerv1.NotificationTopic]{
		index: index.TopicPageTopic, key: (*messengerv1.NotificationTopic).PageTopicKey,
		newList: func() client.ObjectList { return &messengerv1.NotificationTopicList{} }, items: topicItems,
		listing: "topics of Page and title", same: "topics with the same title",
	}
)

// claimants returns the objects that claim key, as the cache has them. The claim is cluster-wide: Meta's
// webhooks name only the Page and the ref or title.
func (k claimKind[T]) claimants(ctx context.Context, r client.Reader, key string) ([]T, error) {
	list := k.newList()
	if err := r.List(ctx, list, client.MatchingFields{k.index: key},
		// Read only: the cached objects themselves, not copies.
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing %s %s: %w", k.listing, key, err)
	}
	return k.items(list), nil
}

// sameClaim maps an object to the others that claim its key, so that they decide again when it takes or
// lets go of the claim. The object itself is among them only when another one holds the claim too (see
// claimRequests): otherwise its own status write would reconcile it once more for nothing.
func (k claimKind[T]) sameClaim(r client.Reader) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []ctrl.Request {
		obj, ok := o.(T)
		if !ok {
			return nil
		}
		claims, err := k.claimants(ctx, r, k.key(obj))
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing "+k.same)
			return nil
		}
		return claimRequests(obj, claims)
	})
}
