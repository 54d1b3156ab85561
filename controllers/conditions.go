package controllers

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// conditioned is an object with status conditions.
type conditioned interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// setCondition sets one condition, stamped with the object's generation. The transition time moves only
// when the status changes, so repeated reconciles write nothing new.
func setCondition(obj conditioned, typ string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	apimeta.SetStatusCondition(&conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// markReady records success: Ready=True, and no Reconciling or Stalled.
func markReady(obj conditioned, reason, message string) {
	setCondition(obj, messengerv1.ConditionReady, metav1.ConditionTrue, reason, message)
	removeCondition(obj, messengerv1.ConditionReconciling)
	removeCondition(obj, messengerv1.ConditionStalled)
}

// markStalled records a state only a person can change: Ready=False and Stalled=True with the same reason.
func markStalled(obj conditioned, reason, message string) {
	setCondition(obj, messengerv1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, messengerv1.ConditionStalled, metav1.ConditionTrue, reason, message)
	removeCondition(obj, messengerv1.ConditionReconciling)
}

// markReconciling records work in progress or a transient failure that will be retried.
func markReconciling(obj conditioned, reason, message string) {
	setCondition(obj, messengerv1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, messengerv1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	removeCondition(obj, messengerv1.ConditionStalled)
}

func removeCondition(obj conditioned, typ string) {
	conds := obj.GetConditions()
	if apimeta.RemoveStatusCondition(&conds, typ) {
		obj.SetConditions(conds)
	}
}

// readyReason returns the reason of the Ready condition, or "" when there is none.
func readyReason(obj conditioned) string {
	if c := apimeta.FindStatusCondition(obj.GetConditions(), messengerv1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}
