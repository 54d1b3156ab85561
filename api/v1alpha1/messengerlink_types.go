package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MessengerLinkSpec describes an m.me link: the Page it opens, the ref that comes back in webhooks, the
// text prefilled in the composer, and how its QR code is drawn.
// +kubebuilder:validation:XValidation:rule="!has(self.fields) || size(self.fields) == 0 || has(self.ref)",message="fields require ref: the fields are encoded into the ref as ref--id--value"
// +kubebuilder:validation:XValidation:rule="!has(self.fields) || !has(self.ref) || size(self.ref) + self.fields.map(f, size(f.id) + size(f.value) + 4).sum() <= 250",message="ref with its fields encoded (ref--id--value...) must be at most 250 characters"
type MessengerLinkSpec struct {
	// page is the Page the link opens a conversation with.
	// +required
	Page PageRef `json:"page"`

	// ref is the referral parameter. Meta returns it in the referral webhook, which is how the webhook server
	// attributes a conversation to this link. Letters, digits, '_', '=' and '-' (not at either end, never
	// "--", which separates ref fields), at most 250 characters. Two links of the same Page must not share
	// a ref: the one that claimed it first keeps it (status.claim).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=250
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_=]([A-Za-z0-9_=-]*[A-Za-z0-9_=])?$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('--')",message="must not contain '--', the separator of ref fields"
	// +optional
	Ref string `json:"ref,omitempty"`

	// fields are id/value pairs encoded into the ref in order as ref--id--value--id--value, the convention
	// bot platforms use to save values into fields. The webhook server counts referrals per field value.
	// +kubebuilder:validation:MaxItems=10
	// +listType=map
	// +listMapKey=id
	// +optional
	Fields []RefField `json:"fields,omitempty"`

	// text is prefilled in the person's composer when the link opens (at most 1000 characters).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1000
	// +optional
	Text string `json:"text,omitempty"`

	// qr tells how the QR code is rendered. All fields have defaults.
	// +optional
	QR *QRSpec `json:"qr,omitempty"`

	// configMapName is the name of the ConfigMap the controller writes (url, qr.png, qr.svg,
	// send-to-messenger.html). Defaults to "<name>-mlink". A ConfigMap of that name that this link does not
	// own is never overwritten.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
}

// RefField is one field encoded into the ref.
type RefField struct {
	// id of the field (for example a bot platform's custom field ID).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_=]([A-Za-z0-9_=-]*[A-Za-z0-9_=])?$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('--')",message="must not contain '--', the separator of ref fields"
	// +required
	ID string `json:"id"`

	// value saved into the field.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_=]([A-Za-z0-9_=-]*[A-Za-z0-9_=])?$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('--')",message="must not contain '--', the separator of ref fields"
	// +required
	Value string `json:"value"`
}

// MessengerLinkStatus is the observed state of a MessengerLink. The controller writes observedGeneration,
// conditions, url and configMapName; the webhook server writes referrals. Neither writes the other's fields.
type MessengerLinkStatus struct {
	// observedGeneration is the generation of the spec that the conditions describe.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// conditions: Ready, Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// url is the m.me link.
	// +optional
	URL string `json:"url,omitempty"`

	// configMapName is the ConfigMap that holds the link, its QR codes and the Send-to-Messenger snippet.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`

	// claim is the Page ID and ref that this link holds, as "<page ID>/<ref>", written by the controller.
	// Meta's referral webhooks name only these, so one link of a Page and ref holds them: the first to
	// claim them, and it keeps them against every link created later (which reports RefConflict) until
	// it changes its ref or is deleted. The webhook server counts referrals only for the link whose claim
	// is the Page and ref of its spec.
	// +optional
	Claim string `json:"claim,omitempty"`

	// referrals counts the conversations this link started, as recorded by the webhook server.
	// +optional
	Referrals *ReferralStats `json:"referrals,omitempty"`
}

