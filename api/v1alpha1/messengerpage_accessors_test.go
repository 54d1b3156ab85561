package v1alpha1

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAllowsNamespace(t *testing.T) {
	page := func(a *AllowedNamespaces) *MessengerPage {
		return &MessengerPage{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "acme"},
			Spec: MessengerPageSpec{AllowedNamespaces: a}}
	}
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shoes"}}
	notStaging := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"staging"}}}}
	tests := []struct {
		name   string
		page   *MessengerPage
		ns     string
		labels map[string]string
		want   bool
	}{
		{"unset means Same: own namespace", page(nil), "shop", nil, true},
		{"unset means Same: other namespace refused", page(nil), "blog", nil, false},
		{"empty from means Same", page(&AllowedNamespaces{}), "blog", nil, false},
		{"Same: own namespace", page(&AllowedNamespaces{From: NamespacesFromSame}), "shop", nil, true},
		{"Same: other namespace refused", page(&AllowedNamespaces{From: NamespacesFromSame}), "blog", nil, false},
		{"All: any namespace", page(&AllowedNamespaces{From: NamespacesFromAll}), "blog", nil, true},
		{"Selector: labels match", page(&AllowedNamespaces{From: NamespacesFromSelector, Selector: team}),
			"blog", map[string]string{"team": "shoes"}, true},
		{"Selector: labels differ", page(&AllowedNamespaces{From: NamespacesFromSelector, Selector: team}),
			"blog", map[string]string{"team": "hats"}, false},
		{"Selector: own namespace needs the labels too", page(&AllowedNamespaces{From: NamespacesFromSelector, Selector: team}),
			"shop", nil, false},
		{"Selector: expression matches a namespace without the key", page(&AllowedNamespaces{From: NamespacesFromSelector,
			Selector: notStaging}), "blog", nil, true},
		{"Selector: expression refuses", page(&AllowedNamespaces{From: NamespacesFromSelector, Selector: notStaging}),
			"blog", map[string]string{"env": "staging"}, false},
		{"Selector: empty selector matches every namespace", page(&AllowedNamespaces{From: NamespacesFromSelector,
			Selector: &metav1.LabelSelector{}}), "blog", nil, true},
		{"Selector without selector allows nothing", page(&AllowedNamespaces{From: NamespacesFromSelector}), "shop", nil, false},
		{"unknown from is treated as Same", page(&AllowedNamespaces{From: "Everywhere"}), "blog", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.page.AllowsNamespace(tt.ns, tt.labels)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("AllowsNamespace(%q, %v) = %v, want %v", tt.ns, tt.labels, got, tt.want)
			}
		})
	}
}

// A namespace relabelled at run time is decided on the labels it has now: the function keeps no memory.
func TestAllowsNamespaceRelabelled(t *testing.T) {
	p := &MessengerPage{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: MessengerPageSpec{
		AllowedNamespaces: &AllowedNamespaces{From: NamespacesFromSelector,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"messenger": "allowed"}}}}}
	labels := map[string]string{}
	for i, step := range []struct {
		value string
		want  bool
	}{{"allowed", true}, {"revoked", false}, {"allowed", true}} {
		labels["messenger"] = step.value
		if got, _ := p.AllowsNamespace("blog", labels); got != step.want {
			t.Errorf("step %d (%s): AllowsNamespace = %v, want %v", i, step.value, got, step.want)
		}
	}
}

func TestAllowsNamespaceInvalidSelector(t *testing.T) {
	p := &MessengerPage{Spec: MessengerPageSpec{AllowedNamespaces: &AllowedNamespaces{From: NamespacesFromSelector,
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: "Resembles", Values: []string{"x"}}}}}}}
	ok, err := p.AllowsNamespace("blog", nil)
	if err == nil || ok {
		t.Fatalf("AllowsNamespace = %v, %v; want false and an error naming the selector", ok, err)
	}
}

func TestMessengerPageDefaults(t *testing.T) {
	p := &MessengerPage{}
	if got := p.SubscribedFields(); !slices.Equal(got, []string{"messaging_postbacks", "messaging_referrals", "messaging_optins"}) {
		t.Errorf("default fields = %v", got)
	}
	got := p.SubscribedFields()
	got[0] = "changed"
	if DefaultSubscribedFields[0] != FieldMessagingPostbacks {
		t.Error("SubscribedFields hands out the defaults themselves")
	}
	if p.GetStartedPolicy() != GetStartedIfAbsent || p.NamespacesFrom() != NamespacesFromSame || p.AppIDOr("42") != "42" {
		t.Errorf("defaults: policy %s, from %s, app %s", p.GetStartedPolicy(), p.NamespacesFrom(), p.AppIDOr("42"))
	}
	p.Spec.Webhook = &PageWebhookSpec{SubscribedFields: []WebhookField{"messages"}}
	p.Spec.AppID = "7"
	if got := p.SubscribedFields(); !slices.Equal(got, []string{"messages"}) || p.AppIDOr("42") != "7" {
		t.Errorf("spec values not used: %v %s", got, p.AppIDOr("42"))
	}
}
