package controllers_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/scheme"
)

// The manager's cache holds only the Secrets labelled as ours, and that holds for metadata-only reads
// and watches too. This is why the token Secret watch has a cache of its own (secretwatch.go).
func TestManagerCacheHidesTokenSecrets(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	ours := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ours",
		Labels: map[string]string{messengerv1.ManagedByLabel: messengerv1.ManagedByValue}}}
	if err := k8sClient.Create(ctx, ours); err != nil {
		t.Fatal(err)
	}

	opts, err := index.CacheOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Scheme = scheme.New()
	c, err := cache.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not start")
	}
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	if len(names) != 1 || names[0] != "ours" {
		t.Fatalf("metadata of Secrets seen through the manager's cache: %v, want only [ours]", names)
	}
}
