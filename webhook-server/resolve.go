package webhookserver

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/link"
	"github.com/mmelink/operator/internal/status"
)

// claimKey is what an event is attributed by: a Page and a base ref (MessengerLink.PageRefKey) or a topic
// (NotificationTopic.PageTopicKey). Kept in parts so that looking up a known key builds no string.
type claimKey struct {
	topic bool
	page  string
	name  string
}

// indexKey is the key's value in the cache's field index.
func (k claimKey) indexKey() string { return messengerv1.ClaimKey(k.page, k.name) }

// claim is the answer for one key: the object that holds it, if any.
type claim struct {
	found bool
	name  types.NamespacedName
	uid   types.UID
	// recipientID is a NotificationTopic's spec.registration.recipientID.
	recipientID string
}

// resolver attributes the events of one delivery. It remembers each key's claim, so that a batch costs
// one indexed List per distinct key however many events share it. The first key is kept apart and the
// map made for a second one: most deliveries hold one event, and the map was a kilobyte of garbage each
// (BenchmarkOpenLoopPostgres's memory profile).
type resolver struct {
	reader     client.Reader
	first      claimKey
	firstClaim claim
	hasFirst   bool
	claims     map[claimKey]claim
}

// resolve returns the items of the events that belong to a MessengerLink or NotificationTopic. The others
// are counted as unmatched and left out: they are acknowledged with the rest of the delivery. An error
// means the cache could not be read; the delivery is then answered 503.
func (s *Server) resolve(ctx context.Context, events []delivery.Event) ([]status.Item, error) {
	rs := resolver{reader: s.reader}
	items := make([]status.Item, 0, len(events))
	var unmatched map[unmatchedKey]int // for the debug log only
	debug := s.log.V(1).Enabled()
	for i := range events {
		ev := &events[i]
		key, ok := eventKey(ev)
		var c claim
		if ok {
			var err error
			if c, err = rs.lookup(ctx, key); err != nil {
				return nil, err
			}
		}
		if !c.found {
			s.metrics.unmatchedCounter(ev.Kind).Inc()
			if debug {
				if unmatched == nil {
					unmatched = make(map[unmatchedKey]int)
				}
				unmatched[unmatchedKey{ev.Kind, key}]++
			}
			continue
		}
		item := status.Item{Target: status.Target{Kind: status.KindLink, NamespacedName: c.name}, Event: *ev, UID: c.uid}
		if key.topic {
			item.Target.Kind = status.KindTopic
			item.Recipient = ev.SenderID != "" && ev.SenderID == c.recipientID
		}
		items = append(items, item)
	}
	// Once per key and delivery rather than per event; never with the sender's ID, a person's.
	for k, n := range unmatched {
		s.log.V(1).Info("events not attributed: no MessengerLink or NotificationTopic claims their key",
			"kind", string(k.kind), "key", k.key.indexKey(), "events", n)
	}
	return items, nil
}

type unmatchedKey struct {
	kind delivery.Kind
	key  claimKey
}

// eventKey returns the key ev is attributed by: its Page and base ref for referrals and plugin opt-ins,
// its Page and topic for notification opt-ins. Links are claimed by their base ref because the ref fields
// (ref--id--value) vary from one printed link to another. ok is false when no object could claim ev.
func eventKey(ev *delivery.Event) (key claimKey, ok bool) {
	if ev.PageID == "" {
		return claimKey{}, false
	}
	switch ev.Kind {
	case delivery.KindPostbackReferral, delivery.KindReferral, delivery.KindMessageReferral:
		if ev.Referral.Ref == "" && !fromRefLessLink(ev.Referral.Source) {
			return claimKey{}, false
		}
		// An empty ref is the link of the Page without a ref.
		return claimKey{page: ev.PageID, name: link.BaseRef(ev.Referral.Ref)}, true
	case delivery.KindOptIn:
		// A link without a ref has a snippet without data-ref, whose opt-ins carry no ref.
		return claimKey{page: ev.PageID, name: link.BaseRef(ev.OptIn.Ref)}, true
	case delivery.KindNotificationOptIn:
		topic := ev.OptIn.Topic
		if topic == "" {
			topic = ev.OptIn.Title // opt-ins to a registration request carry the title only
		}
		// spec.topic is required: no topic claims an empty one.
		return claimKey{topic: true, page: ev.PageID, name: topic}, topic != ""
	}
	return claimKey{}, false
}

