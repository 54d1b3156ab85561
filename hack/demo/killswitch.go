package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/scheme"
)

// The kill-switch phase of --check runs Meta's one hour and the operator's 15 minutes in seconds: the
// emulator unsubscribes the app after killSwitchAfter of failed deliveries and retries within a second;
// the webhook server reports a Page's health every second; the MessengerPage turns Receiving=False after
// failingAfter of refusals and reads Meta's side again every recheck (so that it sees the
// unsubscription while the webhook server still refuses).
const (
	killSwitchAfter = 6 * time.Second
	failingAfter    = 2 * time.Second
	pageRecheck     = 2 * time.Second
	pageHealthEvery = time.Second
	// webhookUser is the webhook server's own user, so that the outage can fail its writes alone.
	webhookUser = "mmelink-webhook-server"
	outageName  = "mmelink-e2e-store-outage"
	pageName    = "acme-shoes"
)

// emulatorFlags and the manager's and webhook server's are what --check adds to their command lines.
func emulatorCheckFlags() []string {
	return []string{"-kill-switch-after=" + killSwitchAfter.String(), "-retry-immediate=2", "-retry-first=250ms",
		"-retry-max=1s", "-retry-give-up-after=10m"}
}

func managerCheckFlags(metricsAddr string) []string {
	return []string{"--metrics-bind-address=" + metricsAddr, "--messengerpage-failing-after=" + failingAfter.String(),
		"--messengerpage-recheck-interval=" + pageRecheck.String()}
}

func webhookCheckFlags() []string {
	return []string{"--page-health-interval=" + pageHealthEvery.String()}
}

// published is one Page event the emulator published in this phase, and what it should count.
type published struct {
	delivery
	id int // the emulator's delivery ID
}

