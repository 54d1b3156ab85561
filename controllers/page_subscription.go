package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

// subscription keeps the app subscribed to the Page for the required fields: it reads subscribed_apps and
// writes only when a field is missing, with the union of what the app holds and what it needs, so that
// fields others added stay. While the webhook server refuses the Page's deliveries, an app that Meta
// unsubscribed (its kill switch) is not subscribed again: it would only fail again. stop ends the run.
func (run *pageRun) subscription(ctx context.Context) (stop bool, err error) {
	p := run.p
	apps, err := run.r.Graph.SubscribedApps(ctx, p.Spec.Page.ID, run.token)
	if err != nil {
		reason, err := run.graphFailure("reading the Page's subscribed apps", err, graph.PermissionShowList)
		run.setSubscribed(metav1.ConditionUnknown, reason, "the subscription could not be read")
		return true, err
	}
	required := p.SubscribedFields()
	var have []string
	subscribed := false
	for _, a := range apps {
		if a.ID == p.Status.AppID {
			have, subscribed = a.SubscribedFields, true
		}
	}
	var missing []string
	for _, f := range required {
		if !slices.Contains(have, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		p.Status.SubscribedFields = sortedCopy(have)
		run.setSubscribed(metav1.ConditionTrue, messengerv1.ReasonSucceeded,
			fmt.Sprintf("app %s is subscribed to the Page for %s", p.Status.AppID, strings.Join(required, ", ")))
		return false, nil
	}
	lost := !subscribed && len(p.Status.SubscribedFields) > 0 // it was seen subscribed before
	reason, state := messengerv1.ReasonMissingFields, fmt.Sprintf("app %s is subscribed without %s", p.Status.AppID, strings.Join(missing, ", "))
	if !subscribed {
		reason, state = messengerv1.ReasonNotSubscribed, fmt.Sprintf("app %s is not subscribed to the Page", p.Status.AppID)
	}
	if !subscribed && refusing(p) {
		run.setSubscribed(metav1.ConditionFalse, reason, state+": Meta unsubscribes an app whose deliveries keep failing; "+
			"it is subscribed again as soon as the webhook server answers the Page's deliveries with 200")
		return false, nil
	}
	union := append(slices.Clone(have), missing...)
	if err := run.r.Graph.SubscribeApp(ctx, p.Spec.Page.ID, run.token, union); err != nil {
		fr, err := run.graphFailure("subscribing the app to the Page", err, graph.PermissionManageMetadata)
		run.setSubscribed(metav1.ConditionFalse, reason, state+" (subscribing failed: "+fr+")")
		return true, err
	}
	p.Status.SubscribedFields = sortedCopy(union)
	switch {
	case lost:
		run.emit(corev1.EventTypeNormal, "Resubscribed", "Subscribe", fmt.Sprintf("app %s was no longer subscribed to Page %s "+
			"(Meta's kill switch after failed deliveries, or someone unsubscribed it) and deliveries are answered again: "+
			"subscribed it again for %s", p.Status.AppID, p.Spec.Page.ID, strings.Join(union, ", ")))
	case !subscribed:
		run.emit(corev1.EventTypeNormal, "Subscribed", "Subscribe", fmt.Sprintf("subscribed app %s to Page %s for %s",
			p.Status.AppID, p.Spec.Page.ID, strings.Join(union, ", ")))
	default:
		run.emit(corev1.EventTypeNormal, "FieldsAdded", "Subscribe", fmt.Sprintf("added %s to the subscription of app %s "+
			"to Page %s (kept %s)", strings.Join(missing, ", "), p.Status.AppID, p.Spec.Page.ID, strings.Join(have, ", ")))
	}
	run.setSubscribed(metav1.ConditionTrue, messengerv1.ReasonSucceeded,
		fmt.Sprintf("app %s is subscribed to the Page for %s", p.Status.AppID, strings.Join(required, ", ")))
	return false, nil
}

func (run *pageRun) setSubscribed(status metav1.ConditionStatus, reason, msg string) {
	setCondition(run.p, messengerv1.ConditionSubscribed, status, reason, run.scrub(msg))
}

// refusing reports whether the webhook server says it refuses the Page's deliveries.
func refusing(p *messengerv1.MessengerPage) bool {
	return p.Status.Webhook != nil && p.Status.Webhook.RefusingSince != nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
