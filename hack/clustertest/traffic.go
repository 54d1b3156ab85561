package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/hack/internal/settle"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/scheme"
)

// delivery is one delivery from Meta, its envelope built once so that a resend is the same delivery.
type delivery struct {
	link, psid string
	optin      bool
	envelope   any
}

type trafficStats struct{ resent atomic.Int64 }

// deletedPod is the webhook pod deleted mid-traffic, and when: its readiness failing while it shuts
// down is expected, not a probe failure.
type deletedPod struct {
	name string
	at   time.Time
}

const (
	page      = "104729384756123" // the samples' Page
	posterRef = "summer_poster--738--store12"
	footerRef = "website_footer"
	senders   = 4
)

// traffic sends the deliveries from a few concurrent senders, as Meta does, resending each until it is
// answered 200, and deletes one webhook pod once a third of them are answered.
func (r *run) traffic(ctx context.Context) ([]delivery, *trafficStats, error) {
	var traffic []delivery
	for i := 0; i < r.deliveries; i++ {
		psid := fmt.Sprintf("70020000%08d", i)
		if i%2 == 0 {
			traffic = append(traffic, delivery{"summer-poster", psid, false,
				graphtest.ReferralEvent{PageID: page, PSID: psid, Ref: posterRef}.PostbackEnvelope()})
		} else {
			traffic = append(traffic, delivery{"website-chat", psid, false,
				graphtest.ReferralEvent{PageID: page, PSID: psid, Ref: footerRef}.Envelope()})
		}
		if i%10 == 0 {
			traffic = append(traffic, delivery{"", psid, true, graphtest.OptinEvent{PageID: page, PSID: psid,
				Title: "Weekly deals", Payload: "weekly-deals"}.Envelope()})
		}
	}
	step(fmt.Sprintf("Sending %d signed deliveries to the webhook Service from %d senders; deleting a webhook pod after a third", len(traffic), senders))
	stats := &trafficStats{}
	work := make(chan delivery)
	var answered atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders+1)
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				if err := r.deliver(ctx, d, stats); err != nil {
					errs <- err
					return
				}
				answered.Add(1)
			}
		}()
	}
	// A third at full speed; then the pod is deleted and the second third is spread over 20 s, across its
	// preStop sleep, its SIGTERM and its shutdown; the last third once it is gone (and replaced).
	third := len(traffic) / 3
	for i, d := range traffic {
		switch {
		case i == third:
			for answered.Load() < int64(third) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			if err := r.deleteWebhookPod(ctx); err != nil {
				close(work)
				return nil, nil, err
			}
		case i > third && i < 2*third:
			time.Sleep(20 * time.Second / time.Duration(third))
		case i == 2*third:
			if err := r.waitGone(ctx, r.deleted.name); err != nil {
				close(work)
				return nil, nil, err
			}
			fmt.Printf("  pod %s gone after %s; the last third of the deliveries\n", r.deleted.name, time.Since(r.deleted.at).Round(time.Second))
		}
		select {
		case work <- d:
		case err := <-errs:
			close(work)
			return nil, nil, err
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, nil, err
	}
	return traffic, stats, nil
}

