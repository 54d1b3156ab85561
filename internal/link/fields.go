package link

import (
	"fmt"
	"strings"
)

// Field is an id/value pair carried in a ref as ref--id--value.
type Field struct {
	ID    string
	Value string
}

// fieldSep separates the base ref, the field ids and the field values.
const fieldSep = "--"

// EncodeRef returns base followed by --ID--Value for each field, in order:
// EncodeRef("tutorial", []Field{{"738", "value1"}}) is "tutorial--738--value1". With no fields it returns
// base. The base, ids and values must match RefPartPattern and the result must match RefPattern (at most
// MaxRefLength characters); the error names the offending part (ref, fields[i].id, fields[i].value).
// Duplicate ids are not rejected: the API declares ids unique, and the encoding does not depend on it.
func EncodeRef(base string, fields []Field) (string, error) {
	if rule := partRule(base); rule != "" {
		return "", &FieldError{Field: "ref", Rule: rule}
	}
	n := len(base)
	for i, f := range fields {
		if rule := partRule(f.ID); rule != "" {
			return "", &FieldError{Field: fieldPath(i, "id"), Rule: rule}
		}
		if rule := partRule(f.Value); rule != "" {
			return "", &FieldError{Field: fieldPath(i, "value"), Rule: rule}
		}
		n += 2*len(fieldSep) + len(f.ID) + len(f.Value)
	}
	if n > MaxRefLength {
		return "", &FieldError{Field: "ref", Rule: fmt.Sprintf(
			"with its fields encoded (ref--id--value...) must be at most %d characters (has %d)", MaxRefLength, n)}
	}
	if len(fields) == 0 {
		return base, nil
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(base)
	for _, f := range fields {
		b.WriteString(fieldSep)
		b.WriteString(f.ID)
		b.WriteString(fieldSep)
		b.WriteString(f.Value)
	}
	return b.String(), nil
}

// DecodeRef splits a ref made by EncodeRef into its base and fields; fields is nil when the ref has
// none. It accepts exactly the refs that EncodeRef can return, so DecodeRef(EncodeRef(b, f)) gives back
// b and f, and EncodeRef(DecodeRef(r)) gives back r.
//
// A dangling part is an error: "tutorial--456" has an id without a value. Some bot platforms read it as
// a value for a field chosen elsewhere (Meta's docs: "saves 456 into a field"), but a Field without an
// id would break the rules that keep the encoding unambiguous, and no link this package builds looks
// like that. Callers that must still account for such a ref count it by its full string, or by BaseRef.
func DecodeRef(ref string) (base string, fields []Field, err error) {
	if err = ValidateRef(ref); err != nil {
		return "", nil, err
	}
	// Checked on the whole ref first so that "--x" and "x--" are not reported as an empty part.
	if ref[0] == '-' || ref[len(ref)-1] == '-' {
		return "", nil, &FieldError{Field: "ref", Rule: "must not start or end with '-'"}
	}
	base, rest, hasFields := strings.Cut(ref, fieldSep)
	if rule := partRule(base); rule != "" {
		return "", nil, &FieldError{Field: "ref", Rule: rule}
	}
	if !hasFields {
		return base, nil, nil
	}
	// Every part is checked against RefPartPattern, so a third '-' next to a separator ("a---b") is an
	// error rather than a shifted split.
	fields = make([]Field, 0, (strings.Count(rest, fieldSep)+1)/2)
	for i := 0; ; i++ {
		id, afterID, hasValue := strings.Cut(rest, fieldSep)
		if rule := partRule(id); rule != "" {
			return "", nil, &FieldError{Field: fieldPath(i, "id"), Rule: rule}
		}
		if !hasValue {
			return "", nil, &FieldError{Field: "ref", Rule: "has field id " + quote(id) +
				" without a value (expected ref--id--value pairs)"}
		}
		value, afterValue, hasNext := strings.Cut(afterID, fieldSep)
		if rule := partRule(value); rule != "" {
			return "", nil, &FieldError{Field: fieldPath(i, "value"), Rule: rule}
		}
		fields = append(fields, Field{ID: id, Value: value})
		if !hasNext {
			return base, fields, nil
		}
		rest = afterValue
	}
}

// BaseRef returns the part of ref before the first "--": the ref that the link's resource declares,
// without the fields. It returns ref unchanged when ref has no fields. It does not validate and does
// not allocate, so the webhook server can call it on every event.
func BaseRef(ref string) string {
	if i := strings.Index(ref, fieldSep); i >= 0 {
		return ref[:i]
	}
	return ref
}

// partRule returns the rule of RefPartPattern that s breaks, or "" when s matches it.
func partRule(s string) string {
	if s == "" {
		return "must not be empty"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' && (i == 0 || i == len(s)-1):
			return "must not start or end with '-'"
		case c == '-' && s[i+1] == '-':
			return `must not contain "--", the separator of ref fields`
		case !isRefChar(c):
			return "must match " + RefPartPattern + " (" + found(s, i, i) + ")"
		}
	}
	return ""
}

func fieldPath(i int, name string) string { return fmt.Sprintf("fields[%d].%s", i, name) }
