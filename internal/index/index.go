// Package index defines the cache field indexes and cache limits shared by the controllers and the
// webhook server, which meet only in the API server and its cache.
package index

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

const (
	// LinkPageRef indexes MessengerLinks by Page ID and ref (see MessengerLink.PageRefKey).
	LinkPageRef = "messenger.mmelink.io/page-ref"
	// TopicPageTopic indexes NotificationTopics by Page ID and topic (see NotificationTopic.PageTopicKey).
	TopicPageTopic = "messenger.mmelink.io/page-topic"
)

// CacheOptions limits the cache of a binary on cfg to what the operator needs: of all ConfigMaps and
// Secrets in the cluster, only those it manages, so that memory does not grow with unrelated objects; and
// of each object, all but its managedFields, which nothing here reads (they are about a third of a link),
// so that memory and the copy made on every read stay smaller. Links and topics come without their
// ledgers: the cache lists and watches through a client of its own that leaves them out before decoding
// (WithoutLedgers), and its transform drops whatever is left.
func CacheOptions(cfg *rest.Config) (cache.Options, error) {
	lean := rest.CopyConfig(cfg)
	lean.Wrap(WithoutLedgers)
	hc, err := rest.HTTPClientFor(lean)
	if err != nil {
		return cache.Options{}, fmt.Errorf("building the cache's HTTP client: %w", err)
	}
	managed := labels.SelectorFromSet(labels.Set{messengerv1.ManagedByLabel: messengerv1.ManagedByValue})
	return cache.Options{
		HTTPClient: hc,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}:              {Label: managed},
			&corev1.Secret{}:                 {Label: managed},
			&messengerv1.MessengerLink{}:     {Transform: stripLedger},
			&messengerv1.NotificationTopic{}: {Transform: stripLedger},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}, nil
}

// stripLedger drops managedFields and the webhook server's ledger from cached links and topics. The
// ledger (the dedupe window and the sketch, up to 22 KB per object) is read only by the status writer,
// which reads each object from the API server right before writing it; kept in the caches it made both
// binaries' memory and start-up grow with the events counted.
func stripLedger(obj any) (any, error) {
	strip := cache.TransformStripManagedFields()
	switch o := obj.(type) {
	case *messengerv1.MessengerLink:
		if o.Status.Referrals != nil {
			o.Status.Referrals.Ledger = nil
		}
	case *messengerv1.NotificationTopic:
		if o.Status.OptIns != nil {
			o.Status.OptIns.Ledger = nil
		}
	}
	return strip(obj)
}

// Setup registers the field indexes with a manager's cache.
func Setup(ctx context.Context, idx client.FieldIndexer) error {
	if err := idx.IndexField(ctx, &messengerv1.MessengerLink{}, LinkPageRef, func(o client.Object) []string {
		return []string{o.(*messengerv1.MessengerLink).PageRefKey()}
	}); err != nil {
		return fmt.Errorf("indexing MessengerLinks by Page and ref: %w", err)
	}
	if err := idx.IndexField(ctx, &messengerv1.NotificationTopic{}, TopicPageTopic, func(o client.Object) []string {
		return []string{o.(*messengerv1.NotificationTopic).PageTopicKey()}
	}); err != nil {
		return fmt.Errorf("indexing NotificationTopics by Page and topic: %w", err)
	}
	return nil
}

// OlderThan orders two claimants of the same key: by creation time, then namespace and name. The
// controller gives a key nobody holds to the oldest claimant by this order (and, in a race, keeps the older
// of two holders); a claim once held is kept whatever the order says (controllers/claims.go).
func OlderThan(a, b client.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}

// ListInPages makes this process's caches fill by paginated lists, as before client-go 1.35, instead of
// the streaming watch-list, unless the environment sets KUBE_FEATURE_WatchListClient. Measured by
// BenchmarkStartup (webhook-server/cmd), both ways in one run: at 10,000 links with full ledgers the
// webhook server is ready in about half the time with paginated lists, which the API server serves
// from its watch cache faster than it streams the same objects one watch event at a time. Call it at
// the start of main, before any client is made.
func ListInPages() error {
	if _, set := os.LookupEnv("KUBE_FEATURE_" + string(clientfeatures.WatchListClient)); set {
		return nil
	}
	gates, ok := clientfeatures.FeatureGates().(interface {
		Set(clientfeatures.Feature, bool) error
	})
	if !ok { // replaced by the program: its own settings apply
		return nil
	}
	if err := gates.Set(clientfeatures.WatchListClient, false); err != nil {
		return fmt.Errorf("turning client-go's watch-list off: %w", err)
	}
	return nil
}
