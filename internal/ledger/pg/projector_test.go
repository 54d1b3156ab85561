package pgledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// mixedEvents is a link's traffic of every kind, source and ref field, from 12 people.
func mixedEvents(target status.Target, base int) []status.Item {
	var items []status.Item
	add := func(n int, kind delivery.Kind, source, ref string) {
		for range n {
			ev := referral(base+len(items), kind, source, ref)
			ev.SenderID = fmt.Sprintf("person-%d", len(items)%12)
			if kind == delivery.KindOptIn {
				ev.Referral = delivery.Referral{}
				ev.OptIn.Ref = ref
			}
			items = append(items, status.Item{Target: target, Event: ev})
		}
	}
	add(10, delivery.KindPostbackReferral, "SHORTLINK", "summer--color--red")
	add(5, delivery.KindReferral, "MESSENGER_CODE", "summer--color--blue")
	add(3, delivery.KindMessageReferral, "ADS", "summer")
	add(2, delivery.KindOptIn, "", "summer--size--xl")
	return items
}

func getLink(t *testing.T, c client.Client, l *messengerv1.MessengerLink) *messengerv1.MessengerLink {
	t.Helper()
	got := &messengerv1.MessengerLink{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(l), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func newProjector(t *testing.T, c client.Client, dsn string) (*Projector, map[string]bool) {
	t.Helper()
	p := &Projector{Pool: newPool(t, dsn), Client: c, Interval: 100 * time.Millisecond}
	p.init()
	p.written = map[string]any{}
	dirty, err := p.allObjects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, dirty
}

// The same events give the same status in both modes: the projection follows the embedded mode's rules
// (kinds, ads, sources, ref fields, people, times), and adds the daily counts.
func TestProjectionMatchesTheEmbeddedMode(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	w := NewWriter(newPool(t, dsn), ca, testKeys(t), Options{})
	pgLink, embLink := newLink(t, c, "projected"), newLink(t, c, "embedded")
	waitCached(t, ca, pgLink)

	ctx := context.Background()
	// The same events (their times are relative to now: built once) for both links.
	items := mixedEvents(linkTarget(pgLink), 0)
	if err := w.Write(ctx, items); err != nil {
		t.Fatal(err)
	}
	embItems := slices.Clone(items)
	for i := range embItems {
		embItems[i].Target = linkTarget(embLink)
	}
	emb := status.NewStore(c, c, status.Options{})
	if err := emb.Write(ctx, embItems); err != nil {
		t.Fatal(err)
	}
	p, dirty := newProjector(t, c, dsn)
	if err := p.pass(ctx, dirty); err != nil {
		t.Fatal(err)
	}

	got, want := getLink(t, c, pgLink).Status.Referrals, getLink(t, c, embLink).Status.Referrals
	if got == nil || want == nil {
		t.Fatalf("referrals: projected %v, embedded %v", got, want)
	}
	if len(got.Daily) != 1 || got.Daily[0].Total != 18 || got.Daily[0].Date != time.Now().UTC().Format(time.DateOnly) && got.Daily[0].Date != time.Now().UTC().Add(-time.Hour).Format(time.DateOnly) {
		t.Errorf("daily = %+v, want today's 18 referrals", got.Daily)
	}
	if got.Ledger != nil {
		t.Errorf("the projection carries a ledger: %+v", got.Ledger)
	}
	g, e := *got, *want
	g.Daily, e.Ledger, e.Window = nil, nil, nil // the embedded mode's bookkeeping, and the ledger's days
	// fields is a map keyed by id: its order is the order values were first seen, by event time here
	// and by arrival there.
	byID := func(a, b messengerv1.FieldCounts) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(g.Fields, byID)
	slices.SortFunc(e.Fields, byID)
	if !apiequality.Semantic.DeepEqual(g, e) {
		t.Errorf("projected referrals differ from the embedded mode's:\n got  %+v\n want %+v", g, e)
	}
	if g.Total != 18 || g.PluginOptIns != 2 || g.UniquePeople != 12 {
		t.Errorf("total %d, plugin opt-ins %d, unique people %d; want 18, 2, 12", g.Total, g.PluginOptIns, g.UniquePeople)
	}
}

// A pass writes the objects whose counts changed, once, and nothing else; a pass with nothing new
// writes nothing.
func TestProjectorWritesOnlyWhatChanged(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	w := NewWriter(newPool(t, dsn), ca, testKeys(t), Options{})
	busy, quiet := newLink(t, c, "busy"), newLink(t, c, "quiet")
	waitCached(t, ca, busy)
	waitCached(t, ca, quiet)
	ctx := context.Background()
	write := func(l *messengerv1.MessengerLink, base int) {
		t.Helper()
		if err := w.Write(ctx, mixedEvents(linkTarget(l), base)); err != nil {
			t.Fatal(err)
		}
	}
	write(busy, 0)
	write(quiet, 1000)
	p, dirty := newProjector(t, c, dsn)
	if err := p.pass(ctx, dirty); err != nil {
		t.Fatal(err)
	}
	quietRV := getLink(t, c, quiet).ResourceVersion

	for round := range 3 {
		write(busy, 100*(round+1))
		before := getLink(t, c, busy)
		if err := p.pass(ctx, dirty); err != nil {
			t.Fatal(err)
		}
		after := getLink(t, c, busy)
		if after.ResourceVersion == before.ResourceVersion || after.Status.Referrals.Total != before.Status.Referrals.Total+18 {
			t.Errorf("round %d: busy link total %d -> %d (rv %s -> %s), want +18 in one write", round,
				before.Status.Referrals.Total, after.Status.Referrals.Total, before.ResourceVersion, after.ResourceVersion)
		}
		if rv := getLink(t, c, quiet).ResourceVersion; rv != quietRV {
			t.Errorf("round %d: the quiet link was written (rv %s -> %s)", round, quietRV, rv)
		}
	}
	rv := getLink(t, c, busy).ResourceVersion
	if err := p.pass(ctx, dirty); err != nil {
		t.Fatal(err)
	}
	if got := getLink(t, c, busy).ResourceVersion; got != rv {
		t.Errorf("a pass without new events wrote the busy link (rv %s -> %s)", rv, got)
	}
}

// A deleted and recreated link starts from zero: its predecessor's counts are not projected onto it.
func TestRecreatedLinkStartsFresh(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	w := NewWriter(newPool(t, dsn), ca, testKeys(t), Options{})
	ctx := context.Background()
	old := newLink(t, c, "recreated")
	waitCached(t, ca, old)
	if err := w.Write(ctx, mixedEvents(linkTarget(old), 0)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	fresh := &messengerv1.MessengerLink{}
	fresh.Namespace, fresh.Name, fresh.Spec = old.Namespace, old.Name, old.Spec
	if err := c.Create(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	waitCached(t, ca, fresh)
	items := mixedEvents(linkTarget(fresh), 0)[:3] // the same events: new for the new object
	if err := w.Write(ctx, items); err != nil {
		t.Fatal(err)
	}
	p, dirty := newProjector(t, c, dsn)
	if err := p.pass(ctx, dirty); err != nil {
		t.Fatal(err)
	}
	if st := getLink(t, c, fresh).Status.Referrals; st == nil || st.Total != 3 {
		t.Errorf("recreated link's referrals = %+v, want total 3", st)
	}
}
