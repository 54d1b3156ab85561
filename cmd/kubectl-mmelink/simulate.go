package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/link"
	"github.com/mmelink/operator/internal/metawebhook"
)

// event is a kind of delivery simulate sends, built by the payload builders the tests and the demo use.
type event struct {
	name, what string
	// needs says which target the event takes: a link's ref or a topic's title.
	needs string
	build func(p eventParams) (envelope any, desc string)
}

type eventParams struct {
	page, psid, ref, title, payload, source string
}

var events = []event{
	{"referral", "messaging_referrals: a person already in conversation opens the link (returning conversation)", kindLink,
		func(p eventParams) (any, string) {
			return metawebhook.ReferralEvent{PageID: p.page, PSID: p.psid, Ref: p.ref, Source: p.source}.Envelope(),
				fmt.Sprintf("returning conversation from %s, ref %s", p.psid, p.ref)
		}},
	{"get-started", "messaging_postbacks with postback.referral: a new person taps Get Started (new conversation)", kindLink,
		func(p eventParams) (any, string) {
			return metawebhook.ReferralEvent{PageID: p.page, PSID: p.psid, Ref: p.ref, Source: p.source}.PostbackEnvelope(),
				fmt.Sprintf("new conversation (Get Started) from %s, ref %s", p.psid, p.ref)
		}},
	{"ad", "messages with message.referral (source ADS): the first message from a click-to-Messenger ad", kindLink,
		func(p eventParams) (any, string) {
			return metawebhook.ReferralEvent{PageID: p.page, PSID: p.psid, Ref: p.ref, Source: p.source}.AdEnvelope(""),
				fmt.Sprintf("click-to-Messenger ad message from %s, ref %s", p.psid, p.ref)
		}},
	{"plugin-optin", "messaging_optins with optin.ref: a Send-to-Messenger plugin opt-in (data-ref is the link's ref)", kindLink,
		func(p eventParams) (any, string) {
			return metawebhook.PluginOptinEvent{PageID: p.page, PSID: p.psid, Ref: p.ref}.Envelope(),
				fmt.Sprintf("Send-to-Messenger plugin opt-in from %s, data-ref %s", p.psid, p.ref)
		}},
	{"checkbox-optin", "messaging_optins with optin.user_ref and no sender: a checkbox plugin opt-in", kindLink,
		func(p eventParams) (any, string) {
			userRef := "ref_" + p.psid
			return metawebhook.PluginOptinEvent{PageID: p.page, UserRef: userRef, Ref: p.ref}.Envelope(),
				fmt.Sprintf("checkbox plugin opt-in of user_ref %s, data-ref %s", userRef, p.ref)
		}},
	{"topic-optin", "messaging_optins of type notification_messages: a person opts in to a recurring-notification topic", kindTopic,
		func(p eventParams) (any, string) {
			return metawebhook.OptinEvent{PageID: p.page, PSID: p.psid, Title: p.title, Payload: p.payload}.Envelope(),
				fmt.Sprintf("topic opt-in to %q from %s", p.title, p.psid)
		}},
	{"stop", "notification_messages_status STOP_NOTIFICATIONS: the person stops the topic's notifications (give their --psid)", kindTopic,
		func(p eventParams) (any, string) {
			return metawebhook.OptinEvent{PageID: p.page, PSID: p.psid, Title: p.title, Payload: p.payload,
				Status: metawebhook.StatusStop}.Envelope(), fmt.Sprintf("%s stops the %q notifications", p.psid, p.title)
		}},
	{"resume", "notification_messages_status RESUME_NOTIFICATIONS: the person resumes them (give their --psid)", kindTopic,
		func(p eventParams) (any, string) {
			return metawebhook.OptinEvent{PageID: p.page, PSID: p.psid, Title: p.title, Payload: p.payload,
				Status: metawebhook.StatusResume}.Envelope(), fmt.Sprintf("%s resumes the %q notifications", p.psid, p.title)
		}},
}

func findEvent(name string) (event, bool) {
	for _, e := range events {
		if e.name == name {
			return e, true
		}
	}
	return event{}, false
}

