package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mmelink/operator/internal/testenv"
)

// access is one request the manager makes of the API server.
type access struct {
	verb, group, resource string
	// leaderNS: in the namespace of the leader-election Lease rather than in a namespace of users.
	leaderNS bool
}

func (a access) String() string {
	where := "any namespace"
	if a.leaderNS {
		where = "its own namespace"
	}
	group := a.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s (%s) in %s", a.verb, a.resource, group, where)
}

// leaderElection is what controller-runtime's leader election does: it holds a Lease and records every
// change of leader as a core (v1) Event.
var leaderElection = []access{
	{verb: "get", group: "coordination.k8s.io", resource: "leases", leaderNS: true},
	{verb: "create", group: "coordination.k8s.io", resource: "leases", leaderNS: true},
	{verb: "update", group: "coordination.k8s.io", resource: "leases", leaderNS: true},
	{verb: "create", resource: "events", leaderNS: true},
	{verb: "patch", resource: "events", leaderNS: true},
}

// reconcilers is what the controllers do, whatever the mode.
var reconcilers = []access{
	{verb: "watch", group: "messenger.mmelink.io", resource: "messengerlinks"},
	{verb: "patch", group: "messenger.mmelink.io", resource: "messengerlinks/status"},
	{verb: "watch", group: "messenger.mmelink.io", resource: "notificationtopics"},
	{verb: "patch", group: "messenger.mmelink.io", resource: "notificationtopics/status"},
	{verb: "create", resource: "configmaps"},
	{verb: "delete", resource: "configmaps"},
	{verb: "get", resource: "secrets"}, // the Page access token
	{verb: "watch", resource: "secrets"},
	{verb: "create", group: "events.k8s.io", resource: "events"},
}

// bundledReceiver is what the bundled webhook receiver reads and writes besides the token shards.
var bundledReceiver = []access{
	{verb: "list", group: "messenger.mmelink.io", resource: "messengerlinks"},
	{verb: "update", group: "messenger.mmelink.io", resource: "messengerlinks/status"},
	{verb: "list", group: "messenger.mmelink.io", resource: "notificationtopics"},
	{verb: "update", group: "messenger.mmelink.io", resource: "notificationtopics/status"},
	{verb: "list", resource: "secrets"},
}

// tokenShardWrites are the receiver's writes of subscriber tokens, which only it needs.
var tokenShardWrites = []access{
	{verb: "create", resource: "secrets"},
	{verb: "update", resource: "secrets"},
}

// TestManagerRBAC installs the manager's roles from config/ as kustomize would (bound to its
// ServiceAccount) and asks the API server's RBAC authorizer, with SubjectAccessReviews, whether the
// ServiceAccount may do what the manager does.
func TestManagerRBAC(t *testing.T) {
	tests := []struct {
		name            string
		files           []string
		allowed, denied []access
	}{
		{"leader election", []string{"config/rbac/role.yaml", "config/rbac/leader_election_role.yaml"}, leaderElection, nil},
		// The install's manager: --webhook-bind-address=0.
		{"bundled receiver off", []string{"config/rbac/role.yaml"}, reconcilers, tokenShardWrites},
		{"bundled receiver on", []string{"config/rbac/role.yaml", "config/bundled-webhook/role.yaml"},
			slices.Concat(reconcilers, bundledReceiver, tokenShardWrites), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			user := installRoles(t, ns, tt.files...)
			// The RBAC authorizer learns of new roles through its informers: wait for each grant, so that
			// the denials below are checked against roles it has seen.
			for _, a := range tt.allowed {
				eventually(t, wait, func() error {
					if !allowed(t, user, ns, a) {
						return fmt.Errorf("the manager's ServiceAccount may not %s", a)
					}
					return nil
				})
			}
			for _, a := range tt.denied {
				if allowed(t, user, ns, a) {
					t.Errorf("the manager's ServiceAccount may %s, which it does not need", a)
				}
			}
		})
	}
}

// installRoles creates the Roles and ClusterRoles of files, the Roles in ns (the operator's namespace),
// each bound to the ServiceAccount controller-manager of ns, whose user name it returns. ClusterRoles get
// names of their own, so that tests do not share them.
func installRoles(t *testing.T, ns string, files ...string) string {
	t.Helper()
	user := "system:serviceaccount:" + ns + ":controller-manager"
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "controller-manager", Namespace: ns}}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var doc struct {
				metav1.TypeMeta `json:",inline"`
				Metadata        metav1.ObjectMeta   `json:"metadata"`
				Rules           []rbacv1.PolicyRule `json:"rules"`
			}
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			name := ns + "-" + doc.Metadata.Name
			switch doc.Kind {
			case "Role":
				create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: doc.Rules})
				create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subjects: subjects,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}})
			case "ClusterRole":
				create(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: doc.Rules})
				create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}})
			case "", "RoleBinding", "ClusterRoleBinding": // bound above, to this test's ServiceAccount
			default:
				t.Fatalf("%s: a %s where roles are expected", f, doc.Kind)
			}
		}
	}
	return user
}

// allowed asks the API server whether user may make request a; requests of a user are made in a
// namespace of users, the Lease's requests in the operator's namespace.
func allowed(t *testing.T, user, operatorNS string, a access) bool {
	t.Helper()
	ns := "default" // a namespace of users, where links, topics and their Secrets live
	if a.leaderNS {
		ns = operatorNS
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNS, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: a.verb, Group: a.group, Resource: a.resource,
		},
	}}
	if err := k8sClient.Create(context.Background(), sar); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return sar.Status.Allowed
}