// deliver sends d until it is answered 200, as Meta resends every delivery not answered 200 in time.
func (r *run) deliver(ctx context.Context, d delivery, stats *trafficStats) error {
	deadline := time.Now().Add(r.timeout)
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := graphtest.Deliver(actx, r.webhook, r.appSecret, d.envelope)
		cancel()
		if resp != nil {
			_ = resp.Body.Close() // already read by Deliver
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		if err == nil && resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("the webhook Service refuses the signature (401): the Secret does not reach the pods")
		}
		stats.resent.Add(1)
		if time.Now().After(deadline) {
			if err == nil {
				return fmt.Errorf("delivery for %s not answered 200 within %s (last: %s)", d.psid, r.timeout, status(resp))
			}
			return fmt.Errorf("delivery for %s not answered 200 within %s: %w", d.psid, r.timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no answer"
	}
	return resp.Status
}

// waitGone waits until the pod no longer exists.
func (r *run) waitGone(ctx context.Context, pod string) error {
	_, err := r.c.Run(ctx, "wait", "-n", namespace, "--for=delete", "pod/"+pod, "--timeout="+r.timeout.String())
	return err
}

func (r *run) deleteWebhookPod(ctx context.Context) error {
	out, err := r.c.Run(ctx, "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/component=webhook-server",
		"-o", "jsonpath={.items[0].metadata.name}")
	if err != nil {
		return err
	}
	name := strings.TrimSpace(out)
	// Its log before it goes: the audit reads every pod's.
	if err := r.saveLog(ctx, name); err != nil {
		return err
	}
	r.deleted = deletedPod{name: name, at: time.Now()}
	fmt.Printf("  deleting webhook pod %s mid-traffic\n", name)
	_, err = r.c.Run(ctx, "delete", "pod", "-n", namespace, name, "--wait=false")
	return err
}

// linkCounts and topicCounts are what the deliveries must have produced.
type linkCounts struct {
	Total, New, Returning, UniquePeople int64
	BySource                            map[string]int64
	Fields                              map[string]map[string]int64 `json:",omitempty"`
}

type topicCounts struct {
	Registered     string
	Total, Active  int64
	Stopped        int64
	SecretsInOptIn int
}

func expected(traffic []delivery) (map[string]linkCounts, topicCounts) {
	links := map[string]linkCounts{}
	optins := map[string]bool{"6021234567890123": true} // the registration's recipient, confirmed through the webhook
	for _, d := range traffic {
		if d.optin {
			optins[d.psid] = true
			continue
		}
		l := links[d.link]
		l.Total++
		l.UniquePeople++
		l.BySource = map[string]int64{"SHORTLINK": l.Total}
		if d.link == "summer-poster" {
			l.New++
			l.Fields = map[string]map[string]int64{"738": {"store12": l.Total}}
		} else {
			l.Returning++
		}
		links[d.link] = l
	}
	n := int64(len(optins))
	return links, topicCounts{Registered: "True", Total: n, Active: n, SecretsInOptIn: 1}
}

// checkCounts waits for the statuses to match the deliveries, then checks again 5 s later so that a late
// double count fails too.
func (r *run) checkCounts(ctx context.Context, traffic []delivery) error {
	step("Checking the links' and the topic's counts against the deliveries (nothing lost, nothing counted twice)")
	cfg, err := clientcmd.BuildConfigFromFlags("", r.c.Kubeconfig())
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	wantLinks, wantTopic := expected(traffic)
	bad, err := settle.Matched(ctx, r.timeout, 5*time.Second, time.Second, func() ([]string, error) {
		return mismatches(ctx, c, wantLinks, wantTopic)
	})
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("counts do not match the deliveries:\n  %s", strings.Join(bad, "\n  "))
	}
	fmt.Println("  every count matches the deliveries sent")
	return nil
}

func mismatches(ctx context.Context, c client.Client, wantLinks map[string]linkCounts, wantTopic topicCounts) ([]string, error) {
	var bad []string
	for name, want := range wantLinks {
		var l messengerv1.MessengerLink
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &l); err != nil {
			return nil, err
		}
		got := linkCounts{}
		if s := l.Status.Referrals; s != nil {
			got = linkCounts{Total: s.Total, New: s.NewConversations, Returning: s.ReturningConversations,
				UniquePeople: s.UniquePeople, BySource: s.BySource}
			for _, f := range s.Fields {
				if got.Fields == nil {
					got.Fields = map[string]map[string]int64{}
				}
				got.Fields[f.ID] = f.Values
			}
		}
		if g, w := compact(got), compact(want); g != w {
			bad = append(bad, fmt.Sprintf("MessengerLink %s: got %s, want %s", name, g, w))
		}
	}
	var t messengerv1.NotificationTopic
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "weekly-deals"}, &t); err != nil {
		return nil, err
	}
	got := topicCounts{Registered: "absent"}
	if cond := meta.FindStatusCondition(t.Status.Conditions, messengerv1.ConditionRegistered); cond != nil {
		got.Registered = string(cond.Status)
	}
	if o := t.Status.OptIns; o != nil {
		got.Total, got.Active, got.Stopped, got.SecretsInOptIn = o.Total, o.Active, o.Stopped, len(o.Secrets)
	}
	if g, w := compact(got), compact(wantTopic); g != w {
		bad = append(bad, fmt.Sprintf("NotificationTopic weekly-deals: got %s, want %s", g, w))
	}
	return bad, nil
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
