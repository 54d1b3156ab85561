// Package names derives Kubernetes names and label values from the names of the operator's objects, the
// same way in the controllers and the webhook server.
package names

import "strings"

// maxLabelValue is the length Kubernetes allows a label value.
const maxLabelValue = 63

// LabelValue returns name as a valid label value: object names may be up to 253 characters, label values
// 63, which must also end in a letter or digit, so the cut drops the '-', '.' and '_' it leaves at the end.
// Object names (DNS subdomains) are otherwise valid label values.
func LabelValue(name string) string {
	if len(name) <= maxLabelValue {
		return name
	}
	return strings.TrimRight(name[:maxLabelValue], "-._")
}
