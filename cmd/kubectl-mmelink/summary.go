package main

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// Summary is what `status` shows of one object, and what -o json|yaml prints: the conditions, the counts
// the webhook server recorded, how far back it recognises redeliveries, and the health of the Page. The
// webhook server's opaque bookkeeping (status.*.ledger) is left out.
type Summary struct {
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Created    metav1.Time        `json:"created"`
	PageID     string             `json:"pageID"`
	URL        string             `json:"url,omitempty"`
	ConfigMap  string             `json:"configMap,omitempty"`
	Claim      *Claim             `json:"claim,omitempty"`
	Ready      ConditionBrief     `json:"ready"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Stale is set when the conditions describe an older generation than the spec's.
	Stale bool `json:"stale,omitempty"`

	Referrals    *messengerv1.ReferralStats      `json:"referrals,omitempty"`
	OptIns       *messengerv1.OptInStats         `json:"optIns,omitempty"`
	Registration *messengerv1.RegistrationStatus `json:"registration,omitempty"`
	Dedupe       *messengerv1.DedupeWindow       `json:"dedupe,omitempty"`

	// Page is the health of the MessengerPage of the Page (for a link or topic), or of this MessengerPage.
	Page *PageHealth `json:"page,omitempty"`
}

// Claim is the Page and ref (or topic title) a link or topic claims, and whether it holds them.
type Claim struct {
	Key  string `json:"key"`
	Held bool   `json:"held"`
}

// ConditionBrief is a condition's status and reason, "Unknown" and "" when it is absent.
type ConditionBrief struct {
	Status  metav1.ConditionStatus `json:"status"`
	Reason  string                 `json:"reason,omitempty"`
	Message string                 `json:"message,omitempty"`
}

// PageHealth is the Page's side: the MessengerPage's conditions and what the webhook server reports.
type PageHealth struct {
	// MessengerPage is "<namespace>/<name>", empty when the Page has none (or it cannot be read).
	MessengerPage    string         `json:"messengerPage,omitempty"`
	Ready            ConditionBrief `json:"ready"`
	Subscribed       ConditionBrief `json:"subscribed"`
	ProfileReady     ConditionBrief `json:"profileReady"`
	Receiving        ConditionBrief `json:"receiving"`
	SubscribedFields []string       `json:"subscribedFields,omitempty"`
	LastDeliveryTime *metav1.Time   `json:"lastDeliveryTime,omitempty"`
	RefusingSince    *metav1.Time   `json:"refusingSince,omitempty"`
}

func brief(conds []metav1.Condition, t string) ConditionBrief {
	c := apimeta.FindStatusCondition(conds, t)
	if c == nil {
		return ConditionBrief{Status: metav1.ConditionUnknown}
	}
	return ConditionBrief{Status: c.Status, Reason: c.Reason, Message: c.Message}
}

// stale reports whether any condition describes an older generation than gen.
func stale(conds []metav1.Condition, gen int64) bool {
	for _, c := range conds {
		if c.ObservedGeneration != 0 && c.ObservedGeneration < gen {
			return true
		}
	}
	return false
}

func linkSummary(l *messengerv1.MessengerLink) Summary {
	s := Summary{
		Kind: "MessengerLink", Namespace: l.Namespace, Name: l.Name, Created: l.CreationTimestamp,
		PageID: l.Spec.Page.ID, URL: l.Status.URL, ConfigMap: l.Status.ConfigMapName,
		Ready: brief(l.Status.Conditions, messengerv1.ConditionReady), Conditions: l.Status.Conditions,
		Stale: stale(l.Status.Conditions, l.Generation),
	}
	if l.Spec.Ref != "" {
		s.Claim = &Claim{Key: l.PageRefKey(), Held: l.HoldsClaim()}
	}
	if r := l.Status.Referrals; r != nil {
		s.Referrals = r.DeepCopy()
		s.Referrals.Ledger, s.Referrals.Window = nil, nil
		s.Dedupe = r.Window.DeepCopy()
	}
	s.Page = pageFromCondition(l.Status.Conditions)
	return s
}

func topicSummary(t *messengerv1.NotificationTopic) Summary {
	s := Summary{
		Kind: "NotificationTopic", Namespace: t.Namespace, Name: t.Name, Created: t.CreationTimestamp,
		PageID: t.Spec.Page.ID, URL: t.Status.URL, ConfigMap: t.Status.ConfigMapName,
		Claim: &Claim{Key: t.PageTopicKey(), Held: t.HoldsClaim()},
		Ready: brief(t.Status.Conditions, messengerv1.ConditionReady), Conditions: t.Status.Conditions,
		Stale:        stale(t.Status.Conditions, t.Generation),
		Registration: t.Status.Registration.DeepCopy(),
	}
	if o := t.Status.OptIns; o != nil {
		s.OptIns = o.DeepCopy()
		s.OptIns.Ledger, s.OptIns.Window = nil, nil
		s.Dedupe = o.Window.DeepCopy()
	}
	s.Page = pageFromCondition(t.Status.Conditions)
	return s
}

func pageSummary(p *messengerv1.MessengerPage) Summary {
	return Summary{
		Kind: "MessengerPage", Namespace: p.Namespace, Name: p.Name, Created: p.CreationTimestamp,
		PageID: p.Spec.Page.ID, Ready: brief(p.Status.Conditions, messengerv1.ConditionReady),
		Conditions: p.Status.Conditions, Stale: stale(p.Status.Conditions, p.Generation),
		Page: pageHealth(p),
	}
}

// pageFromCondition is what a link or topic knows of its Page: the PageReady condition, present only when
// the Page has a MessengerPage. The MessengerPage itself is filled in later when it can be read.
func pageFromCondition(conds []metav1.Condition) *PageHealth {
	if apimeta.FindStatusCondition(conds, messengerv1.ConditionPageReady) == nil {
		return nil
	}
	return &PageHealth{Ready: brief(conds, messengerv1.ConditionPageReady)}
}

func pageHealth(p *messengerv1.MessengerPage) *PageHealth {
	h := &PageHealth{
		MessengerPage:    p.Namespace + "/" + p.Name,
		Ready:            brief(p.Status.Conditions, messengerv1.ConditionReady),
		Subscribed:       brief(p.Status.Conditions, messengerv1.ConditionSubscribed),
		ProfileReady:     brief(p.Status.Conditions, messengerv1.ConditionProfileReady),
		Receiving:        brief(p.Status.Conditions, messengerv1.ConditionReceiving),
		SubscribedFields: p.Status.SubscribedFields,
	}
	if w := p.Status.Webhook; w != nil {
		h.LastDeliveryTime, h.RefusingSince = w.LastDeliveryTime, w.RefusingSince
	}
	return h
}
