// Package scheme builds the runtime scheme shared by the manager, the webhook server and the tests.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// New returns a scheme with the built-in kinds and the operator's.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	// Both registrations are static; an error here is a programming error caught by every test.
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := messengerv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