// checkKillSwitch breaks the webhook server's store until Meta's kill switch fires, and checks the
// recovery (see the step messages): it returns the deliveries whose events must now be counted, once.
//
// What Meta documents (platform reference, sections 2 and 7) and the emulator therefore does: it retries a
// failed delivery, at once a few times and then less often, for far longer than an hour; after an hour of
// continuous failure it unsubscribes the app, and an event that happens while the app is unsubscribed is
// never delivered to it. Nothing says that the retries of deliveries made before then stop; the emulator
// goes on with them (and so they are what tells the operator that the webhook server answers again).
//
// What this asserts: the Page turns Receiving=False (WebhookFailing) with a Warning event and
// mmelink_page_webhook_failing_seconds; the emulator's kill switch fires and the Page turns
// Subscribed=False (NotSubscribed) while the webhook server still refuses, and the operator does not
// subscribe it again meanwhile; an event published while unsubscribed gets no delivery; once the store
// works again the operator subscribes the app by itself (a Resubscribed event) and the Page is Ready;
// every delivery of the phase is acknowledged in the end (each was retried until answered 200), a new
// event after the resubscription is delivered and acknowledged, and a duplicate of each is acknowledged.
// The caller then checks every status field: each acknowledged event counted exactly once, none twice.
// The refusals here are definite (the API server rejects the write), so a delivery not acknowledged
// would be counted zero times: the check is exact either way.
func (d *demo) checkKillSwitch(ctx context.Context, pageID string) ([]delivery, error) {
	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	wait := func(what string, check func() error) error { return poll(ctx, what, d.timeout, check) }

	step("Kill switch: the webhook server's store fails (the API server rejects its status writes)")
	if err := d.breakStore(ctx, c); err != nil {
		return nil, err
	}
	var phase []published
	for i := 1; i <= 5; i++ {
		p, err := d.publish(ctx, pageID, i)
		if err != nil {
			return nil, err
		}
		if p.id == 0 {
			return nil, fmt.Errorf("the emulator did not deliver %s: the app is not subscribed", p.what)
		}
		phase = append(phase, *p)
	}
	fmt.Printf("  published %d events; Meta retries them while the webhook server answers 503\n", len(phase))

	if err := wait("Receiving=False (WebhookFailing) with a Warning event and the metric", func() error {
		if err := pageCondition(ctx, c, messengerv1.ConditionReceiving, "False", messengerv1.ReasonWebhookFailing); err != nil {
			return err
		}
		if err := pageEvent(ctx, c, "Warning", messengerv1.ReasonWebhookFailing); err != nil {
			return err
		}
		v, err := d.failingSeconds(ctx)
		if err == nil && v <= 0 {
			err = errors.New("mmelink_page_webhook_failing_seconds is not above 0")
		}
		return err
	}); err != nil {
		return nil, err
	}
	fmt.Println("  MessengerPage acme-shoes: Receiving=False, reason WebhookFailing; Warning event; mmelink_page_webhook_failing_seconds > 0")

	if err := wait("the emulator's kill switch and Subscribed=False (NotSubscribed)", func() error {
		var kills []graphtest.KillSwitch
		if err := d.emulator(ctx, http.MethodGet, "kill-switches", nil, &kills); err != nil {
			return err
		}
		if len(kills) != 1 {
			return fmt.Errorf("%d kill switches, want 1", len(kills))
		}
		return pageCondition(ctx, c, messengerv1.ConditionSubscribed, "False", messengerv1.ReasonNotSubscribed)
	}); err != nil {
		return nil, err
	}
	fmt.Println("  the emulator unsubscribed the app after", killSwitchAfter, "of failures; MessengerPage: Subscribed=False, reason NotSubscribed")
	if subscribed, err := d.appSubscribed(ctx, pageID); err != nil {
		return nil, err
	} else if subscribed {
		return nil, errors.New("the app was subscribed again while the webhook server still refuses")
	}
	lost, err := d.publish(ctx, pageID, 6)
	if err != nil {
		return nil, err
	}
	if lost.id != 0 {
		return nil, fmt.Errorf("the emulator delivered %s to an unsubscribed app", lost.what)
	}
	fmt.Println("  an event while unsubscribed is not delivered at all, as Meta documents")

	step("The store works again: Meta's retries are answered 200 and the operator subscribes the app again by itself")
	if err := d.restoreStore(ctx, c); err != nil {
		return nil, err
	}
	if err := wait("Ready, Subscribed and Receiving True again, a Resubscribed event", func() error {
		for _, typ := range []string{messengerv1.ConditionReady, messengerv1.ConditionSubscribed, messengerv1.ConditionReceiving} {
			if err := pageCondition(ctx, c, typ, "True", ""); err != nil {
				return err
			}
		}
		if ok, err := d.appSubscribed(ctx, pageID); err != nil || !ok {
			return errors.Join(errors.New("the app is not subscribed on Meta's side"), err)
		}
		if v, err := d.failingSeconds(ctx); err != nil || v != 0 {
			return errors.Join(fmt.Errorf("mmelink_page_webhook_failing_seconds = %v, want none", v), err)
		}
		return pageEvent(ctx, c, "Normal", "Resubscribed")
	}); err != nil {
		return nil, err
	}
	fmt.Println("  MessengerPage acme-shoes: Ready; Normal Resubscribed event; the app is subscribed in the emulator")

	after, err := d.publish(ctx, pageID, 7)
	if err != nil {
		return nil, err
	}
	if after.id == 0 {
		return nil, fmt.Errorf("the emulator did not deliver %s after the resubscription", after.what)
	}
	phase = append(phase, *after)
	if err := wait("every delivery of the phase acknowledged", func() error { return d.acked(ctx, phase) }); err != nil {
		return nil, err
	}
	fmt.Printf("  all %d deliveries acknowledged (those from before the kill switch after %s)\n", len(phase), d.attempts(ctx, phase))

	step("Meta sends a duplicate of each; none may be counted twice")
	var dups []published
	for _, p := range phase {
		var out struct{ ID int }
		if err := d.emulator(ctx, http.MethodPost, "resend?id="+strconv.Itoa(p.id), nil, &out); err != nil {
			return nil, err
		}
		dups = append(dups, published{delivery: p.delivery, id: out.ID})
	}
	if err := wait("every duplicate acknowledged", func() error { return d.acked(ctx, dups) }); err != nil {
		return nil, err
	}
	out := make([]delivery, len(phase))
	for i, p := range phase {
		out[i] = p.delivery
	}
	return out, nil
}

// pageCondition fails unless the MessengerPage's condition has the status (and the reason, when given).
func pageCondition(ctx context.Context, c client.Client, typ, status, reason string) error {
	p := &messengerv1.MessengerPage{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: pageName}, p); err != nil {
		return err
	}
	cond := meta.FindStatusCondition(p.Status.Conditions, typ)
	if cond == nil || string(cond.Status) != status || (reason != "" && cond.Reason != reason) {
		return fmt.Errorf("MessengerPage %s %s = %+v, want %s %s", pageName, typ, cond, status, reason)
	}
	return nil
}

// pageEvent fails unless an event of that type and reason was recorded for the MessengerPage.
func pageEvent(ctx context.Context, c client.Client, typ, reason string) error {
	var list eventsv1.EventList
	if err := c.List(ctx, &list, client.InNamespace("default")); err != nil {
		return err
	}
	for _, e := range list.Items {
		if e.Regarding.Kind == "MessengerPage" && e.Regarding.Name == pageName && e.Type == typ && e.Reason == reason {
			return nil
		}
	}
	return fmt.Errorf("no %s %s event for MessengerPage %s", typ, reason, pageName)
}

// failingSeconds reads mmelink_page_webhook_failing_seconds for the MessengerPage from the manager's
// metrics; 0 when it is not exported.
func (d *demo) failingSeconds(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.managerMetrics+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mmelink_page_webhook_failing_seconds{") && strings.Contains(line, `name="`+pageName+`"`) &&
			strings.Contains(line, `namespace="default"`) {
			f := strings.Fields(line)
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	return 0, sc.Err()
}

// poll retries check every 250 ms until it returns nil, failing with its last error after timeout.
func poll(ctx context.Context, what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
