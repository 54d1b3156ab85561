package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

// topicInDoubt creates a topic of the samples' Page whose first opt-in request loses its answer (Meta
// drops the connection), and waits until the controller calls it RequestInDoubt.
func topicInDoubt(t *testing.T, name, title string) {
	t.Helper()
	world.emu.SetFault(graphtest.Match{PageID: samplePage, Title: title}, graphtest.Fault{CloseConnection: true, Times: 1})
	tp := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: world.ns, Name: name},
		Spec: messengerv1.NotificationTopicSpec{
			Page: messengerv1.PageRef{ID: samplePage, Username: "acme.shoes"}, Topic: title,
			Registration:         &messengerv1.RegistrationSpec{RecipientID: "6021234567890123", Payload: name},
			AccessTokenSecretRef: &messengerv1.SecretKeySelector{Name: "acme-page-token", Key: "token"},
		},
	}
	if err := world.c.Create(context.Background(), tp); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error { return registered(t, name, metav1.ConditionUnknown, messengerv1.ReasonRequestInDoubt) })
}

func registered(t *testing.T, name string, status metav1.ConditionStatus, reason string) error {
	c := apimeta.FindStatusCondition(getTopic(t, name).Status.Conditions, messengerv1.ConditionRegistered)
	if c == nil || c.Status != status || c.Reason != reason {
		return fmt.Errorf("topic %s: Registered %+v, want %s %s", name, c, status, reason)
	}
	return nil
}

// requestsFor counts the opt-in requests Meta received for a title.
func requestsFor(title string) int {
	n := 0
	for _, r := range world.emu.Requests() {
		if r.Edge == "" && bytes.Contains(r.Body, []byte(`"title":"`+title+`"`)) {
			n++
		}
	}
	return n
}

// resolve writes the annotation the controller reads, and the controller acts on it: --sent records
// the request as sent (nothing is sent again), --retry sends it again (and the recipient confirms).
func TestResolve(t *testing.T) {
	topicInDoubt(t, "clearance", "Clearance")
	topicInDoubt(t, "flash-sales", "Flash sales")

	out := mustPlugin(t, "resolve", "clearance", "--sent")
	t.Logf("kubectl mmelink resolve clearance --sent:\n%s", out)
	if !strings.HasPrefix(out, "notificationtopic/clearance annotated "+messengerv1.ResolveRegistrationAnnotation+"=sent\n") ||
		!strings.Contains(out, "Registered=False (AwaitingConfirmation)") {
		t.Errorf("resolve --sent printed %q", out)
	}
	tp := getTopic(t, "clearance")
	if _, ok := tp.Annotations[messengerv1.ResolveRegistrationAnnotation]; ok || tp.Status.Registration.SentTime == nil {
		t.Errorf("after --sent: annotations %v, registration %+v; want the annotation acted on and removed, the request sent",
			tp.Annotations, tp.Status.Registration)
	}
	if n := requestsFor("Clearance"); n != 1 {
		t.Errorf("%d requests for Clearance, want 1: --sent sends nothing", n)
	}

	out = mustPlugin(t, "resolve", "flash-sales", "--retry")
	t.Logf("kubectl mmelink resolve flash-sales --retry:\n%s", out)
	if !strings.Contains(out, messengerv1.ResolveRegistrationAnnotation+"=retry") {
		t.Errorf("resolve --retry printed %q", out)
	}
	eventually(t, func() error { return registered(t, "flash-sales", metav1.ConditionTrue, messengerv1.ReasonConfirmed) })
	if n := requestsFor("Flash sales"); n != 2 {
		t.Errorf("%d requests for Flash sales, want 2: --retry sends it again", n)
	}

	// A topic that is not in doubt is left alone.
	out, code := plugin(t, "resolve", "weekly-deals", "--sent")
	if code != 1 {
		t.Errorf("resolve of a registered topic: exit %d, %q", code, out)
	}
	if _, ok := getTopic(t, "weekly-deals").Annotations[messengerv1.ResolveRegistrationAnnotation]; ok {
		t.Error("resolve annotated a topic that was not in doubt")
	}
	if _, code := plugin(t, "resolve", "clearance"); code != 2 {
		t.Errorf("resolve without --sent or --retry: exit %d, want 2", code)
	}
}
