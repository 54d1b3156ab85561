package pgledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

func newTopic(t *testing.T, c client.Client) *messengerv1.NotificationTopic {
	t.Helper()
	topic := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "deals-"},
		Spec: messengerv1.NotificationTopicSpec{
			Page: messengerv1.PageRef{ID: "42"}, Topic: "Weekly deals",
			Registration:         &messengerv1.RegistrationSpec{RecipientID: "777"},
			AccessTokenSecretRef: &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"},
		},
	}
	if err := c.Create(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	return topic
}

// optin is a recurring-notification event of a person, sec seconds after base; st is "" (opt in), stop
// or resume.
func optin(target status.Target, base time.Time, sender string, st delivery.Status, sec int) status.Item {
	ev := delivery.Event{Kind: delivery.KindNotificationOptIn, PageID: "42", SenderID: sender, Time: base.Add(time.Duration(sec) * time.Second)}
	ev.OptIn = delivery.OptIn{Type: "notification_messages", Topic: "Weekly deals", Token: "tok-" + sender + "-secret",
		Status: st, Frequency: "WEEKLY", Timezone: "UTC"}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", sender, st, sec))
	copy(ev.Fingerprint[:], sum[:16])
	return status.Item{Target: target, Event: ev, Recipient: sender == "777"}
}

// Tokens live in the ledger, sealed; each token counts once however often it is delivered, and stops
// and resumes are ordered by their timestamps. The registration recipient's opt-in confirms the topic.
func TestOptInsAreCountedPerToken(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	pool := newPool(t, dsn)
	keys := testKeys(t)
	w := NewWriter(pool, ca, keys, Options{})
	topic := newTopic(t, c)
	waitCached(t, ca, topic)
	tg := status.Target{Kind: status.KindTopic, NamespacedName: client.ObjectKeyFromObject(topic)}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	p, dirty := newProjector(t, c, dsn)
	ctx := context.Background()

	steps := []struct {
		name                   string
		items                  []status.Item
		total, active, stopped int64
	}{
		{"four people opt in", []status.Item{optin(tg, base, "1", "", 1), optin(tg, base, "2", "", 2), optin(tg, base, "3", "", 3), optin(tg, base, "777", "", 4)}, 4, 4, 0},
		{"the same opt-in again", []status.Item{optin(tg, base, "1", "", 1)}, 4, 4, 0},
		{"one stops", []status.Item{optin(tg, base, "2", delivery.StatusStop, 10)}, 4, 3, 1},
		{"a stale resume", []status.Item{optin(tg, base, "2", delivery.StatusResume, 5)}, 4, 3, 1},
		{"a fresh resume and a stop in one delivery", []status.Item{optin(tg, base, "2", delivery.StatusResume, 20), optin(tg, base, "3", delivery.StatusStop, 21)}, 4, 3, 1},
	}
	for _, s := range steps {
		if err := w.Write(ctx, s.items); err != nil {
			t.Fatal(err)
		}
		if err := p.pass(ctx, dirty); err != nil {
			t.Fatal(err)
		}
		got := &messengerv1.NotificationTopic{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(topic), got); err != nil {
			t.Fatal(err)
		}
		st := got.Status.OptIns
		if st == nil || st.Total != s.total || st.Active != s.active || st.Stopped != s.stopped {
			t.Fatalf("after %s: optIns %+v, want total %d active %d stopped %d", s.name, st, s.total, s.active, s.stopped)
		}
		if st.ConfirmedTime == nil || !st.ConfirmedTime.Time.Equal(base.Add(4*time.Second)) {
			t.Errorf("after %s: confirmedTime %v, want the recipient's opt-in at %s", s.name, st.ConfirmedTime, base.Add(4*time.Second))
		}
		if st.LastTime == nil || st.LastTime.Time.Before(base.Add(4*time.Second)) {
			t.Errorf("after %s: lastTime %v", s.name, st.LastTime)
		}
	}

	// No token in clear anywhere in the database; each sealed record opens to its token.
	var dump []byte
	if err := pool.QueryRow(ctx, `SELECT convert_to(string_agg(t::text, ','), 'UTF8') FROM mmelink_tokens t`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(dump, []byte("-secret")) || bytes.Contains(dump, []byte(`\x746f6b2d`)) {
		t.Errorf("a token is stored in clear: %s", dump)
	}
	rows, err := pool.Query(ctx, `SELECT object_uid::text, token_key, sealed FROM mmelink_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	opened := 0
	for rows.Next() {
		var uid string
		var key, sealed []byte
		if err := rows.Scan(&uid, &key, &sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := keys.Open(sealed, sealAD(uid, key))
		if err != nil {
			t.Fatal(err)
		}
		var rec tokenRecord
		if err := json.Unmarshal(plain, &rec); err != nil || !bytes.Equal(keys.TokenKey(rec.Token), key) {
			t.Errorf("sealed record %s does not hold its token (%v)", plain, err)
		}
		opened++
	}
	if opened != 4 {
		t.Errorf("opened %d sealed tokens, want 4", opened)
	}
}
