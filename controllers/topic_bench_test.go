package controllers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/scheme"
)

// BenchmarkTopicRegistration registers 200 topics of one Page whose Send API takes 20 requests per
// second (token bucket, burst 2), with the controller's per-Page rate at the same 20. It measures the
// time from the first create until every topic is Registered, confirmed by the recipient's signed opt-in
// through the webhook server (the emulator taps every button at once), and compares it with the least time the limit allows, (200-2)/20 = 9.9s: the ratio should stay
// under 1.25. It fails if the emulator refused a single request. The topics are all created at once, as
// by `kubectl apply -f` of a directory.
func BenchmarkTopicRegistration(b *testing.B) {
	const (
		n     = 200
		limit = pageRate // the emulator's limit equals the controller's rate: no headroom
		burst = 2        // a bucket of one would refuse a call that arrives a millisecond early by scheduling jitter
	)
	ctx := context.Background()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	maxPerSecond := 0
	for i := 0; i < b.N; i++ {
		ns := newBenchNamespace(b)
		page := pageID(ns)
		emu.AddPage(page, tokenFor(ns))
		emu.SetRateLimit(page, limit, burst)
		// The recipient taps every request's button at once: the emulator delivers each opt-in, signed, to
		// the suite manager's webhook server, which records the confirmation the controller waits for.
		emu.AutoConfirm(webhookURL, suiteAppSecret, 0)
		createTokenSecret(b, ns, tokenFor(ns))
		// The API server sets up a kind's storage on its first object, which takes seconds; that is not
		// the controller's time.
		warmup := newTopic(ns, "warmup", func(tp *messengerv1.NotificationTopic) {
			tp.Spec.Registration, tp.Spec.AccessTokenSecretRef = nil, nil
		})
		if err := wc.Create(ctx, warmup); err != nil {
			b.Fatal(err)
		}

		w, err := wc.Watch(ctx, &messengerv1.NotificationTopicList{}, client.InNamespace(ns))
		if err != nil {
			b.Fatal(err)
		}
		var sent atomic.Int64
		done := make(chan struct{})
		go countSent(w, n, &sent, done)

		start := time.Now()
		for j := range n {
			// Titles differ: Meta takes one request per title per person per week.
			tp := newTopic(ns, fmt.Sprintf("topic-%03d", j), func(tp *messengerv1.NotificationTopic) {
				tp.Spec.Topic = fmt.Sprintf("Deals %03d", j)
			})
			if err := wc.Create(ctx, tp); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("only %d of %d topics registered after 2 minutes; emulator: %+v", sent.Load(), n, emu.RateStats(page))
		}
		total += time.Since(start)
		w.Stop()
		emu.AutoConfirm("", "", 0)
		stats := emu.RateStats(page)
		if stats.Rejected != 0 || stats.Requests != n {
			b.Fatalf("emulator saw %d requests and refused %d; want %d and none", stats.Requests, stats.Rejected, n)
		}
		maxPerSecond = max(maxPerSecond, stats.MaxPerSecond)
	}
	minimum := time.Duration(float64(n-burst) / limit * float64(time.Second))
	per := total / time.Duration(b.N)
	ratio := float64(per) / float64(minimum)
	b.ReportMetric(per.Seconds(), "s/200-topics")
	b.ReportMetric(minimum.Seconds(), "s/limit-minimum")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(maxPerSecond), "max-requests/s")
	if ratio > 1.25 {
		b.Errorf("took %.2fx the least time the limit allows, want at most 1.25x", ratio)
	}
}

// countSent closes done once n distinct topics have sent their request and are Registered.
func countSent(w watch.Interface, n int64, sent *atomic.Int64, done chan struct{}) {
	seen := map[string]bool{}
	for ev := range w.ResultChan() {
		tp, ok := ev.Object.(*messengerv1.NotificationTopic)
		if !ok || seen[tp.Name] {
			continue
		}
		if r := tp.Status.Registration; r != nil && r.MessageID != "" &&
			condition(tp, messengerv1.ConditionRegistered).Status == metav1.ConditionTrue {
			seen[tp.Name] = true
			if sent.Add(1) == n {
				close(done)
				return
			}
		}
	}
}