// ReferralStats counts referrals attributed to a link. Every count only grows.
type ReferralStats struct {
	// total is the number of referral events attributed to the link.
	Total int64 `json:"total"`
	// newConversations counts people who started their first conversation through the link (Get Started).
	// +optional
	NewConversations int64 `json:"newConversations,omitempty"`
	// returningConversations counts people with an existing conversation who opened the link.
	// +optional
	ReturningConversations int64 `json:"returningConversations,omitempty"`
	// adReferrals counts the events from click-to-Messenger ads that carried this ref: first messages
	// (message.referral), and new or returning conversations whose referral source is ADS (those are in
	// newConversations or returningConversations as well).
	// +optional
	AdReferrals int64 `json:"adReferrals,omitempty"`
	// pluginOptIns counts Send-to-Messenger plugin opt-ins whose data-ref is this ref.
	// +optional
	PluginOptIns int64 `json:"pluginOptIns,omitempty"`
	// bySource counts events by Meta's referral source (SHORTLINK, ADS, MESSENGER_CODE, ...).
	// +optional
	BySource map[string]int64 `json:"bySource,omitempty"`
	// uniquePeople estimates how many different people the events came from (a HyperLogLog estimate; no
	// person's ID is stored).
	// +optional
	UniquePeople int64 `json:"uniquePeople,omitempty"`
	// fields counts events per value of each ref field seen with this link's ref.
	// +listType=map
	// +listMapKey=id
	// +optional
	Fields []FieldCounts `json:"fields,omitempty"`
	// firstTime is the time of the earliest event.
	// +optional
	FirstTime *metav1.Time `json:"firstTime,omitempty"`
	// lastTime is the time of the latest event.
	// +optional
	LastTime *metav1.Time `json:"lastTime,omitempty"`
	// daily counts the referral events (those in total) per UTC day over the last 30 days, oldest first;
	// days without events are left out. Kept only with the PostgreSQL ledger (--ledger=postgres).
	// +listType=map
	// +listMapKey=date
	// +kubebuilder:validation:MaxItems=30
	// +optional
	Daily []DailyReferrals `json:"daily,omitempty"`
	// window tells how far back redeliveries are recognised.
	// +optional
	Window *DedupeWindow `json:"window,omitempty"`
	// ledger is the webhook server's bookkeeping; not for people.
	// +optional
	Ledger *DeliveryLedger `json:"ledger,omitempty"`
}

// DailyReferrals counts one UTC day's referral events.
type DailyReferrals struct {
	// date is the UTC day, YYYY-MM-DD.
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	// +required
	Date string `json:"date"`
	// total is the day's number of referral events.
	Total int64 `json:"total"`
	// bySource counts the day's events by Meta's referral source.
	// +optional
	BySource map[string]int64 `json:"bySource,omitempty"`
}

// MaxFieldValues bounds the distinct values counted per ref field, so that a link whose ref is printed
// with many different field values keeps a small status. Further values are counted in other.
const MaxFieldValues = 50

// FieldCounts counts the values seen for one ref field.
type FieldCounts struct {
	// id of the field.
	ID string `json:"id"`
	// values maps each value to its count, at most 50 values.
	// +optional
	Values map[string]int64 `json:"values,omitempty"`
	// other counts events whose value was not among the first 50 seen.
	// +optional
	Other int64 `json:"other,omitempty"`
}

// DeliveryLedger is what the webhook server keeps next to the counts so that each commit stays atomic:
// the fingerprints of recently counted events (a redelivery of one is not counted again) and the
// unique-people sketch. It holds no person's ID.
type DeliveryLedger struct {
	// window holds the fingerprints of recently counted events, grouped by event time (opaque).
	// +optional
	Window string `json:"window,omitempty"`
	// recent is the fingerprint list of earlier versions; it is read once, moved into window and
	// dropped (opaque).
	// +optional
	Recent string `json:"recent,omitempty"`
	// sketch is the HyperLogLog sketch behind uniquePeople (opaque).
	// +optional
	Sketch string `json:"sketch,omitempty"`
}

// DedupeWindow tells how far back the webhook server recognises Meta's redeliveries. Meta resends a
// delivery with the same event timestamps, so coverage is a time: every event newer than coveredSince is
// counted exactly once however often it is delivered.
type DedupeWindow struct {
	// coveredSince is the time after which every event is checked against the fingerprints kept. An
	// event at or before it is acknowledged and not counted (see lateEvents). Unset while the window has
	// dropped nothing: then every event is checked.
	// +optional
	CoveredSince *metav1.Time `json:"coveredSince,omitempty"`
	// events is how many fingerprints the window holds.
	Events int32 `json:"events"`
	// lateEvents counts events that were acknowledged and not counted because they were at or before
	// coveredSince: a redelivery after the window moved on, or an event Meta delivered very late. (A
	// NotificationTopic still keeps a late opt-in's token: a token is its own key.)
	// +optional
	LateEvents int64 `json:"lateEvents,omitempty"`
}

// MessengerLink is an m.me link with its QR codes and Send-to-Messenger snippet, written into a ConfigMap,
// and the referrals it brought, counted by the webhook server.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mlink,categories=messenger
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Referrals",type=integer,JSONPath=`.status.referrals.total`,priority=1
// +kubebuilder:printcolumn:name="Unique",type=integer,JSONPath=`.status.referrals.uniquePeople`,priority=1
// +kubebuilder:printcolumn:name="Last Referral",type=date,JSONPath=`.status.referrals.lastTime`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MessengerLink struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired link.
	// +required
	Spec MessengerLinkSpec `json:"spec"`

	// status is the observed link and its referral counts.
	// +kubebuilder:default:={"observedGeneration":-1}
	// +optional
	Status MessengerLinkStatus `json:"status,omitempty"`
}

// MessengerLinkList is a list of MessengerLinks.
// +kubebuilder:object:root=true
type MessengerLinkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MessengerLink `json:"items"`
}