// fromRefLessLink reports whether a referral without a ref, from source, can be a click of the Page's link
// without a ref: only an m.me link (source SHORTLINK) or its QR code opens one. A ref-less referral from
// an ad, the Discover tab, a Messenger Code or the chat plugin came from none of the operator's links, and
// counting it for the ref-less link would fill that link with every ad click of the Page. An absent source
// is given the benefit of the doubt, and so are SHORT-URL and SHORT_URL, which the messaging_postbacks
// reference prints in its m.me example while its property table says SHORTLINK.
func fromRefLessLink(source string) bool {
	switch source {
	case "", "SHORTLINK", "SHORT-URL", "SHORT_URL":
		return true
	}
	return false
}

func (rs *resolver) lookup(ctx context.Context, key claimKey) (claim, error) {
	if rs.hasFirst && key == rs.first {
		return rs.firstClaim, nil
	}
	if c, ok := rs.claims[key]; ok {
		return c, nil
	}
	var c claim
	var err error
	if key.topic {
		c, err = rs.listTopics(ctx, key.indexKey())
	} else {
		c, err = rs.listLinks(ctx, key.indexKey())
	}
	if err != nil {
		return claim{}, err
	}
	switch {
	case !rs.hasFirst:
		rs.first, rs.firstClaim, rs.hasFirst = key, c, true
	case rs.claims == nil:
		rs.claims = map[claimKey]claim{key: c}
	default:
		rs.claims[key] = c
	}
	return c, nil
}

// listLinks finds the MessengerLink that holds key. Cluster-wide: a Page's refs are one namespace on Meta's
// side, whatever the Kubernetes namespace. The controller decides who holds a claim and records it in
// status.claim; this only reads it, so that every replica and the controller agree.
func (rs *resolver) listLinks(ctx context.Context, key string) (claim, error) {
	var list messengerv1.MessengerLinkList
	// Read-only use: the cache's objects need no copy.
	if err := rs.reader.List(ctx, &list, client.MatchingFields{index.LinkPageRef: key}, client.UnsafeDisableDeepCopy); err != nil {
		return claim{}, fmt.Errorf("listing MessengerLinks by page and ref: %w", err)
	}
	// Two holders are a moment's race, which the controller settles by keeping the older one (claimHolder
	// in controllers/claims.go): that one is counted meanwhile.
	var holder *messengerv1.MessengerLink
	for i := range list.Items {
		if l := &list.Items[i]; l.HoldsClaim() && (holder == nil || index.OlderThan(l, holder)) {
			holder = l
		}
	}
	if holder == nil {
		return claim{}, nil
	}
	return claim{found: true, name: types.NamespacedName{Namespace: holder.Namespace, Name: holder.Name}, uid: holder.UID}, nil
}

// listTopics finds the NotificationTopic that holds key, from status.claim as for links.
func (rs *resolver) listTopics(ctx context.Context, key string) (claim, error) {
	var list messengerv1.NotificationTopicList
	if err := rs.reader.List(ctx, &list, client.MatchingFields{index.TopicPageTopic: key}, client.UnsafeDisableDeepCopy); err != nil {
		return claim{}, fmt.Errorf("listing NotificationTopics by page and topic: %w", err)
	}
	var holder *messengerv1.NotificationTopic
	for i := range list.Items {
		if t := &list.Items[i]; t.HoldsClaim() && (holder == nil || index.OlderThan(t, holder)) {
			holder = t
		}
	}
	if holder == nil {
		return claim{}, nil
	}
	c := claim{found: true, name: types.NamespacedName{Namespace: holder.Namespace, Name: holder.Name}, uid: holder.UID}
	if holder.Spec.Registration != nil {
		c.recipientID = holder.Spec.Registration.RecipientID
	}
	return c, nil
}
