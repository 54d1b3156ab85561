// Package link builds and validates m.me links, the Messenger links that open a conversation with a
// Facebook Page, and encodes the fields that some bot platforms carry inside a link's ref.
//
// It knows nothing of Kubernetes, but its errors name the fields of the operator's API (page.id, ref,
// fields[0].value, ...) so that a controller can put them in a status condition as they are.
//
// # Links
//
// MessengerURL builds https://m.me/PAGE?ref=REF&text=TEXT and RecurringURL builds the recurring-notification
// opt-in link https://m.me/rn/PAGE?topic=TOPIC&cadence=CADENCE&ref=REF. Query values are percent-encoded
// with a space as %20, never '+', as in Meta's own examples; every byte outside the RFC 3986 unreserved
// set is encoded.
//
// # Validation
//
// The validators (ValidatePageID, ValidateUsername, ValidateRef, ValidateText, ValidateTopic,
// ValidateCadence) return a *FieldError that names the field and the rule it breaks, never the whole
// input. Where a rule is a regular expression it is exported (PageIDPattern, RefPattern, ...) so that the
// API types can use the very same string in their kubebuilder markers; the tests prove that each
// validator accepts exactly what its pattern accepts.
//
// # Ref fields
//
// Some bot platforms read fields out of the ref: ref=tutorial--738--value1--514--value2 saves value1
// into field 738 and value2 into field 514. EncodeRef and DecodeRef implement that convention with rules
// that make it unambiguous: the base, every id and every value are non-empty, use only letters, digits,
// '_', '=' and '-', never contain "--" and neither start nor end with '-' (RefPartPattern). A ref with a
// dangling part, such as tutorial--456, is rejected by DecodeRef; see DecodeRef for why.
package link
