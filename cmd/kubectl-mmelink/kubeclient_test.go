package main

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// A missing object is NotFound; a kind the API server does not serve (the operator's CRDs are not
// installed, or not all of them) says so, instead of reading as a missing object.
func TestAPIClientTellsAMissingKindFromAMissingObject(t *testing.T) {
	ctx := context.Background()
	c, err := newAPIClient(world.cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: world.ns, Name: "no-such-link"}
	err = c.Get(ctx, key, &messengerv1.MessengerLink{})
	if !apierrors.IsNotFound(err) || apimeta.IsNoMatchError(err) {
		t.Errorf("Get of a missing MessengerLink = %v, want NotFound", err)
	}

	// A group the API server serves without the resource: CRDs of an older release.
	kind := messengerv1.GroupVersion.WithKind("MessengerLink")
	r := resource{kind: kind, client: c.messenger, resource: "notinstalledlinks"}
	err = r.do(ctx, r.client.Get().Namespace(key.Namespace).Resource(r.resource).Name(key.Name), &messengerv1.MessengerLink{})
	const want = `no matches for kind "MessengerLink" in version "messenger.mmelink.io/v1alpha1" (are the mmelink CRDs installed?)`
	if !apimeta.IsNoMatchError(err) || err.Error() != want {
		t.Errorf("Get of a resource not served in a served group = %v, want %q", err, want)
	}

	// A group the API server does not serve: no CRDs at all.
	absent := schema.GroupVersion{Group: "absent.mmelink.io", Version: messengerv1.GroupVersion.Version}
	if c.messenger, err = restClientFor(world.cfg, absent, "/apis"); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"get":   func() error { return c.Get(ctx, key, &messengerv1.MessengerLink{}) },
		"list":  func() error { return c.List(ctx, &messengerv1.MessengerLinkList{}, world.ns, "") },
		"patch": func() error { return c.MergePatch(ctx, key, &messengerv1.MessengerLink{}, []byte(`{}`)) },
	} {
		if err := call(); !apimeta.IsNoMatchError(err) || err.Error() != want {
			t.Errorf("%s of a kind not served = %v, want %q", name, err, want)
		}
	}
}
