package index

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

func TestCacheDropsManagedFields(t *testing.T) {
	link := &messengerv1.MessengerLink{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"k": "v"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}}}
	opts, err := CacheOptions(&rest.Config{Host: "https://127.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := opts.DefaultTransform(link)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*messengerv1.MessengerLink)
	if got.ManagedFields != nil {
		t.Errorf("managedFields kept in the cache: %v", got.ManagedFields)
	}
	if got.Name != "a" || got.Labels["k"] != "v" {
		t.Errorf("transform changed more than managedFields: %+v", got.ObjectMeta)
	}
}

func TestOlderThan(t *testing.T) {
	t0 := metav1.Unix(1000, 0)
	t1 := metav1.Unix(1001, 0)
	obj := func(ns, name string, at metav1.Time) *messengerv1.MessengerLink {
		return &messengerv1.MessengerLink{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: at}}
	}
	tests := []struct {
		name string
		a, b *messengerv1.MessengerLink
		want bool
	}{
		{"created earlier wins", obj("z", "z", t0), obj("a", "a", t1), true},
		{"created later loses", obj("a", "a", t1), obj("z", "z", t0), false},
		{"same second: namespace decides", obj("a", "z", t0), obj("b", "a", t0), true},
		{"same second and namespace: name decides", obj("a", "a", t0), obj("a", "b", t0), true},
		{"an object is not older than itself", obj("a", "a", t0), obj("a", "a", t0), false},
	}
	for _, tt := range tests {
		if got := OlderThan(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: OlderThan = %v, want %v", tt.name, got, tt.want)
		}
	}
}
