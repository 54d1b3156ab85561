package controllers

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The status each controller writes, field for field under the API's names: what a statusPatcher
// compares and patches. What the webhook server writes is not here, so no controller write can carry it.

// linkStatus is the part of a MessengerLink's status the controller writes; the webhook server writes
// the referral counts, whose ledger is large, so they are neither copied nor encoded on each reconcile.
type linkStatus struct {
	ObservedGeneration int64              `json:"observedGeneration"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	URL                string             `json:"url,omitempty"`
	ConfigMapName      string             `json:"configMapName,omitempty"`
	Claim              string             `json:"claim,omitempty"`
}

func linkStatusOf(l *messengerv1.MessengerLink) linkStatus {
	return linkStatus{
		ObservedGeneration: l.Status.ObservedGeneration,
		// Conditions are set in place (apimeta.SetStatusCondition): keep a copy.
		Conditions:    slices.Clone(l.Status.Conditions),
		URL:           l.Status.URL,
		ConfigMapName: l.Status.ConfigMapName,
		Claim:         l.Status.Claim,
	}
}

// topicStatus is the part of a NotificationTopic's status the controller writes; the webhook server writes
// optIns, with its ledger and the confirmation of the registration.
type topicStatus struct {
	ObservedGeneration int64                           `json:"observedGeneration"`
	Conditions         []metav1.Condition              `json:"conditions,omitempty"`
	URL                string                          `json:"url,omitempty"`
	ConfigMapName      string                          `json:"configMapName,omitempty"`
	Claim              string                          `json:"claim,omitempty"`
	Registration       *messengerv1.RegistrationStatus `json:"registration,omitempty"`
}

func topicStatusOf(t *messengerv1.NotificationTopic) topicStatus {
	return topicStatus{
		ObservedGeneration: t.Status.ObservedGeneration,
		Conditions:         slices.Clone(t.Status.Conditions),
		URL:                t.Status.URL,
		ConfigMapName:      t.Status.ConfigMapName,
		Claim:              t.Status.Claim,
		Registration:       t.Status.Registration.DeepCopy(),
	}
}

// pageStatus is the part of a MessengerPage's status the controller writes; the webhook server writes
// webhook, what it answered to the Page's deliveries.
type pageStatus struct {
	ObservedGeneration int64                          `json:"observedGeneration"`
	Conditions         []metav1.Condition             `json:"conditions,omitempty"`
	PageID             string                         `json:"pageID,omitempty"`
	AppID              string                         `json:"appID,omitempty"`
	SubscribedFields   []string                       `json:"subscribedFields,omitempty"`
	AddedDomains       []string                       `json:"addedDomains,omitempty"`
	GetStartedPayload  string                         `json:"getStartedPayload,omitempty"`
	Profile            *messengerv1.ProfileCallStatus `json:"profile,omitempty"`
}

func pageStatusOf(p *messengerv1.MessengerPage) pageStatus {
	return pageStatus{
		ObservedGeneration: p.Status.ObservedGeneration,
		Conditions:         slices.Clone(p.Status.Conditions),
		PageID:             p.Status.PageID,
		AppID:              p.Status.AppID,
		SubscribedFields:   slices.Clone(p.Status.SubscribedFields),
		AddedDomains:       slices.Clone(p.Status.AddedDomains),
		GetStartedPayload:  p.Status.GetStartedPayload,
		Profile:            p.Status.Profile.DeepCopy(),
	}
}
