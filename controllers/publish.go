package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// eventFunc records an event about the object being reconciled. The MessengerLink reconciler records at
// once; the NotificationTopic reconciler holds its events until the status that explains them is stored.
type eventFunc func(eventType, reason, action, note string)

// publishedObject is a MessengerLink or a NotificationTopic.
type publishedObject interface {
	client.Object
	conditioned
}

// publication is one ConfigMap to write for a link or topic.
type publication struct {
	// Kind names the resource in messages and metrics.
	Kind string
	// NameLabel is the label that ties the ConfigMap to its owner by name.
	NameLabel string
	// Name of the ConfigMap.
	Name string
	Out  *output
}

// linkPublisher writes the ConfigMap of a link or topic and turns what can go wrong into conditions, so
// that both kinds behave alike.
type linkPublisher struct {
	writer *configMapWriter
	// recheck is how soon a ConfigMap conflict is looked at again: foreign ConfigMaps are not watched.
	recheck time.Duration
	emit    eventFunc
}

// stallInvalid records a spec the controller cannot use; only a change of the spec helps.
func stallInvalid(obj conditioned, emit eventFunc, before string, err error) {
	markStalled(obj, messengerv1.ReasonInvalidSpec, err.Error())
	warnOnChange(obj, emit, before, "Validate", err.Error())
}

// publish writes p into its ConfigMap, owned by obj, and removes ConfigMaps obj wrote under an earlier
// name. ok reports success; otherwise a condition says why and res and err are what Reconcile returns.
func (lp *linkPublisher) publish(ctx context.Context, obj publishedObject, p publication) (ok bool, res ctrl.Result, err error) {
	before := readyReason(obj)
	written, err := lp.writer.ensure(ctx, obj, p.Name, ownedLabels(p.NameLabel, obj.GetName()), p.Out)
	switch {
	case errors.Is(err, errNotOwned):
		msg := fmt.Sprintf("ConfigMap %s exists and is not owned by this %s; delete it or set spec.configMapName", p.Name, p.Kind)
		markStalled(obj, messengerv1.ReasonConfigMapConflict, msg)
		warnOnChange(obj, lp.emit, before, "WriteConfigMap", msg)
		return false, ctrl.Result{RequeueAfter: lp.recheck}, nil
	case errors.Is(err, errRender):
		markStalled(obj, messengerv1.ReasonRenderFailed, err.Error())
		warnOnChange(obj, lp.emit, before, "Render", err.Error())
		return false, ctrl.Result{}, nil
	case err != nil:
		// The error makes controller-runtime retry with backoff.
		markReconciling(obj, messengerv1.ReasonWriteFailed, err.Error())
		return false, ctrl.Result{}, err
	}
	if err := pruneConfigMaps(ctx, lp.writer.Client, obj, p.Kind, p.Name); err != nil {
		markReconciling(obj, messengerv1.ReasonWriteFailed, err.Error())
		return false, ctrl.Result{}, err
	}
	if written != cmUnchanged {
		ctrl.LoggerFrom(ctx).V(1).Info("wrote ConfigMap", "configMap", p.Name, "action", written)
	}
	// A repair or a change is worth a person's attention; a creation is already told by Ready, and an
	// event per new object would double the writes of a bulk apply.
	if written == cmUpdated {
		lp.emit(corev1.EventTypeNormal, "ConfigMapUpdated", "WriteConfigMap", "ConfigMap "+p.Name+" updated")
	}
	return true, ctrl.Result{}, nil
}

// warnOnChange records a warning only when the Ready reason changed, so that a stuck object does not
// flood the event stream on every resync.
func warnOnChange(obj conditioned, emit eventFunc, before, action, msg string) {
	if now := readyReason(obj); now != before {
		emit(corev1.EventTypeWarning, now, action, msg)
	}
}

// ownedConfigMapChanges passes updates and deletions of a ConfigMap, which are a person's edits to repair,
// but not its creation: only the controller creates it, and the reconcile that did has already written
// the status. Reacting to it would reconcile every new object twice, the second time from a cache that
// may not yet show the first status write, and so write it again.
var ownedConfigMapChanges = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false },
}
