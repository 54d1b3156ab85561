package main

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// apiClient reads and patches the few kinds the plugin works with, through client-go's REST client.
// controller-runtime's client would do, but it links its metrics registry (Prometheus) and, through it,
// client-go's leader election, informers and typed clientset: half the binary, for a handful of calls.
type apiClient struct {
	core, messenger rest.Interface
}

// resource is where the API server serves a kind: which client (core or the operator's group) and the
// plural name of its path.
type resource struct {
	kind     schema.GroupVersionKind
	client   rest.Interface
	resource string
}

// codecs decode the kinds the plugin reads, and the API server's Status errors.
var codecs = func() runtime.NegotiatedSerializer {
	s := runtime.NewScheme()
	// Both registrations are static; an error here is a programming error caught by every test.
	if err := corev1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := messengerv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(s).WithoutConversion()
}()

func newAPIClient(cfg *rest.Config) (*apiClient, error) {
	core, err := restClientFor(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	messenger, err := restClientFor(cfg, messengerv1.GroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &apiClient{core: core, messenger: messenger}, nil
}

func restClientFor(cfg *rest.Config, gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion, c.APIPath, c.NegotiatedSerializer = &gv, apiPath, codecs
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("creating a client of %s for %s: %w", gv, cfg.Host, err)
	}
	return rc, nil
}

// resourceOf maps the plugin's object and list types to their API resources. The set is fixed, so a
// table replaces discovery and its round trip.
func (c *apiClient) resourceOf(obj runtime.Object) (resource, error) {
	mme := messengerv1.GroupVersion.WithKind
	core := corev1.SchemeGroupVersion.WithKind
	switch obj.(type) {
	case *corev1.ConfigMap:
		return resource{core("ConfigMap"), c.core, "configmaps"}, nil
	case *corev1.Secret:
		return resource{core("Secret"), c.core, "secrets"}, nil
	case *messengerv1.MessengerLink, *messengerv1.MessengerLinkList:
		return resource{mme("MessengerLink"), c.messenger, "messengerlinks"}, nil
	case *messengerv1.NotificationTopic, *messengerv1.NotificationTopicList:
		return resource{mme("NotificationTopic"), c.messenger, "notificationtopics"}, nil
	case *messengerv1.MessengerPage, *messengerv1.MessengerPageList:
		return resource{mme("MessengerPage"), c.messenger, "messengerpages"}, nil
	}
	return resource{}, fmt.Errorf("the plugin does not read %T", obj) // a programming error
}

// Get reads the object ns/name into obj.
func (c *apiClient) Get(ctx context.Context, key types.NamespacedName, obj runtime.Object) error {
	r, err := c.resourceOf(obj)
	if err != nil {
		return err
	}
	return r.do(ctx, r.client.Get().Namespace(key.Namespace).Resource(r.resource).Name(key.Name), obj)
}

// List reads the objects of ns ("" for every namespace) into list; name, when set, keeps only that one.
func (c *apiClient) List(ctx context.Context, list runtime.Object, ns, name string) error {
	r, err := c.resourceOf(list)
	if err != nil {
		return err
	}
	req := r.client.Get().Namespace(ns).Resource(r.resource)
	if name != "" {
		req = req.Param("fieldSelector", "metadata.name="+name)
	}
	return r.do(ctx, req, list)
}

// MergePatch applies a JSON merge patch to the object ns/name and reads the result into obj.
func (c *apiClient) MergePatch(ctx context.Context, key types.NamespacedName, obj runtime.Object, patch []byte) error {
	r, err := c.resourceOf(obj)
	if err != nil {
		return err
	}
	req := r.client.Patch(types.MergePatchType).Namespace(key.Namespace).Resource(r.resource).Name(key.Name).Body(patch)
	return r.do(ctx, req, obj)
}

// do sends req and decodes the answer into obj, zeroed first: decoding into a used object would keep
// map entries (annotations, data) that the server no longer has.
func (r resource) do(ctx context.Context, req *rest.Request, obj runtime.Object) error {
	res := req.Do(ctx)
	if err := res.Error(); err != nil {
		return r.noKindMatch(ctx, err)
	}
	v := reflect.ValueOf(obj).Elem()
	v.Set(reflect.Zero(v.Type()))
	return res.Into(obj)
}

// noKindMatch tells a kind the API server does not serve (the CRDs are not installed) from a missing
// object, which both answer 404, by asking discovery; err stands when discovery cannot tell.
func (r resource) noKindMatch(ctx context.Context, err error) error {
	if !apierrors.IsNotFound(err) {
		return err
	}
	var served metav1.APIResourceList
	raw, derr := r.client.Get().Do(ctx).Raw() // the group version's resources
	switch {
	case apierrors.IsNotFound(derr): // the group version is not served
	case derr != nil || json.Unmarshal(raw, &served) != nil:
		return err
	case slices.ContainsFunc(served.APIResources, func(a metav1.APIResource) bool { return a.Name == r.resource }):
		return err
	}
	noKind := &apimeta.NoKindMatchError{GroupKind: r.kind.GroupKind(), SearchedVersions: []string{r.kind.Version}}
	return fmt.Errorf("%w (are the mmelink CRDs installed?)", noKind)
}
