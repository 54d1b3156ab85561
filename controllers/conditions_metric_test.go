package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The manager's mmelink_condition_objects follows what the controller writes: a link that loses the
// claim to another is counted Stalled with RefConflict in its namespace, and no longer once deleted. The
// alert MmelinkLinkStalled reads this series.
func TestConditionObjectsFollowTheLinks(t *testing.T) {
	ns := newNamespace(t)
	holder := newLink(ns, "holder")
	create(t, holder)
	waitLinkReason(t, client.ObjectKeyFromObject(holder), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	copycat := newLink(ns, "copycat")
	create(t, copycat)
	waitLinkReason(t, client.ObjectKeyFromObject(copycat), metav1.ConditionFalse, messengerv1.ReasonRefConflict)

	stalled := map[string]string{"kind": "MessengerLink", "namespace": ns, "type": messengerv1.ConditionStalled,
		"status": "True", "reason": messengerv1.ReasonRefConflict}
	ready := map[string]string{"kind": "MessengerLink", "namespace": ns, "type": messengerv1.ConditionReady,
		"status": "True", "reason": messengerv1.ReasonSucceeded}
	eventually(t, 10*time.Second, func() error { return conditionCountIs(stalled, 1) })
	if err := conditionCountIs(ready, 1); err != nil {
		t.Error(err)
	}

	if err := k8sClient.Delete(context.Background(), copycat); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return conditionCountIs(stalled, 0) })
}

// conditionCountIs checks the value of the series of mmelink_condition_objects with labels (0: none).
func conditionCountIs(labels map[string]string, want float64) error {
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return err
	}
	got := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "mmelink_condition_objects" {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			got = m.GetGauge().GetValue()
		}
	}
	if got != want {
		return fmt.Errorf("mmelink_condition_objects%v = %v, want %v", labels, got, want)
	}
	return nil
}
