package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults live in these accessors rather than in the CRD, so that what a person commits to Git is
// exactly what the API server stores.

// LinkPage returns what goes after m.me/: the username when set, else the numeric ID.
func (p PageRef) LinkPage() string {
	if p.Username != "" {
		return p.Username
	}
	return p.ID
}

// GetSize returns the PNG edge in pixels.
func (q *QRSpec) GetSize() int {
	if q == nil || q.Size == nil {
		return DefaultQRSize
	}
	return int(*q.Size)
}

// GetErrorCorrection returns the error-correction level letter.
func (q *QRSpec) GetErrorCorrection() string {
	if q == nil || q.ErrorCorrection == "" {
		return DefaultQRErrorCorrection
	}
	return q.ErrorCorrection
}

// GetQuietZone returns the margin in modules.
func (q *QRSpec) GetQuietZone() int {
	if q == nil || q.QuietZone == nil {
		return DefaultQRQuietZone
	}
	return int(*q.QuietZone)
}

// Wants reports whether the format is to be written.
func (q *QRSpec) Wants(f QRFormat) bool {
	if q == nil || len(q.Formats) == 0 {
		return true
	}
	for _, g := range q.Formats {
		if g == f {
			return true
		}
	}
	return false
}

// GetConfigMapName returns the name of the ConfigMap the link is written to.
func (l *MessengerLink) GetConfigMapName() string {
	if l.Spec.ConfigMapName != "" {
		return l.Spec.ConfigMapName
	}
	return l.Name + "-mlink"
}

// GetConditions returns the status conditions.
func (l *MessengerLink) GetConditions() []metav1.Condition { return l.Status.Conditions }

// SetConditions replaces the status conditions.
func (l *MessengerLink) SetConditions(c []metav1.Condition) { l.Status.Conditions = c }

// GetCadence returns the cadence, daily when unset.
func (t *NotificationTopic) GetCadence() Cadence {
	if t.Spec.Cadence == "" {
		return CadenceDaily
	}
	return t.Spec.Cadence
}

// GetConfigMapName returns the name of the ConfigMap the topic's link is written to.
func (t *NotificationTopic) GetConfigMapName() string {
	if t.Spec.ConfigMapName != "" {
		return t.Spec.ConfigMapName
	}
	return t.Name + "-ntopic"
}

// GetConditions returns the status conditions.
func (t *NotificationTopic) GetConditions() []metav1.Condition { return t.Status.Conditions }

// SetConditions replaces the status conditions.
func (t *NotificationTopic) SetConditions(c []metav1.Condition) { t.Status.Conditions = c }

// ClaimKey is the key of a claim on a Page: its ID and a ref or topic title, "<page ID>/<name>". Meta's
// webhooks name only these, so two objects with the same key cannot be told apart. It is the value of the
// cache indexes of claims and of status.claim.
func ClaimKey(pageID, name string) string { return pageID + "/" + name }

// PageRefKey is the claim a link makes: Meta's referral webhooks name only the Page ID and the ref.
func (l *MessengerLink) PageRefKey() string { return ClaimKey(l.Spec.Page.ID, l.Spec.Ref) }

// PageTopicKey is what opt-in webhooks are attributed by: the Page ID and the topic title.
func (t *NotificationTopic) PageTopicKey() string { return ClaimKey(t.Spec.Page.ID, t.Spec.Topic) }

// HoldsClaim reports whether the status says that the link holds the claim of its spec (the controller
// decides it), and the link is not being deleted.
func (l *MessengerLink) HoldsClaim() bool {
	return l.DeletionTimestamp == nil && l.Status.Claim != "" && l.Status.Claim == l.PageRefKey()
}

// HoldsClaim reports whether the status says that the topic holds the claim of its spec (the controller
// decides it), and the topic is not being deleted.
func (t *NotificationTopic) HoldsClaim() bool {
	return t.DeletionTimestamp == nil && t.Status.Claim != "" && t.Status.Claim == t.PageTopicKey()
}
