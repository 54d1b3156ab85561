package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

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
	Out  *configMapContent
}

// configMapPublisher writes the ConfigMap of a link or topic and turns what can go wrong into conditions, so
// that both kinds behave alike.
type configMapPublisher struct {
	writer *configMapWriter
	// recheck is how soon a ConfigMap conflict is looked at again: foreign ConfigMaps are not watched.
	recheck time.Duration
	emit    eventFunc
}

// publish writes p into its ConfigMap, owned by obj, and removes ConfigMaps obj wrote under an earlier
// name. ok reports success; otherwise a condition says why and res and err are what Reconcile returns.
func (lp *configMapPublisher) publish(ctx context.Context, obj publishedObject, p publication) (ok bool, res ctrl.Result, err error) {
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
