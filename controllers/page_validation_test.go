package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// Bad MessengerPages are refused at apply time with the field named; cross-field rules are CEL.
func TestInvalidMessengerPagesAreRejected(t *testing.T) {
	ns := newNamespace(t)
	valid := func() *messengerv1.MessengerPage {
		return &messengerv1.MessengerPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns},
			Spec: messengerv1.MessengerPageSpec{Page: messengerv1.PageRef{ID: "1122334455"},
				AccessTokenSecretRef: messengerv1.SecretKeySelector{Name: "page-token", Key: "token"}}}
	}
	domains := func(d ...messengerv1.HTTPSOrigin) func(*messengerv1.MessengerPage) {
		return func(p *messengerv1.MessengerPage) { p.Spec.Domains = d }
	}
	var many []messengerv1.HTTPSOrigin
	for i := range messengerv1.MaxPageDomains + 1 {
		many = append(many, messengerv1.HTTPSOrigin(fmt.Sprintf("https://s%d.acme.example", i)))
	}
	tests := []struct {
		name      string
		mutate    func(*messengerv1.MessengerPage)
		wantField string
		wantText  string
	}{
		{"no token Secret", func(p *messengerv1.MessengerPage) { p.Spec.AccessTokenSecretRef = messengerv1.SecretKeySelector{} },
			"spec.accessTokenSecretRef.name", ""},
		{"app ID not numeric", func(p *messengerv1.MessengerPage) { p.Spec.AppID = "my-app" }, "spec.appID", "should match"},
		{"unknown field name", func(p *messengerv1.MessengerPage) {
			p.Spec.Webhook = &messengerv1.PageWebhookSpec{SubscribedFields: []messengerv1.WebhookField{"Messaging Referrals"}}
		}, "spec.webhook.subscribedFields[0]", "should match"},
		{"unknown policy", func(p *messengerv1.MessengerPage) {
			p.Spec.GetStarted = &messengerv1.GetStartedSpec{Payload: "GO", Policy: "Always"}
		}, "spec.getStarted.policy", "Unsupported value"},
		{"Enforce without payload", func(p *messengerv1.MessengerPage) {
			p.Spec.GetStarted = &messengerv1.GetStartedSpec{Policy: messengerv1.GetStartedEnforce}
		}, "spec.getStarted", "policy Enforce requires payload"},
		{"http domain", domains("http://shop.acme.example"), "spec.domains[0]", "should match"},
		{"domain with a path", domains("https://shop.acme.example/chat"), "spec.domains[0]", "should match"},
		{"IP address", domains("https://192.168.1.10"), "spec.domains[0]", "should match"},
		{"bare localhost", domains("https://localhost"), "spec.domains[0]", "should match"},
		{"localhost subdomain", domains("https://shop.localhost:8443"), "spec.domains[0]", "must not be localhost"},
		{"upper case", domains("https://Shop.Acme.example"), "spec.domains[0]", "should match"},
		{"51 domains", domains(many...), "spec.domains", "must have at most 50 items"},
		{"Selector without selector", func(p *messengerv1.MessengerPage) {
			p.Spec.AllowedNamespaces = &messengerv1.AllowedNamespaces{From: messengerv1.NamespacesFromSelector}
		}, "spec.allowedNamespaces", "selector is required when from is Selector"},
		{"selector without Selector", func(p *messengerv1.MessengerPage) {
			p.Spec.AllowedNamespaces = &messengerv1.AllowedNamespaces{From: messengerv1.NamespacesFromAll,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}
		}, "spec.allowedNamespaces", "allowed only then"},
		{"unknown from", func(p *messengerv1.MessengerPage) {
			p.Spec.AllowedNamespaces = &messengerv1.AllowedNamespaces{From: "Everywhere"}
		}, "spec.allowedNamespaces.from", "Unsupported value"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			p.Name = truncateName("bad-"+strings.ToLower(strings.ReplaceAll(tt.name, " ", "-")), i)
			tt.mutate(p)
			err := k8sClient.Create(context.Background(), p)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tt.wantField) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %s with %q", err, tt.wantField, tt.wantText)
			}
		})
	}
	p := valid()
	p.Name = "good"
	p.Spec.Domains = []messengerv1.HTTPSOrigin{"https://shop.acme.example", "https://acme.example:8443"}
	p.Spec.AllowedNamespaces = &messengerv1.AllowedNamespaces{From: messengerv1.NamespacesFromSelector,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shoes"}}}
	if err := k8sClient.Create(context.Background(), p); err != nil {
		t.Fatalf("a valid MessengerPage was refused: %v", err)
	}
	if p.Status.ObservedGeneration != -1 {
		t.Errorf("new page observedGeneration = %d, want -1", p.Status.ObservedGeneration)
	}
}
