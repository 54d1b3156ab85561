package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/internal/names"
)

// ownedLabels are the labels of a ConfigMap written for the named object.
func ownedLabels(nameLabel, name string) map[string]string {
	return map[string]string{messengerv1.ManagedByLabel: messengerv1.ManagedByValue, nameLabel: names.LabelValue(name)}
}

// configMapOwnerIndex names the index of cached ConfigMaps by the UID of the object of the kind that
// controls them, so that finding a link's ConfigMaps does not scan its whole namespace on each reconcile.
// Each controller registers the index of its own kind, so that each SetupWithManager stands alone.
func configMapOwnerIndex(kind string) string {
	return "messenger.mmelink.io/" + strings.ToLower(kind) + "-uid"
}

func indexConfigMapsOf(ctx context.Context, mgr ctrl.Manager, kind string) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.ConfigMap{}, configMapOwnerIndex(kind), func(o client.Object) []string {
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.Kind != kind || !strings.HasPrefix(ref.APIVersion, messengerv1.GroupVersion.Group+"/") {
			return nil
		}
		return []string{string(ref.UID)}
	})
	if err != nil {
		return fmt.Errorf("indexing ConfigMaps by %s: %w", kind, err)
	}
	return nil
}

// pruneConfigMaps deletes ConfigMaps that owner controls but no longer writes, after a change of
// spec.configMapName.
func pruneConfigMaps(ctx context.Context, c client.Client, owner client.Object, kind, keep string) error {
	var cms corev1.ConfigMapList
	if err := c.List(ctx, &cms, client.InNamespace(owner.GetNamespace()),
		client.MatchingFields{configMapOwnerIndex(kind): string(owner.GetUID())}); err != nil {
		return fmt.Errorf("listing ConfigMaps: %w", err)
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		if cm.Name == keep { // the index holds only ConfigMaps that owner controls
			continue
		}
		if err := c.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old ConfigMap %s: %w", cm.Name, err)
		}
	}
	return nil
}
