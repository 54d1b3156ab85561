package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxPageDomains is the most domains Meta keeps on a Page's allowlist (whitelisted_domains).
const MaxPageDomains = 50

// WebhookField is a webhook field an app subscribes to on a Page, such as messaging_referrals.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
type WebhookField string

// The webhook fields the operator needs, and so the default of spec.webhook.subscribedFields: Get Started
// postbacks carry the referral of a new conversation, referrals that of an existing one, and opt-ins the
// plugin and recurring-notification opt-ins.
const (
	FieldMessagingPostbacks WebhookField = "messaging_postbacks"
	FieldMessagingReferrals WebhookField = "messaging_referrals"
	FieldMessagingOptins    WebhookField = "messaging_optins"
)

// HTTPSOrigin is an https origin on a Page's domain allowlist: https://, a fully qualified lower-case host
// name (no IP address, no localhost) and an optional port, without a path.
// +kubebuilder:validation:MinLength=12
// +kubebuilder:validation:MaxLength=262
// +kubebuilder:validation:Pattern=`^https://([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?(:[0-9]{1,5})?$`
// +kubebuilder:validation:XValidation:rule="!self.matches('^https://([^/:]*[.])?localhost(:[0-9]+)?$')",message="must not be localhost: Meta accepts only public, fully qualified domains"
type HTTPSOrigin string

// GetStartedPolicy says whether the operator may replace a Get Started payload it did not set.
// +kubebuilder:validation:Enum=IfAbsent;Enforce
type GetStartedPolicy string

const (
	// GetStartedIfAbsent sets the payload only when the Page has no Get Started button, or when the
	// operator set the one it has: a bot's own payload stays.
	GetStartedIfAbsent GetStartedPolicy = "IfAbsent"
	// GetStartedEnforce sets the payload whatever the Page has, replacing a bot's.
	GetStartedEnforce GetStartedPolicy = "Enforce"
)

// FromNamespaces says which namespaces may claim a Page, as Gateway API's allowedRoutes.namespaces.from.
// +kubebuilder:validation:Enum=Same;All;Selector
type FromNamespaces string

const (
	// NamespacesFromSame allows only the MessengerPage's own namespace.
	NamespacesFromSame FromNamespaces = "Same"
	// NamespacesFromAll allows every namespace.
	NamespacesFromAll FromNamespaces = "All"
	// NamespacesFromSelector allows the namespaces whose labels match the selector.
	NamespacesFromSelector FromNamespaces = "Selector"
)

// MessengerPageSpec is the Page's side of the contract that links and topics rely on: the app subscribed to
// the Page for the webhook fields the operator needs, a Get Started button, and the domains the snippets
// are served from on the Page's allowlist.
type MessengerPageSpec struct {
	// page is the Facebook Page this resource keeps.
	// +required
	Page PageRef `json:"page"`

	// accessTokenSecretRef selects the Page access token in a Secret of this namespace. The token needs
	// pages_manage_metadata (the webhook subscription) and pages_messaging (the Messenger Profile).
	// +required
	AccessTokenSecretRef SecretKeySelector `json:"accessTokenSecretRef"`

	// appID is the Meta app whose subscription to the Page is kept: the app of the webhook server.
	// Defaults to the manager's --messenger-app-id.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	// +optional
	AppID string `json:"appID,omitempty"`

	// webhook is what the app must be subscribed to on this Page.
	// +optional
	Webhook *PageWebhookSpec `json:"webhook,omitempty"`

	// getStarted keeps the Page's Get Started button. Without it a new conversation from an m.me link
	// produces no referral at all. Leave it out to have the operator only report whether the Page has one.
	// +optional
	GetStarted *GetStartedSpec `json:"getStarted,omitempty"`

	// domains are the https origins that must be on the Page's domain allowlist: where the
	// Send-to-Messenger snippets are served. The operator adds missing ones and never removes a domain it
	// did not add (status.addedDomains lists those it added). At most 50, Meta's limit.
	// +kubebuilder:validation:MaxItems=50
	// +listType=set
	// +optional
	Domains []HTTPSOrigin `json:"domains,omitempty"`

	// allowedNamespaces says which namespaces' MessengerLinks and NotificationTopics may claim this Page,
	// in the shape of Gateway API's allowedRoutes.namespaces. Defaults to from: Same.
	// +optional
	AllowedNamespaces *AllowedNamespaces `json:"allowedNamespaces,omitempty"`
}

// PageWebhookSpec is the app's webhook subscription on the Page.
type PageWebhookSpec struct {
	// subscribedFields are the fields the app must be subscribed to on this Page. Defaults to exactly what
	// the operator needs: messaging_postbacks, messaging_referrals and messaging_optins. Fields other
	// apps or people added to the subscription stay. Only fields also subscribed at the app level (App
	// Dashboard) produce webhooks.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	SubscribedFields []WebhookField `json:"subscribedFields,omitempty"`
}

// GetStartedSpec is the Page's Get Started button.
// +kubebuilder:validation:XValidation:rule="!has(self.policy) || self.policy != 'Enforce' || has(self.payload)",message="policy Enforce requires payload: there is nothing to enforce without one"
type GetStartedSpec struct {
	// payload is sent in the postback when a person taps Get Started. When unset, the operator only
	// reports whether the Page has a Get Started button.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1000
	// +optional
	Payload string `json:"payload,omitempty"`

	// policy says whether the operator may replace a payload it did not set (a bot's): IfAbsent (the
	// default) never does, Enforce does.
	// +optional
	Policy GetStartedPolicy `json:"policy,omitempty"`
}

