package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Condition types of a MessengerPage, besides Ready, Reconciling and Stalled.
const (
	// ConditionSubscribed is True when the app holds every required webhook field on the Page.
	ConditionSubscribed = "Subscribed"
	// ConditionProfileReady is True when the Page has a Get Started button and every spec domain is on
	// its allowlist.
	ConditionProfileReady = "ProfileReady"
	// ConditionReceiving is False when the webhook server has been refusing the Page's deliveries for 15
	// minutes or more, long before Meta's kill switch (one hour) unsubscribes the app.
	ConditionReceiving = "Receiving"
	// ConditionPageReady, on a MessengerLink or NotificationTopic whose Page has a MessengerPage, repeats
	// that MessengerPage's Ready: a link can be Ready while its Page is not, and then counts stay at zero.
	ConditionPageReady = "PageReady"
)

// Condition reasons of a MessengerPage. Graph API failures use the reasons of internal/graph
// (InvalidToken, PermissionDenied, RateLimited, ...).
const (
	// ReasonNotSubscribed: the app is not subscribed to the Page at all.
	ReasonNotSubscribed = "NotSubscribed"
	// ReasonMissingFields: the app is subscribed without some of the required fields.
	ReasonMissingFields = "MissingFields"
	// ReasonNoGetStartedButton: the Page has no Get Started button, so m.me links to new people carry no
	// referral.
	ReasonNoGetStartedButton = "NoGetStartedButton"
	// ReasonDomainRejected: Meta refused a domain, or the allowlist has no room (50 domains).
	ReasonDomainRejected = "DomainRejected"
	// ReasonPageConflict: an older MessengerPage keeps the same Page ID.
	ReasonPageConflict = "PageConflict"
	// ReasonPageNotAllowed: the MessengerPage of the link's or topic's Page does not allow its namespace
	// (spec.allowedNamespaces); it holds no claim and nothing is attributed to it.
	ReasonPageNotAllowed = "PageNotAllowed"
	// ReasonWebhookFailing: the webhook server has been refusing deliveries for 15 minutes or more.
	ReasonWebhookFailing = "WebhookFailing"
	// ReasonWebhookRefusing: the webhook server is refusing deliveries, for less than 15 minutes so far.
	ReasonWebhookRefusing = "WebhookRefusing"
	// ReasonDeliveriesAnswered: no delivery is being refused.
	ReasonDeliveriesAnswered = "DeliveriesAnswered"
	// ReasonForeignGetStarted: the Page has a Get Started payload that the operator did not set and, by
	// policy IfAbsent, keeps.
	ReasonForeignGetStarted = "ForeignGetStarted"
	// ReasonInvalidToken, ReasonPermissionDenied: as internal/graph names them.
	ReasonInvalidToken     = "InvalidToken"
	ReasonPermissionDenied = "PermissionDenied"
)

// DefaultSubscribedFields are the fields the operator needs; a copy is returned by SubscribedFields.
var DefaultSubscribedFields = []WebhookField{FieldMessagingPostbacks, FieldMessagingReferrals, FieldMessagingOptins}

// SubscribedFields returns the webhook fields the app must hold, the operator's when the spec names none.
func (p *MessengerPage) SubscribedFields() []string {
	fields := DefaultSubscribedFields
	if w := p.Spec.Webhook; w != nil && len(w.SubscribedFields) > 0 {
		fields = w.SubscribedFields
	}
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = string(f)
	}
	return out
}

// GetStartedPolicy returns the Get Started policy, IfAbsent when unset.
func (p *MessengerPage) GetStartedPolicy() GetStartedPolicy {
	if g := p.Spec.GetStarted; g != nil && g.Policy != "" {
		return g.Policy
	}
	return GetStartedIfAbsent
}

// GetStartedPayload returns the payload the spec asks for, "" when the operator only reports.
func (p *MessengerPage) GetStartedPayload() string {
	if g := p.Spec.GetStarted; g != nil {
		return g.Payload
	}
	return ""
}

// AppIDOr returns spec.appID, or def (the manager's --messenger-app-id) when it is unset.
func (p *MessengerPage) AppIDOr(def string) string {
	if p.Spec.AppID != "" {
		return p.Spec.AppID
	}
	return def
}

// NamespacesFrom returns spec.allowedNamespaces.from, Same when unset (Gateway API's default).
func (p *MessengerPage) NamespacesFrom() FromNamespaces {
	if a := p.Spec.AllowedNamespaces; a != nil && a.From != "" {
		return a.From
	}
	return NamespacesFromSame
}

// AllowsNamespace reports whether MessengerLinks and NotificationTopics in the namespace named ns, whose
// labels are nsLabels, may claim this Page. It is the one place that rule is decided. An invalid selector
// is an error (the API server's validation does not parse label selectors); a nil selector with from
// Selector allows nothing.
func (p *MessengerPage) AllowsNamespace(ns string, nsLabels map[string]string) (bool, error) {
	switch p.NamespacesFrom() {
	case NamespacesFromAll:
		return true, nil
	case NamespacesFromSelector:
		a := p.Spec.AllowedNamespaces
		if a == nil || a.Selector == nil {
			return false, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(a.Selector)
		if err != nil {
			return false, fmt.Errorf("spec.allowedNamespaces.selector: %w", err)
		}
		return sel.Matches(labels.Set(nsLabels)), nil
	default: // Same, and values a newer API might add: the narrowest choice
		return ns == p.Namespace, nil
	}
}

// HoldsClaim reports whether the status says that this MessengerPage keeps the Page of its spec (the
// controller decides it, and records it in status.pageID).
func (p *MessengerPage) HoldsClaim() bool {
	return p.DeletionTimestamp == nil && p.Status.PageID != "" && p.Status.PageID == p.Spec.Page.ID
}

// GetConditions returns the status conditions.
func (p *MessengerPage) GetConditions() []metav1.Condition { return p.Status.Conditions }

// SetConditions replaces the status conditions.
func (p *MessengerPage) SetConditions(c []metav1.Condition) { p.Status.Conditions = c }
