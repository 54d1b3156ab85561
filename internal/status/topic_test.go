package status_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
)

func newTopic(t *testing.T) *messengerv1.NotificationTopic {
	t.Helper()
	ns := fmt.Sprintf("topic-%d", nsN.Add(1))
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	topic := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deals"},
		Spec: messengerv1.NotificationTopicSpec{
			Page: messengerv1.PageRef{ID: "42"}, Topic: "Weekly deals",
			Registration:         &messengerv1.RegistrationSpec{RecipientID: "777"},
			AccessTokenSecretRef: &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"},
		},
	}
	if err := k8s.Create(ctx, topic); err != nil {
		t.Fatal(err)
	}
	return topic
}

// optin is a recurring-notification event for a person; st is "" (opt in), stop or resume.
func optin(sender string, st delivery.Status, sec int64) delivery.Event {
	ev := delivery.Event{Kind: delivery.KindNotificationOptIn, PageID: "42", SenderID: sender, Time: time.Unix(1_760_000_000+sec, 0)}
	ev.OptIn = delivery.OptIn{Type: "notification_messages", Title: "Weekly deals", Topic: "Weekly deals",
		Token: "tok-" + sender + "-secret", Status: st, Frequency: "WEEKLY", Timezone: "UTC"}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", sender, st, sec))
	copy(ev.Fingerprint[:], sum[:16])
	return ev
}

func topicItems(key types.NamespacedName, recipient string, evs ...delivery.Event) []status.Item {
	out := make([]status.Item, len(evs))
	for i, ev := range evs {
		out[i] = status.Item{Target: status.Target{Kind: status.KindTopic, NamespacedName: key}, Event: ev, Recipient: ev.SenderID == recipient}
	}
	return out
}

func optIns(t *testing.T, key types.NamespacedName) *messengerv1.NotificationTopic {
	t.Helper()
	topic := &messengerv1.NotificationTopic{}
	if err := k8s.Get(context.Background(), key, topic); err != nil {
		t.Fatal(err)
	}
	if topic.Status.OptIns == nil {
		topic.Status.OptIns = &messengerv1.OptInStats{}
	}
	return topic
}

func TestOptInsAreCountedPerToken(t *testing.T) {
	topic := newTopic(t)
	key := client.ObjectKeyFromObject(topic)
	w := status.NewStore(k8s, k8s, status.Options{FlushInterval: 5 * time.Millisecond, TokensPerShard: 3})

	steps := []struct {
		name                   string
		events                 []delivery.Event
		total, active, stopped int64
	}{
		{"four people opt in", []delivery.Event{optin("1", "", 1), optin("2", "", 2), optin("3", "", 3), optin("4", "", 4)}, 4, 4, 0},
		// Every app on the Page receives every opt-in: the same token again is not a new subscriber.
		{"the same opt-in from another app's delivery", []delivery.Event{withFingerprint(optin("1", "", 1), "other-app")}, 4, 4, 0},
		{"one stops", []delivery.Event{optin("2", delivery.StatusStop, 10)}, 4, 3, 1},
		// A resume older than the stop arrives late: the stop stands.
		{"a stale resume", []delivery.Event{optin("2", delivery.StatusResume, 5)}, 4, 3, 1},
		{"a fresh resume", []delivery.Event{optin("2", delivery.StatusResume, 20)}, 4, 4, 0},
	}
	for _, s := range steps {
		write(t, w, topicItems(key, "777", s.events...))
		st := optIns(t, key).Status.OptIns
		if st.Total != s.total || st.Active != s.active || st.Stopped != s.stopped {
			t.Fatalf("after %s: total %d active %d stopped %d, want %d %d %d", s.name, st.Total, st.Active, st.Stopped, s.total, s.active, s.stopped)
		}
	}

	// Four tokens at three per shard: two Secrets, owned by the topic, holding every token once.
	got := optIns(t, key)
	if len(got.Status.OptIns.Secrets) != 2 {
		t.Fatalf("secrets = %v, want 2 shards", got.Status.OptIns.Secrets)
	}
	tokens := map[string]int{}
	for _, name := range got.Status.OptIns.Secrets {
		var s corev1.Secret
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: key.Namespace, Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		if !metav1.IsControlledBy(&s, got) {
			t.Errorf("Secret %s is not owned by the topic", name)
		}
		for _, raw := range s.Data {
			var rec struct{ Token string }
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			tokens[rec.Token]++
		}
	}
	if len(tokens) != 4 {
		t.Errorf("tokens stored: %v, want 4 distinct", tokens)
	}
	for tok, n := range tokens {
		if n != 1 {
			t.Errorf("token %s stored %d times", tok, n)
		}
	}
	// Tokens are credentials: none appears anywhere in the status.
	raw, _ := json.Marshal(got.Status)
	if strings.Contains(string(raw), "tok-") {
		t.Errorf("a token leaked into status: %s", raw)
	}
}

// The opt-in of the registration recipient confirms the registration.
func TestRecipientOptInConfirmsRegistration(t *testing.T) {
	topic := newTopic(t)
	key := client.ObjectKeyFromObject(topic)
	w := status.NewStore(k8s, k8s, status.Options{FlushInterval: 5 * time.Millisecond})
	write(t, w, topicItems(key, "777", optin("5", "", 1)))
	if got := optIns(t, key).Status.OptIns; got.ConfirmedTime != nil {
		t.Fatalf("confirmed by someone else's opt-in: %v", got.ConfirmedTime)
	}
	write(t, w, topicItems(key, "777", optin("777", "", 2)))
	got := optIns(t, key).Status.OptIns
	if got.ConfirmedTime == nil || !got.ConfirmedTime.Equal(&metav1.Time{Time: time.Unix(1_760_000_002, 0)}) {
		t.Fatalf("confirmedTime = %v", got.ConfirmedTime)
	}
	if got.Total != 2 {
		t.Errorf("total %d, want 2 (the recipient is a subscriber too)", got.Total)
	}
}

func withFingerprint(ev delivery.Event, salt string) delivery.Event {
	sum := sha256.Sum256(append(ev.Fingerprint[:], salt...))
	copy(ev.Fingerprint[:], sum[:16])
	return ev
}
