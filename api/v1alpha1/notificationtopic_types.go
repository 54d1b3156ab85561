package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cadence is how often a recurring notification may be sent to a person who opted in.
// +kubebuilder:validation:Enum=daily;weekly;monthly
type Cadence string

// The cadences Meta offers.
const (
	CadenceDaily   Cadence = "daily"
	CadenceWeekly  Cadence = "weekly"
	CadenceMonthly Cadence = "monthly"
)

// NotificationTopicSpec describes a recurring-notification topic: its m.me/rn link and QR code, and the
// opt-in request that registers the topic with Meta.
// +kubebuilder:validation:XValidation:rule="!has(self.registration) || has(self.accessTokenSecretRef)",message="registration requires accessTokenSecretRef: the Send API call needs the Page access token"
type NotificationTopicSpec struct {
	// page is the Page that sends the notifications.
	// +required
	Page PageRef `json:"page"`

	// topic is the title people opt in to, as shown in Messenger: letters, digits and single spaces, at
	// most 65 characters. Opt-ins are attributed to this resource by page and topic; two topics of the same
	// Page must not share it: the one that claimed it first keeps it (status.claim).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65
	// +kubebuilder:validation:Pattern=`^[\p{L}\p{N}]+( [\p{L}\p{N}]+)*$`
	// +required
	Topic string `json:"topic"`

	// cadence is how often notifications may be sent: daily, weekly or monthly. Defaults to daily.
	// +optional
	Cadence Cadence `json:"cadence,omitempty"`

	// ref is added to the m.me/rn link and comes back in the opt-in webhook.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=250
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_=-]+$`
	// +optional
	Ref string `json:"ref,omitempty"`

	// qr tells how the QR code of the m.me/rn link is rendered.
	// +optional
	QR *QRSpec `json:"qr,omitempty"`

	// registration is the opt-in request the controller sends through the Send API to register the topic.
	// Leave it out for a topic registered by other means: the controller then only writes the link.
	// +optional
	Registration *RegistrationSpec `json:"registration,omitempty"`

	// accessTokenSecretRef selects the Page access token in a Secret of this namespace.
	// +optional
	AccessTokenSecretRef *SecretKeySelector `json:"accessTokenSecretRef,omitempty"`

	// graphAPIVersion is the Graph API version to call, such as v23.0. Defaults to the operator's.
	// +kubebuilder:validation:Pattern=`^v[0-9]+\.[0-9]+$`
	// +optional
	GraphAPIVersion string `json:"graphAPIVersion,omitempty"`

	// configMapName is the ConfigMap the controller writes. Defaults to "<name>-ntopic".
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
}

// RegistrationSpec is the Send API opt-in request that registers the topic. Meta registers a topic when a
// person with a role on the app taps the opt-in button of such a request.
type RegistrationSpec struct {
	// recipientID is the Page-scoped ID of a person with a role on the app, who must have messaged the
	// Page within the last 24 hours.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	// +required
	RecipientID string `json:"recipientID"`

	// imageURL is the image shown in the opt-in request (https).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^\s]+$`
	// +optional
	ImageURL string `json:"imageURL,omitempty"`

	// imageAspectRatio of the image: HORIZONTAL or SQUARE.
	// +kubebuilder:validation:Enum=HORIZONTAL;SQUARE
	// +optional
	ImageAspectRatio string `json:"imageAspectRatio,omitempty"`

	// ctaText is the button text: ALLOW, GET, GET_UPDATES, OPT_IN or SIGN_UP. Meta's default is
	// GET_UPDATES when unset.
	// +kubebuilder:validation:Enum=ALLOW;GET;GET_UPDATES;OPT_IN;SIGN_UP
	// +optional
	CTAText string `json:"ctaText,omitempty"`

	// payload is echoed back in the opt-in webhook.
	// +kubebuilder:validation:MaxLength=1000
	// +optional
	Payload string `json:"payload,omitempty"`

	// timezone of the notifications, an IANA name such as Europe/Paris. Defaults to UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$`
	// +optional
	Timezone string `json:"timezone,omitempty"`
}

// Annotations a person sets on a NotificationTopic to steer its registration.
const (
	// RequestRegistrationAnnotation asks for a new opt-in request: set it to any new value (a timestamp is
	// customary). Meta allows one request per title per person per week.
	RequestRegistrationAnnotation = "messenger.mmelink.io/request-registration"
	// ResolveRegistrationAnnotation settles a request whose outcome is unknown (the operator stopped
	// between recording its intent and recording the answer): "sent" if the recipient received it,
	// "retry" to send it again.
	ResolveRegistrationAnnotation = "messenger.mmelink.io/resolve-registration"
)

// The values of ResolveRegistrationAnnotation the controller acts on.
const (
	// ResolveRegistrationSent says the request in doubt reached the recipient: it is recorded as sent.
	ResolveRegistrationSent = "sent"
	// ResolveRegistrationRetry says it did not: the request is sent again.
	ResolveRegistrationRetry = "retry"
)

