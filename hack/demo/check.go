package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/hack/internal/settle"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/scheme"
)

// linkCounts is what --check compares for a MessengerLink: status.referrals without times and ledger.
type linkCounts struct {
	Total, New, Returning, Ad, PluginOptIns, UniquePeople int64
	BySource                                              map[string]int64            `json:",omitempty"`
	Fields                                                map[string]map[string]int64 `json:",omitempty"`
	FieldsOther                                           map[string]int64            `json:",omitempty"`
}

// topicCounts is what --check compares for the NotificationTopic.
type topicCounts struct {
	Registered             string
	Total, Active, Stopped int64
	Secrets                int
}

// expectLinks derives each link's counts from the deliveries sent: a ref is the link's ref followed by
// "--id--value" pairs; new and returning conversations come from SHORTLINK, the ad from ADS.
func expectLinks(links []messengerv1.MessengerLink, traffic []delivery) (map[string]*linkCounts, error) {
	want, people, byRef := map[string]*linkCounts{}, map[string]map[string]bool{}, map[string]string{}
	for _, l := range links {
		want[l.Name], people[l.Name], byRef[l.Spec.Ref] = &linkCounts{}, map[string]bool{}, l.Name
	}
	for _, t := range traffic {
		if t.kind == kindOptin {
			continue
		}
		parts := strings.Split(t.ref, "--")
		name, ok := byRef[parts[0]]
		if !ok || len(parts)%2 != 1 {
			return nil, fmt.Errorf("delivery %q: ref %q matches no link of the samples", t.what, t.ref)
		}
		w := want[name]
		people[name][t.psid] = true
		w.UniquePeople = int64(len(people[name]))
		if t.kind == kindPlugin {
			w.PluginOptIns++
			continue
		}
		w.Total++
		source := "SHORTLINK"
		switch t.kind {
		case kindNew:
			w.New++
		case kindReturning:
			w.Returning++
		case kindAd:
			w.Ad, source = w.Ad+1, "ADS"
		}
		if w.BySource == nil {
			w.BySource = map[string]int64{}
		}
		w.BySource[source]++
		for i := 1; i+1 < len(parts); i += 2 {
			if w.Fields == nil {
				w.Fields = map[string]map[string]int64{}
			}
			if w.Fields[parts[i]] == nil {
				w.Fields[parts[i]] = map[string]int64{}
			}
			w.Fields[parts[i]][parts[i+1]]++
		}
	}
	return want, nil
}

// expectTopic derives the opt-in counts: everyone who opted in (the registration's recipient too, whose
// opt-in confirmed the topic), of whom those whose last delivery stops the notifications are stopped.
func expectTopic(topic *messengerv1.NotificationTopic, traffic []delivery) topicCounts {
	last := map[string]string{}
	if r := topic.Spec.Registration; r != nil {
		last[r.RecipientID] = ""
	}
	for _, t := range traffic {
		if t.kind == kindOptin {
			last[t.psid] = t.status
		}
	}
	want := topicCounts{Registered: "True", Total: int64(len(last)), Secrets: 1}
	for _, s := range last {
		if s == graphtest.StatusStop {
			want.Stopped++
		}
	}
	want.Active = want.Total - want.Stopped
	return want
}

func gotLink(r *messengerv1.ReferralStats) *linkCounts {
	got := &linkCounts{}
	if r == nil {
		return got
	}
	got.Total, got.New, got.Returning, got.Ad = r.Total, r.NewConversations, r.ReturningConversations, r.AdReferrals
	got.PluginOptIns, got.UniquePeople = r.PluginOptIns, r.UniquePeople
	if len(r.BySource) > 0 {
		got.BySource = r.BySource
	}
	for _, f := range r.Fields {
		if len(f.Values) > 0 {
			if got.Fields == nil {
				got.Fields = map[string]map[string]int64{}
			}
			got.Fields[f.ID] = f.Values
		}
		if f.Other != 0 {
			if got.FieldsOther == nil {
				got.FieldsOther = map[string]int64{}
			}
			got.FieldsOther[f.ID] = f.Other
		}
	}
	return got
}

func gotTopic(t *messengerv1.NotificationTopic) topicCounts {
	got := topicCounts{Registered: "absent"}
	if c := meta.FindStatusCondition(t.Status.Conditions, messengerv1.ConditionRegistered); c != nil {
		got.Registered = string(c.Status)
	}
	if o := t.Status.OptIns; o != nil {
		got.Total, got.Active, got.Stopped, got.Secrets = o.Total, o.Active, o.Stopped, len(o.Secrets)
	}
	return got
}

// mismatches compares the statuses with what the deliveries should have produced; empty when they agree.
func (d *demo) mismatches(ctx context.Context, c client.Client, traffic []delivery) ([]string, error) {
	var links messengerv1.MessengerLinkList
	if err := c.List(ctx, &links, client.InNamespace("default")); err != nil {
		return nil, err
	}
	var topic messengerv1.NotificationTopic
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "weekly-deals"}, &topic); err != nil {
		return nil, err
	}
	want, err := expectLinks(links.Items, traffic)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, l := range links.Items {
		if g, w := compactJSON(gotLink(l.Status.Referrals)), compactJSON(want[l.Name]); g != w {
			bad = append(bad, fmt.Sprintf("MessengerLink %s status.referrals:\n    got  %s\n    want %s", l.Name, g, w))
		}
	}
	if g, w := compactJSON(gotTopic(&topic)), compactJSON(expectTopic(&topic, traffic)); g != w {
		bad = append(bad, fmt.Sprintf("NotificationTopic weekly-deals (Registered, status.optIns):\n    got  %s\n    want %s", g, w))
	}
	return bad, nil
}

// checkStatus waits (up to --timeout) for the statuses to match the deliveries sent, then checks again a
// little later so that a late double count fails too.
func (d *demo) checkStatus(ctx context.Context, traffic []delivery) error {
	step("Checking every status field against the deliveries sent (nothing lost, nothing counted twice)")
	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	bad, err := settle.Matched(ctx, d.timeout, 3*time.Second, 500*time.Millisecond, func() ([]string, error) {
		return d.mismatches(ctx, c, traffic)
	})
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("status check failed:\n  %s", strings.Join(bad, "\n  "))
	}
	step("Check passed: every status field matches the deliveries sent")
	return nil
}