func eventTable() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, e := range events {
		_, _ = fmt.Fprintf(tw, "  %s\t%s\n", e.name, e.what) // into a strings.Builder
	}
	_ = tw.Flush()
	return b.String()
}

type simulateOptions struct {
	url, link, topic   string
	pageID, ref, title string
	psid, source       string
	repeat             int
	dryRun             bool
	secret             secretSource
	timeout            time.Duration
}

func newSimulateCmd(k *kube) *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate EVENT --url URL (--link NAME | --topic NAME | --page-id ID ...)",
		Short: "Send a correctly signed Messenger webhook delivery, as Meta would, to a webhook URL",
		Long: `Send a delivery of Meta's shape, signed with the app secret (X-Hub-Signature-256 and the legacy
X-Hub-Signature), to a webhook URL, and print the answer. As stripe trigger does for Stripe: it
shows that the receiver, the secret and the attribution work end to end, before Meta sends anything.

The Page and ref come from a MessengerLink (--link: its ref with its fields encoded), the Page and title
from a NotificationTopic (--topic), or from --page-id with --ref or --title. Each run is a new person
(a random PSID) unless --psid is given; --repeat sends the very same delivery again, as Meta's retries
do: the webhook server counts it once.

The app secret is read from --app-secret-file, the Secret of --app-secret-from (key --app-secret-key), or
MMELINK_APP_SECRET; it is never printed.

EVENT is one of:
` + eventTable(),
		Example: `  kubectl -n mmelink-system port-forward svc/mmelink-webhook-server 8090:80 &
  kubectl mmelink simulate get-started --link summer-poster --url http://127.0.0.1:8090/webhook \
      --app-secret-from mmelink-system/mmelink-webhook
  kubectl mmelink simulate topic-optin --topic weekly-deals --psid 7001000000000042 --url ... --app-secret-file ./app-secret
  kubectl mmelink simulate stop --topic weekly-deals --psid 7001000000000042 --url ... --app-secret-file ./app-secret
  kubectl mmelink simulate referral --page-id 104729384756123 --ref summer_poster --dry-run --app-secret-file ./app-secret > delivery.http`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			names := make([]cobra.Completion, len(events))
			for i, e := range events {
				names[i] = e.name
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runSimulate(cmd, k, o, args[0]) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.url, "url", "", "The webhook URL (Meta's callback URL), e.g. http://127.0.0.1:8090/webhook through a port-forward.")
	fs.StringVar(&o.link, "link", "", "MessengerLink whose Page and ref (fields encoded) the event carries.")
	fs.StringVar(&o.topic, "topic", "", "NotificationTopic whose Page and title the event carries.")
	fs.StringVar(&o.pageID, "page-id", "", "Page ID of the event (instead of --link or --topic, or to override them).")
	fs.StringVar(&o.ref, "ref", "", "Ref of the event, e.g. summer_poster--738--store7 (overrides the link's).")
	fs.StringVar(&o.title, "title", "", "Topic title of an opt-in (overrides the topic's).")
	fs.StringVar(&o.psid, "psid", "", "Page-scoped ID of the person (default: a new random one each run).")
	fs.StringVar(&o.source, "source", "", "Referral source (default SHORTLINK; ADS for ad).")
	fs.IntVar(&o.repeat, "repeat", 1, "Send the same delivery this many times, as Meta's retries do.")
	fs.BoolVar(&o.dryRun, "dry-run", false, "Print the signed HTTP request instead of sending it (verify-signature reads it).")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Second, "How long to wait for each answer (Meta waits about 20 s at most).")
	o.secret.bind(cmd)
	return cmd
}

