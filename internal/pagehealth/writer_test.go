package pagehealth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
)

var k8s client.WithWatch

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
	}
	os.Exit(code)
}

// patches records the status patches the Writer sends.
type patches struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (p *patches) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.bodies)
}

func recording(p *patches) client.Client {
	return interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			data, err := patch.Data(obj)
			if err != nil {
				return err
			}
			var body map[string]any
			_ = json.Unmarshal(data, &body)
			p.mu.Lock()
			p.bodies = append(p.bodies, body)
			p.mu.Unlock()
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}

func newPage(t *testing.T, ns, name, pageID string) *messengerv1.MessengerPage {
	t.Helper()
	p := &messengerv1.MessengerPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: messengerv1.MessengerPageSpec{Page: messengerv1.PageRef{ID: pageID},
			AccessTokenSecretRef: messengerv1.SecretKeySelector{Name: "page-token", Key: "token"}}}
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func webhookOf(t *testing.T, key client.ObjectKey) messengerv1.PageWebhookStatus {
	t.Helper()
	p := &messengerv1.MessengerPage{}
	if err := k8s.Get(context.Background(), key, p); err != nil {
		t.Fatal(err)
	}
	if p.Status.Webhook == nil {
		return messengerv1.PageWebhookStatus{}
	}
	return *p.Status.Webhook
}

func TestWriterWritesOnlyChangesAtMostEvery30s(t *testing.T) {
	ns := namespace(t, "writer-rate")
	p := newPage(t, ns, "acme", "2000000001")
	key := client.ObjectKeyFromObject(p)
	// The controller's fields must survive the webhook server's writes.
	base := p.DeepCopy()
	p.Status.AppID, p.Status.ObservedGeneration = "42", p.Generation
	if err := k8s.Status().Patch(context.Background(), p, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}

	var rec patches
	tr := NewTracker()
	w := &Writer{Client: recording(&rec), Tracker: tr}
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)

	tr.Answered("2000000001", now)
	tr.Answered("9999999999", now) // a Page without a MessengerPage: nothing to write
	w.Flush(ctx, now)
	if got := webhookOf(t, key); !got.LastDeliveryTime.Time.Equal(now) || got.RefusingSince != nil {
		t.Fatalf("after a 200: %+v", got)
	}
	if rec.count() != 1 {
		t.Fatalf("%d patches, want 1", rec.count())
	}
	w.Flush(ctx, now.Add(time.Second))
	if rec.count() != 1 {
		t.Fatalf("unchanged health written again: %d patches", rec.count())
	}

	tr.Refused("2000000001", now.Add(2*time.Second))
	w.Flush(ctx, now.Add(2*time.Second))
	w.Flush(ctx, now.Add(29*time.Second))
	if rec.count() != 1 || webhookOf(t, key).RefusingSince != nil {
		t.Fatalf("written within 30 s of the last write: %d patches", rec.count())
	}
	w.Flush(ctx, now.Add(30*time.Second))
	got := webhookOf(t, key)
	if rec.count() != 2 || got.RefusingSince == nil || !got.RefusingSince.Time.Equal(now.Add(2*time.Second)) {
		t.Fatalf("after 30 s: %d patches, %+v", rec.count(), got)
	}

	for i, body := range rec.bodies {
		status, _ := body["status"].(map[string]any)
		meta, _ := body["metadata"].(map[string]any)
		if len(body) != 2 || len(status) != 1 || status["webhook"] == nil || len(meta) != 1 || meta["resourceVersion"] == nil {
			t.Errorf("patch %d carries more than status.webhook and the resourceVersion: %v", i, body)
		}
	}
	after := &messengerv1.MessengerPage{}
	if err := k8s.Get(ctx, key, after); err != nil {
		t.Fatal(err)
	}
	if after.Status.AppID != "42" || after.Status.ObservedGeneration != p.Generation {
		t.Errorf("the controller's status fields changed: %+v", after.Status)
	}
}

// Another replica's write is merged, not overwritten: its later 200 ends this replica's older refusals.
func TestWriterMergesWithOtherReplicas(t *testing.T) {
	ns := namespace(t, "writer-merge")
	p := newPage(t, ns, "acme", "2000000002")
	key := client.ObjectKeyFromObject(p)
	now := time.Now().Truncate(time.Second)
	a, b := NewTracker(), NewTracker()
	wa, wb := &Writer{Client: k8s, Tracker: a}, &Writer{Client: k8s, Tracker: b}
	a.Refused("2000000002", now)
	wa.Flush(context.Background(), now)
	b.Answered("2000000002", now.Add(5*time.Second))
	wb.Flush(context.Background(), now.Add(5*time.Second))
	got := webhookOf(t, key)
	if got.RefusingSince != nil || !got.LastDeliveryTime.Time.Equal(now.Add(5*time.Second)) {
		t.Fatalf("after replica b's 200: %+v", got)
	}
	wa.Flush(context.Background(), now.Add(40*time.Second)) // a has nothing new: nothing to undo
	if got := webhookOf(t, key); got.RefusingSince != nil {
		t.Fatalf("replica a brought back a refusal older than b's 200: %+v", got)
	}
}

// Two MessengerPages for one Page: the one holding the claim (status.pageID) is written, even if newer.
func TestWriterWritesTheKeeper(t *testing.T) {
	ns := namespace(t, "writer-keeper")
	older := newPage(t, ns, "older", "2000000003")
	time.Sleep(1100 * time.Millisecond) // creation timestamps are whole seconds
	holder := newPage(t, ns, "holder", "2000000003")
	base := holder.DeepCopy()
	holder.Status.PageID = "2000000003"
	if err := k8s.Status().Patch(context.Background(), holder, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	tr := NewTracker()
	now := time.Now().Truncate(time.Second)
	tr.Answered("2000000003", now)
	(&Writer{Client: k8s, Tracker: tr}).Flush(context.Background(), now)
	if got := webhookOf(t, client.ObjectKeyFromObject(holder)); got.LastDeliveryTime == nil {
		t.Error("the holder of the claim was not written")
	}
	if got := webhookOf(t, client.ObjectKeyFromObject(older)); got.LastDeliveryTime != nil {
		t.Error("the MessengerPage without the claim was written")
	}
}
