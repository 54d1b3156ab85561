// The store outage of the kill-switch phase: the API server refuses the webhook server's status
// writes, and takes them again.

package main

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/scheme"
)

// breakStore makes the API server reject the webhook server's status writes to links and topics (a
// ValidatingAdmissionPolicy matching its user), as a store outage would fail them, while its writes to
// MessengerPages (the health it reports) and everyone else's writes go on. It waits until a dry-run
// write as the webhook server is rejected.
func (d *demo) breakStore(ctx context.Context, c client.Client) error {
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: outageName},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule: admissionv1.Rule{APIGroups: []string{messengerv1.GroupVersion.Group}, APIVersions: []string{"*"},
						Resources: []string{"messengerlinks/status", "notificationtopics/status"}},
				},
			}}},
			MatchConditions: []admissionv1.MatchCondition{{Name: "webhook-server",
				Expression: fmt.Sprintf("request.userInfo.username == %q", webhookUser)}},
			Validations: []admissionv1.Validation{{Expression: "false",
				Message: "e2e: the webhook server's status store is down"}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: outageName},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: outageName,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating the outage's %T: %w", o, err)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", d.webhookKubeconfig)
	if err != nil {
		return err
	}
	as, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	return poll(ctx, "the API server to reject the webhook server's status writes", d.timeout, func() error {
		l := &messengerv1.MessengerLink{}
		if err := as.Get(ctx, client.ObjectKey{Namespace: "default", Name: "summer-poster"}, l); err != nil {
			return err
		}
		err := as.Status().Update(ctx, l, client.DryRunAll)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return nil
		}
		if err == nil {
			return fmt.Errorf("a dry-run status write as %s was accepted", webhookUser)
		}
		return fmt.Errorf("a dry-run status write as %s: %w (want a rejection)", webhookUser, err)
	})
}

// restoreStore removes the outage.
func (d *demo) restoreStore(ctx context.Context, c client.Client) error {
	for _, o := range []client.Object{
		&admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: outageName}},
		&admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: outageName}},
	} {
		if err := c.Delete(ctx, o); err != nil {
			return fmt.Errorf("removing the outage's %T: %w", o, err)
		}
	}
	return nil
}