func runSimulate(cmd *cobra.Command, k *kube, o simulateOptions, name string) error {
	ev, ok := findEvent(name)
	if !ok {
		return usagef("unknown event %q; one of:\n%s", name, eventTable())
	}
	if o.url == "" && !o.dryRun {
		return usagef("--url is required (or --dry-run)")
	}
	if o.repeat < 1 {
		return usagef("--repeat must be at least 1")
	}
	if (ev.name == "stop" || ev.name == "resume") && o.psid == "" {
		return usagef("%s needs --psid: the person who opted in (their token is derived from it)", ev.name)
	}
	ctx := cmd.Context()
	p, err := o.params(cmd, k, ev)
	if err != nil {
		return err
	}
	secret, err := o.secret.load(ctx, k)
	if err != nil {
		return err
	}
	envelope, desc := ev.build(p)
	body, err := metawebhook.EncodeEnvelope(envelope)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.dryRun {
		target := o.url
		if target == "" {
			target = "http://localhost/webhook"
		}
		req, err := metawebhook.NewDeliveryRequest(ctx, target, string(secret), body)
		if err != nil {
			return err
		}
		return req.Write(out)
	}
	for i := range o.repeat {
		label := desc
		if i > 0 {
			label = fmt.Sprintf("the same delivery again (%d of %d)", i+1, o.repeat)
		}
		if err := send(cmd, o, secret, body, label); err != nil {
			return err
		}
	}
	return nil
}

func send(cmd *cobra.Command, o simulateOptions, secret, body []byte, label string) error {
	ctx := cmd.Context()
	if o.timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	resp, err := metawebhook.Deliver(ctx, o.url, string(secret), body)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(resp.Body) // already in memory (metawebhook.Deliver)
	_ = resp.Body.Close()
	if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s  %s  %s\n", resp.Status, strings.TrimSpace(string(answer)), label); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the webhook answered %s: %s", resp.Status, hint(resp.StatusCode))
	}
	return nil
}

// hint explains the webhook server's answers (README, "The webhook server").
func hint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "the signature was refused: the app secret is not the webhook server's (check its Secret's app-secret)"
	case http.StatusServiceUnavailable:
		return "the delivery could not be stored now (the API server is slow or unreachable); Meta would retry"
	case http.StatusRequestEntityTooLarge:
		return "the body is over the webhook server's --max-body-bytes"
	case http.StatusNotFound:
		return "nothing answers at this path: the webhook server's path is /webhook"
	}
	return "see the webhook server's log"
}

// params resolves the event's Page, ref or title from the link or topic and the flags.
func (o simulateOptions) params(cmd *cobra.Command, k *kube, ev event) (eventParams, error) {
	p := eventParams{page: o.pageID, ref: o.ref, title: o.title, psid: o.psid, source: o.source}
	ctx := cmd.Context()
	if o.link != "" || o.topic != "" {
		c, ns, err := k.ClientIn()
		if err != nil {
			return p, err
		}
		if o.link != "" {
			var l messengerv1.MessengerLink
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.link}, &l); err != nil {
				return p, fmt.Errorf("reading MessengerLink %s/%s: %w", ns, o.link, err)
			}
			fields := make([]link.Field, len(l.Spec.Fields))
			for i, f := range l.Spec.Fields {
				fields[i] = link.Field{ID: f.ID, Value: f.Value}
			}
			ref, err := link.EncodeRef(l.Spec.Ref, fields)
			if err != nil {
				return p, fmt.Errorf("MessengerLink %s: %w", o.link, err)
			}
			p.page, p.ref = or(p.page, l.Spec.Page.ID), or(p.ref, ref)
		}
		if o.topic != "" {
			var t messengerv1.NotificationTopic
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.topic}, &t); err != nil {
				return p, fmt.Errorf("reading NotificationTopic %s/%s: %w", ns, o.topic, err)
			}
			p.page, p.title = or(p.page, t.Spec.Page.ID), or(p.title, t.Spec.Topic)
			if r := t.Spec.Registration; r != nil {
				p.payload = r.Payload
			}
		}
	}
	switch {
	case p.page == "":
		return p, usagef("no Page: give --link, --topic or --page-id")
	case ev.needs == kindLink && p.ref == "":
		return p, usagef("%s needs a ref: give --link or --ref", ev.name)
	case ev.needs == kindTopic && p.title == "":
		return p, usagef("%s needs a topic title: give --topic or --title", ev.name)
	}
	if p.psid == "" {
		p.psid = randomPSID()
	}
	return p, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// randomPSID is a new person: 16 digits, as Meta's Page-scoped IDs look.
func randomPSID() string {
	n, err := rand.Int(rand.Reader, big.NewInt(9e14))
	if err != nil {
		return "7000000000000001"
	}
	return fmt.Sprintf("7%015d", n.Int64())
}
