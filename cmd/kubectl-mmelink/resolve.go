package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

func newResolveCmd(k *kube) *cobra.Command {
	var (
		sent, retry bool
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "resolve TOPIC (--sent | --retry)",
		Short: "Settle a NotificationTopic's registration request in doubt (RequestInDoubt)",
		Long: `Settle an opt-in request whose outcome the operator cannot know: it stopped, or Meta's answer was lost,
after the request went out (Registered=Unknown, reason RequestInDoubt). The operator never sends it twice
by itself. Look in the registration recipient's Messenger:

  --sent   the request arrived: it is recorded as sent, and the topic waits for the recipient's tap
  --retry  it did not: the request is sent again (Meta allows one per title and person per week)

This sets the annotation ` + messengerv1.ResolveRegistrationAnnotation + ` for you, then waits (--wait) until
the controller has acted on it (it removes the annotation) and prints the topic's Registered condition.
A topic that is not in doubt is left alone.`,
		Example: `  kubectl mmelink resolve weekly-deals --sent
  kubectl mmelink resolve weekly-deals --retry --wait=0   # do not wait for the controller`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sent == retry {
				return usagef("give exactly one of --sent or --retry")
			}
			value := messengerv1.ResolveRegistrationSent
			if retry {
				value = messengerv1.ResolveRegistrationRetry
			}
			return runResolve(cmd, k, args[0], value, timeout)
		},
	}
	cmd.Flags().BoolVar(&sent, "sent", false, "The request arrived in the recipient's Messenger.")
	cmd.Flags().BoolVar(&retry, "retry", false, "It did not arrive: send it again.")
	cmd.Flags().DurationVar(&timeout, "wait", 30*time.Second, "How long to wait for the controller to act; 0 returns at once.")
	return cmd
}

func runResolve(cmd *cobra.Command, k *kube, name, value string, timeout time.Duration) error {
	c, ns, err := k.ClientIn()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	key := types.NamespacedName{Namespace: ns, Name: name}
	var t messengerv1.NotificationTopic
	if err := c.Get(ctx, key, &t); err != nil {
		return fmt.Errorf("reading NotificationTopic %s: %w", key, err)
	}
	reg := apimeta.FindStatusCondition(t.Status.Conditions, messengerv1.ConditionRegistered)
	if reg == nil || reg.Reason != messengerv1.ReasonRequestInDoubt {
		state := "no Registered condition"
		if reg != nil {
			state = fmt.Sprintf("Registered=%s, reason %s", reg.Status, reg.Reason)
		}
		return fmt.Errorf("NotificationTopic %s has no request in doubt (%s): nothing to resolve", key, state)
	}
	// The resourceVersion is the optimistic lock: the answer is about the request this run read, not one
	// decided meanwhile.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations":     map[string]string{messengerv1.ResolveRegistrationAnnotation: value},
		"resourceVersion": t.ResourceVersion,
	}})
	if err != nil {
		return err
	}
	if err := c.MergePatch(ctx, key, &t, patch); err != nil {
		return fmt.Errorf("annotating NotificationTopic %s: %w", key, err)
	}
	out := cmd.OutOrStdout()
	if _, err := fmt.Fprintf(out, "notificationtopic/%s annotated %s=%s\n", name, messengerv1.ResolveRegistrationAnnotation, value); err != nil {
		return err
	}
	if timeout <= 0 {
		return nil
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, &t); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil // keep waiting, as for a controller that has not acted yet
			}
			return false, err
		}
		// The controller records the decision, removes the annotation, then writes the conditions.
		_, pending := t.Annotations[messengerv1.ResolveRegistrationAnnotation]
		reg := apimeta.FindStatusCondition(t.Status.Conditions, messengerv1.ConditionRegistered)
		return !pending && (reg == nil || reg.Reason != messengerv1.ReasonRequestInDoubt), nil
	})
	if err != nil {
		return fmt.Errorf("the controller has not acted on the annotation within %s (is the manager running?): %w", timeout, err)
	}
	if reg := apimeta.FindStatusCondition(t.Status.Conditions, messengerv1.ConditionRegistered); reg != nil {
		_, err = fmt.Fprintf(out, "Registered=%s (%s): %s\n", reg.Status, reg.Reason, reg.Message)
	}
	return err
}
