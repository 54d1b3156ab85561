// Package v1alpha1 contains the API of the mmelink operator: MessengerLink, NotificationTopic and MessengerPage.
// +kubebuilder:object:generate=true
// +groupName=messenger.mmelink.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the objects in this package.
	GroupVersion = schema.GroupVersion{Group: "messenger.mmelink.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes keeps this package's imports to apimachinery, so that clients can use the types without
// pulling in controller-runtime.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&MessengerLink{}, &MessengerLinkList{},
		&NotificationTopic{}, &NotificationTopicList{},
		&MessengerPage{}, &MessengerPageList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
