package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// writeResult tells what ensureConfigMap did.
type writeResult string

const (
	cmUnchanged writeResult = "Unchanged"
	cmCreated   writeResult = "Created"
	cmUpdated   writeResult = "Updated"
)

// errNotOwned is returned when a ConfigMap of the wanted name exists and belongs to someone else.
var errNotOwned = errors.New("configmap exists and is not owned by this resource")

// configMapWriter writes the ConfigMap of a link or topic. The manager's cache holds only ConfigMaps
// labelled as ours (see CacheOptions), so a foreign ConfigMap is looked up with the uncached reader.
type configMapWriter struct {
	client.Client
	// APIReader reads straight from the API server.
	APIReader client.Reader
	Scheme    *runtime.Scheme
}

// ensure makes the ConfigMap name hold out's content, owned by owner. It renders only when the inputs or
// the stored content differ from what the annotations record.
func (w *configMapWriter) ensure(ctx context.Context, owner client.Object, name string, labels map[string]string, out *configMapContent) (writeResult, error) {
	key := types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}
	inputs := out.inputsHash()

	cm := &corev1.ConfigMap{}
	err := w.Get(ctx, key, cm)
	switch {
	case apierrors.IsNotFound(err):
		// Not in the cache: absent, or present without our label (foreign, or ours with the label removed
		// by a person). Creating is right in the common case and costs one request; only when the name
		// is taken do we read it from the API server to see whose it is.
		res, err := w.create(ctx, owner, key, labels, inputs, out)
		if !apierrors.IsAlreadyExists(err) {
			return res, err
		}
		if err := w.APIReader.Get(ctx, key, cm); err != nil {
			return "", fmt.Errorf("reading ConfigMap %s: %w", name, err)
		}
	case err != nil:
		return "", fmt.Errorf("reading ConfigMap %s: %w", name, err)
	}

	if !metav1.IsControlledBy(cm, owner) {
		return "", errNotOwned
	}
	if upToDate(cm, labels, inputs) {
		return cmUnchanged, nil
	}
	data, bin, err := out.render()
	if err != nil {
		return "", err
	}
	patchBase := cm.DeepCopy()
	fill(cm, labels, inputs, data, bin)
	if err := w.Patch(ctx, cm, client.MergeFromWithOptions(patchBase, client.MergeFromWithOptimisticLock{})); err != nil {
		return "", fmt.Errorf("updating ConfigMap %s: %w", name, err)
	}
	return cmUpdated, nil
}

func (w *configMapWriter) create(ctx context.Context, owner client.Object, key types.NamespacedName, labels map[string]string, inputs string, out *configMapContent) (writeResult, error) {
	data, bin, err := out.render()
	if err != nil {
		return "", err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	fill(cm, labels, inputs, data, bin)
	if err := controllerutil.SetControllerReference(owner, cm, w.Scheme); err != nil {
		return "", fmt.Errorf("setting owner of ConfigMap %s: %w", key.Name, err)
	}
	if err := w.Create(ctx, cm); err != nil {
		return "", fmt.Errorf("creating ConfigMap %s: %w", key.Name, err)
	}
	return cmCreated, nil
}

// upToDate reports whether cm was rendered from inputs, still holds that content, and has our labels.
func upToDate(cm *corev1.ConfigMap, labels map[string]string, inputs string) bool {
	a := cm.Annotations
	if a[InputsHashAnnotation] != inputs || a[messengerv1.ContentHashAnnotation] != contentHash(cm) {
		return false
	}
	for k, v := range labels {
		if cm.Labels[k] != v {
			return false
		}
	}
	return true
}

// fill sets the content, labels and annotations. Labels and annotations that others added are kept.
func fill(cm *corev1.ConfigMap, labels map[string]string, inputs string, data map[string]string, bin map[string][]byte) {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	maps.Copy(cm.Labels, labels)
	cm.Data = data
	cm.BinaryData = bin
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[InputsHashAnnotation] = inputs
	cm.Annotations[messengerv1.ContentHashAnnotation] = contentHash(cm)
}