// NotificationTopicStatus is the observed state of a NotificationTopic. The controller writes
// observedGeneration, conditions, url, configMapName and registration; the webhook server writes optIns.
type NotificationTopicStatus struct {
	// observedGeneration is the generation of the spec that the conditions describe.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// conditions: Ready, Registered, Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// url is the m.me/rn link.
	// +optional
	URL string `json:"url,omitempty"`

	// configMapName is the ConfigMap that holds the link and its QR codes.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`

	// claim is the Page ID and topic title that this topic holds, as "<page ID>/<topic>", written by the
	// controller. Meta's opt-in webhooks name only these, so one topic of a Page and title holds them: the
	// first to claim them, and it keeps them against every topic created later (which reports
	// TopicConflict and is not registered) until it changes its title or is deleted. The webhook server
	// records opt-ins only for the topic whose claim is the Page and title of its spec.
	// +optional
	Claim string `json:"claim,omitempty"`

	// registration records the opt-in request sent to register the topic.
	// +optional
	Registration *RegistrationStatus `json:"registration,omitempty"`

	// optIns counts the people who opted in, as recorded by the webhook server.
	// +optional
	OptIns *OptInStats `json:"optIns,omitempty"`
}

// RegistrationStatus records the opt-in request. The intent is written before the Send API is called, so
// that an operator that stops in between never sends a second request by guessing.
type RegistrationStatus struct {
	// requestID identifies the current request; written with the intent, before the call.
	// +optional
	RequestID string `json:"requestID,omitempty"`
	// title is the topic the request was made for.
	// +optional
	Title string `json:"title,omitempty"`
	// intentTime is when the controller decided to send the request.
	// +optional
	IntentTime *metav1.Time `json:"intentTime,omitempty"`
	// sentTime is when Meta accepted the request. Empty with an intentTime means the outcome is unknown
	// or the call failed (see the conditions).
	// +optional
	SentTime *metav1.Time `json:"sentTime,omitempty"`
	// messageID is Meta's ID of the request message.
	// +optional
	MessageID string `json:"messageID,omitempty"`
	// attempts counts failed attempts since the last success or spec change; it drives the backoff.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// nextAttemptTime is when the controller will try again after a failure.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// requestAnnotation is the value of the request-registration annotation that was last acted on.
	// +optional
	RequestAnnotation string `json:"requestAnnotation,omitempty"`
}

// OptInStats counts opt-ins to the topic. Tokens are kept in Secrets named in secrets, never here.
type OptInStats struct {
	// total counts opt-ins, each token once.
	Total int64 `json:"total"`
	// active counts tokens that may receive notifications now.
	// +optional
	Active int64 `json:"active,omitempty"`
	// stopped counts tokens whose person stopped the notifications.
	// +optional
	Stopped int64 `json:"stopped,omitempty"`
	// lastTime is the time of the latest opt-in event.
	// +optional
	LastTime *metav1.Time `json:"lastTime,omitempty"`
	// confirmedTime is when the webhook server saw the registration recipient opt in to this topic, which
	// is how Meta confirms the registration.
	// +optional
	ConfirmedTime *metav1.Time `json:"confirmedTime,omitempty"`
	// confirmedRequestID is the registration requestID current when the confirmation was seen.
	// +optional
	ConfirmedRequestID string `json:"confirmedRequestID,omitempty"`
	// secrets are the names of the Secrets that hold the tokens.
	// +listType=set
	// +optional
	Secrets []string `json:"secrets,omitempty"`
	// window tells how far back redeliveries are recognised.
	// +optional
	Window *DedupeWindow `json:"window,omitempty"`
	// ledger is the webhook server's bookkeeping; not for people.
	// +optional
	Ledger *DeliveryLedger `json:"ledger,omitempty"`
}

// NotificationTopic is a recurring-notification topic: its m.me/rn link and QR code in a ConfigMap, its
// registration with Meta's Graph API, and the opt-ins it received.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ntopic,categories=messenger
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Registered",type=string,JSONPath=`.status.conditions[?(@.type=="Registered")].status`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.optIns.active`,priority=1
// +kubebuilder:printcolumn:name="Opt-ins",type=integer,JSONPath=`.status.optIns.total`,priority=1
// +kubebuilder:printcolumn:name="Stopped",type=integer,JSONPath=`.status.optIns.stopped`,priority=1
// +kubebuilder:printcolumn:name="Last Opt-in",type=date,JSONPath=`.status.optIns.lastTime`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NotificationTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired topic.
	// +required
	Spec NotificationTopicSpec `json:"spec"`

	// status is the observed topic, its registration and its opt-in counts.
	// +kubebuilder:default:={"observedGeneration":-1}
	// +optional
	Status NotificationTopicStatus `json:"status,omitempty"`
}

// NotificationTopicList is a list of NotificationTopics.
// +kubebuilder:object:root=true
type NotificationTopicList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NotificationTopic `json:"items"`
}
