package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

const (
	// pageFailingAfter stands for the 15 minutes after which refusals turn Receiving False.
	pageFailingAfter = 3 * time.Second
	// suiteAppID is the manager's --messenger-app-id in this suite, the emulator's default app.
	suiteAppID = graphtest.DefaultAppID
)

// profileBackoff spaces profile calls after Meta's rate limit in these tests (a minute in production).
var profileBackoff = graph.Backoff{Base: 500 * time.Millisecond, Max: 2 * time.Second, Jitter: -1}

var operatorFields = []string{"messaging_postbacks", "messaging_referrals", "messaging_optins"}

// newMessengerPage returns a MessengerPage for the namespace's own Page, with a Get Started payload and
// one domain. Tests make the Page known to the emulator first (emu.AddPage: the namespace's token, every
// permission).
func newMessengerPage(ns, name string, mutate ...func(*messengerv1.MessengerPage)) *messengerv1.MessengerPage {
	p := &messengerv1.MessengerPage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: messengerv1.MessengerPageSpec{
			Page:                 messengerv1.PageRef{ID: pageID(ns), Username: "acme.shoes"},
			AccessTokenSecretRef: messengerv1.SecretKeySelector{Name: "page-token", Key: "token"},
			GetStarted:           &messengerv1.GetStartedSpec{Payload: "MMELINK_START"},
			Domains:              []messengerv1.HTTPSOrigin{"https://shop.acme.example"},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func createPage(t *testing.T, p *messengerv1.MessengerPage) client.ObjectKey {
	t.Helper()
	if err := k8sClient.Create(context.Background(), p); err != nil {
		t.Fatalf("creating MessengerPage: %v", err)
	}
	return client.ObjectKeyFromObject(p)
}

// waitPage waits until check accepts the MessengerPage, with its status for the current generation.
func waitPage(t *testing.T, key client.ObjectKey, check func(*messengerv1.MessengerPage) error) *messengerv1.MessengerPage {
	t.Helper()
	var got *messengerv1.MessengerPage
	eventually(t, wait, func() error {
		p := &messengerv1.MessengerPage{}
		if err := k8sClient.Get(context.Background(), key, p); err != nil {
			return err
		}
		if p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("status describes generation %d, page is at %d", p.Status.ObservedGeneration, p.Generation)
		}
		if err := check(p); err != nil {
			return err
		}
		got = p
		return nil
	})
	return got
}

// hasCondition accepts a page whose condition typ has the status and reason.
func hasCondition(typ string, status metav1.ConditionStatus, reason string) func(*messengerv1.MessengerPage) error {
	return func(p *messengerv1.MessengerPage) error {
		c := apimeta.FindStatusCondition(p.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s = %+v, want %s/%s", typ, c, status, reason)
		}
		return nil
	}
}

func all(checks ...func(*messengerv1.MessengerPage) error) func(*messengerv1.MessengerPage) error {
	return func(p *messengerv1.MessengerPage) error {
		for _, c := range checks {
			if err := c(p); err != nil {
				return err
			}
		}
		return nil
	}
}

var pageReady = hasCondition(messengerv1.ConditionReady, metav1.ConditionTrue, messengerv1.ReasonSucceeded)

// notStalled accepts a page without Stalled=True: what recovers by itself is not Stalled.
func notStalled(p *messengerv1.MessengerPage) error {
	if c := apimeta.FindStatusCondition(p.Status.Conditions, messengerv1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return fmt.Errorf("Stalled: %s", c.Message)
	}
	return nil
}

func pageCondition(p *messengerv1.MessengerPage, typ string) metav1.Condition {
	if c := apimeta.FindStatusCondition(p.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// updatePage changes a MessengerPage's spec, retrying on conflicts with the controller.
func updatePage(t *testing.T, key client.ObjectKey, change func(*messengerv1.MessengerPage)) {
	t.Helper()
	eventually(t, wait, func() error {
		p := &messengerv1.MessengerPage{}
		if err := k8sClient.Get(context.Background(), key, p); err != nil {
			return err
		}
		change(p)
		return k8sClient.Update(context.Background(), p)
	})
}

// touchSecret changes the token Secret's metadata, as rotating the token does: the controller rechecks.
func touchSecret(t *testing.T, ns, value string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "page-token"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data = map[string][]byte{"token": []byte(value)}
	metav1.SetMetaDataAnnotation(&s.ObjectMeta, "rotated", time.Now().Format(time.RFC3339Nano))
	if err := k8sClient.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// pageEvents returns the events about MessengerPages in ns, as "type reason: note".
func pageEvents(t testing.TB, ns string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "MessengerPage" {
			out = append(out, e.Type+" "+e.Reason+": "+e.Note)
		}
	}
	return out
}

// waitEvent waits for an event about a MessengerPage of ns whose "type reason" starts with prefix.
func waitEvent(t *testing.T, ns, prefix string) string {
	t.Helper()
	var found string
	eventually(t, wait, func() error {
		for _, e := range pageEvents(t, ns) {
			if strings.HasPrefix(e, prefix) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no event %q among %v", prefix, pageEvents(t, ns))
	})
	return found
}

// checkNoPageToken fails if the namespace's token appears in the status (conditions included) of a
// MessengerPage, in an event, or in a URL the emulator received.
func checkNoPageToken(t testing.TB, ns string) {
	t.Helper()
	token := tokenFor(ns)
	var pages messengerv1.MessengerPageList
	if err := k8sClient.List(context.Background(), &pages, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages.Items {
		b, _ := json.Marshal(p.Status)
		if strings.Contains(string(b), token) {
			t.Errorf("status of %s carries the token: %s", p.Name, b)
		}
	}
	for _, e := range pageEvents(t, ns) {
		if strings.Contains(e, token) {
			t.Errorf("event carries the token: %s", e)
		}
	}
	for _, r := range pageRequests(pageID(ns)) {
		if strings.Contains(r.URL, token) || r.TokenSource == "query" {
			t.Errorf("%s %s: the token left the Authorization header", r.Method, r.URL)
		}
	}
}

// profileCalls counts the messenger_profile requests the emulator received for the namespace's Page.
func profileCalls(ns string) int { return emu.ProfileCalls(pageID(ns)) }
