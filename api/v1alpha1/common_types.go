package v1alpha1

// PageRef identifies the Facebook Page that a link or topic belongs to.
type PageRef struct {
	// id is the numeric Page ID. Meta's webhook deliveries carry only Page IDs, so the ID is what ties a
	// delivery to this resource; it is required even when a username is set.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	// +required
	ID string `json:"id"`

	// username is the Page's username (letters, digits and periods, at least 5 characters). When set, the
	// link uses it instead of the ID (https://m.me/<username>), which reads better on print.
	// +kubebuilder:validation:MinLength=5
	// +kubebuilder:validation:MaxLength=50
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9.]+$`
	// +kubebuilder:validation:XValidation:rule="self.matches('[A-Za-z0-9]')",message="must contain a letter or digit"
	// +optional
	Username string `json:"username,omitempty"`
}

// QRFormat is an image format of the QR code.
// +kubebuilder:validation:Enum=png;svg
type QRFormat string

const (
	// QRFormatPNG writes qr.png into the ConfigMap's binaryData.
	QRFormatPNG QRFormat = "png"
	// QRFormatSVG writes qr.svg into the ConfigMap's data.
	QRFormatSVG QRFormat = "svg"
)

// Defaults of QRSpec, resolved by the controller rather than written into objects by the API server, so that
// GitOps tools never see a server-side default as a difference from Git.
const (
	DefaultQRSize            = 256
	DefaultQRErrorCorrection = "M"
	DefaultQRQuietZone       = 4
)

// QRSpec tells how the QR code of the link is rendered.
type QRSpec struct {
	// size is the edge of the PNG image in pixels, exactly. Modules are whole pixels, all of the same size
	// (a blurred or uneven module is misread by scanners): the largest that fits the code with its quiet
	// zone into size, the pixels left over (fewer than the code has modules) added to the white margin,
	// split evenly. A code with more modules than size pixels fails with RenderFailed. Defaults to 256.
	// +kubebuilder:validation:Minimum=64
	// +kubebuilder:validation:Maximum=2048
	// +optional
	Size *int32 `json:"size,omitempty"`

	// errorCorrection is the QR error-correction level: L (7%), M (15%), Q (25%) or H (30%). Higher levels
	// survive more damage and make denser codes. Defaults to M.
	// +kubebuilder:validation:Enum=L;M;Q;H
	// +optional
	ErrorCorrection string `json:"errorCorrection,omitempty"`

	// quietZone is the white margin around the code, in modules. Scanners expect 4. The PNG's margin is
	// exactly this many modules plus the pixels left over from whole-pixel modules (see size); 0 leaves
	// only those. The SVG scales freely and has exactly this margin. Defaults to 4.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16
	// +optional
	QuietZone *int32 `json:"quietZone,omitempty"`

	// formats lists the image formats to write. Defaults to both png and svg.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	Formats []QRFormat `json:"formats,omitempty"`
}

// SecretKeySelector selects a key of a Secret in the namespace of the referring object.
type SecretKeySelector struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`

	// key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// Condition types. Ready, Reconciling and Stalled follow kstatus, so `kubectl wait --for=condition=Ready`
// and GitOps health checks work without custom logic.
const (
	// ConditionReady is True when the link (and, for topics, the registration) is usable.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs a person: the spec or its environment must change.
	ConditionStalled = "Stalled"
	// ConditionRegistered is True when Meta has confirmed the recurring-notification topic.
	ConditionRegistered = "Registered"
)

// Condition reasons, CamelCase as Kubernetes expects.
const (
	ReasonSucceeded          = "Succeeded"
	ReasonProgressing        = "Progressing"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonRefConflict        = "RefConflict"
	ReasonTopicConflict      = "TopicConflict"
	ReasonConfigMapConflict  = "ConfigMapConflict"
	ReasonRenderFailed       = "RenderFailed"
	ReasonWriteFailed        = "WriteFailed"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonRegistrationNeeded = "RegistrationNeeded"

	// Reasons of a NotificationTopic's registration. Graph API failures use the reasons of internal/graph
	// (InvalidToken, PermissionDenied, TopicRestricted, RecipientOptedOut, PolicyBlocked, ...).

	// ReasonAwaitingConfirmation: the opt-in request was sent; the recipient has not tapped its button yet.
	ReasonAwaitingConfirmation = "AwaitingConfirmation"
	// ReasonConfirmed: the recipient opted in, which is how Meta registers the topic.
	ReasonConfirmed = "Confirmed"
	// ReasonRequestInDoubt: the operator stopped between recording its intent and recording the answer of
	// the Send API; a person settles it with the resolve-registration annotation.
	ReasonRequestInDoubt = "RequestInDoubt"
	// ReasonRequestLimitReached: Meta allows one opt-in request per title per person per week.
	ReasonRequestLimitReached = "RequestLimitReached"
	// ReasonRateLimited: Graph API asked the operator to slow down for the Page.
	ReasonRateLimited = "RateLimited"
	// ReasonRequestFailed: the last opt-in request failed for good; the details were in an earlier condition.
	ReasonRequestFailed = "RequestFailed"
)

// ManagedByLabel and the values below mark the ConfigMaps and Secrets this operator owns.
const (
	ManagedByLabel        = "app.kubernetes.io/managed-by"
	ManagedByValue        = "mmelink"
	LinkNameLabel         = "messenger.mmelink.io/link"
	TopicNameLabel        = "messenger.mmelink.io/topic"
	ContentHashAnnotation = "messenger.mmelink.io/content-hash"
)

// Keys of the ConfigMap a MessengerLink or NotificationTopic is written to: what web servers mount and the
// kubectl plugin reads, so they are part of the API and change only with its version.
const (
	// ConfigMapKeyURL holds the m.me (or m.me/rn) link, in data.
	ConfigMapKeyURL = "url"
	// ConfigMapKeyQRPNG holds the QR code as PNG, in binaryData, when qr.formats asks for png.
	ConfigMapKeyQRPNG = "qr.png"
	// ConfigMapKeyQRSVG holds the QR code as SVG, in data, when qr.formats asks for svg.
	ConfigMapKeyQRSVG = "qr.svg"
	// ConfigMapKeySnippet holds the Send-to-Messenger plugin snippet, in data; MessengerLinks only.
	ConfigMapKeySnippet = "send-to-messenger.html"
)
