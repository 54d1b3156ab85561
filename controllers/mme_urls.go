package controllers

import (
	"fmt"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/link"
)

// messengerLinkURL checks the spec again (the API server's schema cannot express every rule, and objects
// may predate a rule) and builds the m.me link. It returns the link and the ref with its fields encoded.
func messengerLinkURL(spec *messengerv1.MessengerLinkSpec) (url, ref string, err error) {
	if err := validatePage(spec.Page); err != nil {
		return "", "", err
	}
	if spec.Ref != "" {
		fields := make([]link.Field, len(spec.Fields))
		for i, f := range spec.Fields {
			fields[i] = link.Field{ID: f.ID, Value: f.Value}
		}
		if ref, err = link.EncodeRef(spec.Ref, fields); err != nil {
			return "", "", err
		}
	}
	if spec.Text != "" {
		if err := link.ValidateText(spec.Text); err != nil {
			return "", "", err
		}
	}
	url, err = link.MessengerURL(spec.Page.LinkPage(), ref, spec.Text)
	if err != nil {
		return "", "", fmt.Errorf("building link: %w", err)
	}
	return url, ref, nil
}

// recurringURL checks a NotificationTopic's spec and builds its m.me/rn link.
func recurringURL(t *messengerv1.NotificationTopic) (string, error) {
	spec := &t.Spec
	if err := validatePage(spec.Page); err != nil {
		return "", err
	}
	url, err := link.RecurringURL(spec.Page.LinkPage(), spec.Topic, string(t.GetCadence()), spec.Ref)
	if err != nil {
		return "", fmt.Errorf("building link: %w", err)
	}
	return url, nil
}

func validatePage(p messengerv1.PageRef) error {
	if err := link.ValidatePageID(p.ID); err != nil {
		return err
	}
	if p.Username != "" {
		return link.ValidateUsername(p.Username)
	}
	return nil
}
