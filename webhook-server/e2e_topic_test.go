package webhookserver_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/testenv"
)

// optinEv is a recurring-notification opt-in (status "" ), stop or resume from sender, attributed by
// topic (m.me/rn opt-ins) or, with topic empty, by the request's title.
func optinEv(page, sender, topic, title, status string, n int) string {
	st := ""
	if status != "" {
		st = fmt.Sprintf(`,"notification_messages_status":%q`, status)
	}
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"optin":{"type":"notification_messages",`+
		`"title":%q,"notification_messages_topic":%q,"notification_messages_token":"token-of-%s","notification_messages_frequency":"WEEKLY"%s}}`,
		sender, page, 1_760_000_000_000+1000*int64(n), title, topic, sender, st)
}

// Opt-ins reach their topic through the webhook: counted per token, stops applied, tokens kept in the
// topic's Secrets, and the registration recipient's opt-in recorded as the confirmation.
func TestTopicOptInsThroughTheWebhook(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	page := testenv.PageID(ns)
	topic := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deals"},
		Spec: messengerv1.NotificationTopicSpec{
			Page: messengerv1.PageRef{ID: page}, Topic: "Weekly deals",
			Registration:         &messengerv1.RegistrationSpec{RecipientID: "900"},
			AccessTokenSecretRef: &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"},
		},
	}
	if err := c.Create(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(topic)
	holdClaim(t, topic)
	in := startInstance(t)

	deliveries := [][]string{
		{optinEv(page, "1", "Weekly deals", "Weekly deals", "", 1), optinEv(page, "2", "", "Weekly deals", "", 2)},
		{optinEv(page, "900", "", "Weekly deals", "", 3)}, // the registration recipient taps the button
		{optinEv(page, "2", "", "Weekly deals", "stop notifications", 4)},
		{optinEv(page, "1", "Weekly deals", "Weekly deals", "", 1)}, // the same opt-in, redelivered
	}
	for i, d := range deliveries {
		if code := in.send(body(page, d...)); code != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	got := &messengerv1.NotificationTopic{}
	if err := c.Get(context.Background(), key, got); err != nil {
		t.Fatal(err)
	}
	o := got.Status.OptIns
	if o == nil || o.Total != 3 || o.Active != 2 || o.Stopped != 1 {
		t.Fatalf("optIns = %+v, want total 3, active 2, stopped 1", o)
	}
	if o.ConfirmedTime == nil || o.ConfirmedTime.Unix() != 1_760_000_003 {
		t.Errorf("confirmedTime = %v, want the recipient's opt-in time", o.ConfirmedTime)
	}
	if len(o.Secrets) != 1 {
		t.Fatalf("secrets = %v", o.Secrets)
	}
	var s corev1.Secret
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: o.Secrets[0]}, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Data) != 3 {
		t.Errorf("Secret holds %d tokens, want 3", len(s.Data))
	}
}

// A topic name longer than a label value is cut for the label of its token Secrets, and the cut never
// ends in '-': this one has it at character 63, where a plain cut makes an invalid label and every
// Secret create fails (the delivery then answered 503 for ever).
func TestLongTopicNameGetsAValidShardLabel(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	page := testenv.PageID(ns)
	name := strings.Repeat("a", 62) + "-b"
	topic := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       messengerv1.NotificationTopicSpec{Page: messengerv1.PageRef{ID: page}, Topic: "Weekly deals"},
	}
	if err := c.Create(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	holdClaim(t, topic)
	in := startInstance(t)

	if code := in.send(body(page, optinEv(page, "1", "Weekly deals", "Weekly deals", "", 1))); code != http.StatusOK {
		t.Fatalf("delivery: %d", code)
	}
	var secrets corev1.SecretList
	if err := c.List(context.Background(), &secrets, client.InNamespace(ns),
		client.MatchingLabels{messengerv1.TopicNameLabel: strings.Repeat("a", 62)}); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 1 || len(secrets.Items[0].Data) != 1 {
		t.Fatalf("%d token Secrets labelled with the cut name, want 1 with the token", len(secrets.Items))
	}
}