// AllowedNamespaces selects namespaces, as Gateway API's RouteNamespaces.
// +kubebuilder:validation:XValidation:rule="(has(self.from) && self.from == 'Selector') == has(self.selector)",message="selector is required when from is Selector, and allowed only then"
type AllowedNamespaces struct {
	// from is Same (only this namespace, the default), All, or Selector (the namespaces that selector
	// matches).
	// +optional
	From FromNamespaces `json:"from,omitempty"`

	// selector matches the labels of the allowed namespaces when from is Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// MessengerPageStatus is the observed state of a MessengerPage. The controller writes all of it except
// webhook, which the webhook server writes; neither writes the other's fields.
type MessengerPageStatus struct {
	// observedGeneration is the generation of the spec that the conditions describe.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// conditions: Ready, Subscribed, ProfileReady, Receiving, Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// pageID is the Page this resource holds the claim on: empty while an older MessengerPage for the same
	// Page holds it. A MessengerPage that holds the claim keeps it.
	// +optional
	PageID string `json:"pageID,omitempty"`

	// appID is the app whose subscription the controller keeps.
	// +optional
	AppID string `json:"appID,omitempty"`

	// subscribedFields are the fields the app was subscribed to on the Page when last seen subscribed (see
	// the Subscribed condition for whether it still is).
	// +listType=set
	// +optional
	SubscribedFields []string `json:"subscribedFields,omitempty"`

	// addedDomains are the domains the operator added to the Page's allowlist. Only these may it remove.
	// +listType=set
	// +optional
	AddedDomains []string `json:"addedDomains,omitempty"`

	// getStartedPayload is the Get Started payload the operator set; empty when it set none. A payload on
	// the Page that differs from it was set by someone else.
	// +optional
	GetStartedPayload string `json:"getStartedPayload,omitempty"`

	// profile is the controller's bookkeeping of its Messenger Profile calls, which Meta limits to 10 per
	// 10 minutes per Page: kept in status so that the budget and the backoff survive a restart.
	// +optional
	Profile *ProfileCallStatus `json:"profile,omitempty"`

	// webhook is written by the webhook server: how deliveries for this Page are answered.
	// +optional
	Webhook *PageWebhookStatus `json:"webhook,omitempty"`
}

// ProfileCallStatus records the Messenger Profile calls of the controller for one Page.
type ProfileCallStatus struct {
	// windowStart is when the current 10-minute budget window began.
	// +optional
	WindowStart *metav1.Time `json:"windowStart,omitempty"`
	// calls counts the profile calls made in the current window.
	// +optional
	Calls int32 `json:"calls,omitempty"`
	// lastCallTime is when the last profile call was made.
	// +optional
	LastCallTime *metav1.Time `json:"lastCallTime,omitempty"`
	// nextCallTime is the earliest time of the next profile call: the end of a spent window, or a backoff
	// after Meta's rate limit.
	// +optional
	NextCallTime *metav1.Time `json:"nextCallTime,omitempty"`
	// failures counts the profile calls refused by rate limiting in a row; it drives the backoff and is
	// reset by a success or a new spec.
	// +optional
	Failures int32 `json:"failures,omitempty"`
	// checkedGeneration is the spec generation the profile was last checked for.
	// +optional
	CheckedGeneration int64 `json:"checkedGeneration,omitempty"`
	// secretVersion is the resourceVersion of the token Secret at the last check: a changed Secret (a new
	// token, new permissions) makes the next check due at once.
	// +optional
	SecretVersion string `json:"secretVersion,omitempty"`
	// checkTime is when the profile was last read successfully.
	// +optional
	CheckTime *metav1.Time `json:"checkTime,omitempty"`
}

// PageWebhookStatus is how the webhook server answers deliveries for the Page, written by it at most once
// per 30 seconds per Page and only when it changes.
type PageWebhookStatus struct {
	// lastDeliveryTime is when a delivery for this Page was last answered 200.
	// +optional
	LastDeliveryTime *metav1.Time `json:"lastDeliveryTime,omitempty"`
	// refusingSince is since when deliveries for this Page have been refused (503) without a 200 in
	// between; empty while they are answered 200. Meta unsubscribes the app after an hour of failures.
	// +optional
	RefusingSince *metav1.Time `json:"refusingSince,omitempty"`
}

// MessengerPage keeps the Page's side of the contract: the app's webhook subscription, the Get Started
// button and the domain allowlist; and says which namespaces' links and topics may claim the Page.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mpage,categories=messenger
// +kubebuilder:printcolumn:name="Page",type=string,JSONPath=`.spec.page.id`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Subscribed",type=string,JSONPath=`.status.conditions[?(@.type=="Subscribed")].status`
// +kubebuilder:printcolumn:name="Receiving",type=string,JSONPath=`.status.conditions[?(@.type=="Receiving")].status`
// +kubebuilder:printcolumn:name="Last Delivery",type=date,JSONPath=`.status.webhook.lastDeliveryTime`
// +kubebuilder:printcolumn:name="Fields",type=string,JSONPath=`.status.subscribedFields`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MessengerPage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the Page on Meta's side.
	// +required
	Spec MessengerPageSpec `json:"spec"`

	// status is what the controller and the webhook server observed.
	// +kubebuilder:default:={"observedGeneration":-1}
	// +optional
	Status MessengerPageStatus `json:"status,omitempty"`
}

// MessengerPageList is a list of MessengerPages.
// +kubebuilder:object:root=true
type MessengerPageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MessengerPage `json:"items"`
}
