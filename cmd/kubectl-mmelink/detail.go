package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// printDetail writes the detailed view of one object, in sections as kubectl describe does.
func printDetail(out io.Writer, s Summary) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	// The tabwriter buffers; Flush reports a failed write.
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(tw, format+"\n", a...) }
	p("%s %s/%s", s.Kind, s.Namespace, s.Name)
	p("  Ready:\t%s", readyLine(s.Ready))
	if s.Stale {
		p("  \t(the conditions describe an older generation: the controller has not caught up with the spec)")
	}
	p("  Page ID:\t%s", s.PageID)
	if s.URL != "" {
		p("  URL:\t%s", s.URL)
	}
	if s.ConfigMap != "" {
		p("  ConfigMap:\t%s", s.ConfigMap)
	}
	if s.Claim != nil {
		held := "held"
		if !s.Claim.Held {
			held = "not held: nothing is counted for this object (see the conditions)"
		}
		p("  Claim:\t%s (%s)", s.Claim.Key, held)
	}
	p("  Age:\t%s", age(&s.Created))

	p("Conditions:")
	p("  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, c := range s.Conditions {
		p("  %s\t%s\t%s\t%s\t%s", c.Type, c.Status, c.Reason, age(&c.LastTransitionTime), oneLine(c.Message))
	}
	switch {
	case s.Referrals != nil:
		referralSection(p, s.Referrals)
	case s.OptIns != nil:
		optInSection(p, s.OptIns)
	case s.Kind == "MessengerLink":
		p("Referrals:\tnone yet")
	case s.Kind == "NotificationTopic":
		p("Opt-ins:\tnone yet")
	}
	if r := s.Registration; r != nil {
		p("Registration:")
		p("  Request:\t%s (decided %s)", r.RequestID, when(r.IntentTime))
		p("  Sent:\t%s", when(r.SentTime))
		if r.NextAttemptTime != nil {
			p("  Next attempt:\t%s (after %d failed)", when(r.NextAttemptTime), r.Attempts)
		}
	}
	if s.Kind != "MessengerPage" {
		dedupeSection(p, s)
	}
	pageSection(p, s)
	return tw.Flush()
}

type printer func(format string, a ...any)

func referralSection(p printer, r *messengerv1.ReferralStats) {
	p("Referrals:")
	p("  Total:\t%d (new conversations %d, returning %d, from ads %d)", r.Total, r.NewConversations,
		r.ReturningConversations, r.AdReferrals)
	p("  Plugin opt-ins:\t%d", r.PluginOptIns)
	p("  Unique people:\t~%d", r.UniquePeople)
	if len(r.BySource) > 0 {
		p("  By source:\t%s", counts(r.BySource))
	}
	for _, f := range r.Fields {
		v := counts(f.Values)
		if f.Other > 0 {
			v += fmt.Sprintf(", other values %d", f.Other)
		}
		p("  Field %s:\t%s", f.ID, v)
	}
	p("  First:\t%s", when(r.FirstTime))
	p("  Last:\t%s", when(r.LastTime))
}

func optInSection(p printer, o *messengerv1.OptInStats) {
	p("Opt-ins:")
	p("  Total:\t%d (active %d, stopped %d)", o.Total, o.Active, o.Stopped)
	p("  Last:\t%s", when(o.LastTime))
	p("  Confirmed:\t%s", when(o.ConfirmedTime))
	if len(o.Secrets) > 0 {
		p("  Token Secrets:\t%s", strings.Join(o.Secrets, ", "))
	}
}

func dedupeSection(p printer, s Summary) {
	p("Dedupe window:")
	d := s.Dedupe
	if d == nil {
		p("  \tno events yet")
		return
	}
	if d.CoveredSince == nil {
		p("  Covers:\tevery event: the window has dropped none of its %d fingerprints", d.Events)
	} else {
		p("  Covers:\tevents after %s; %d fingerprints kept", when(d.CoveredSince), d.Events)
	}
	p("  Late events:\t%d (arrived at or before the window's start: acknowledged, not counted)", d.LateEvents)
}

func pageSection(p printer, s Summary) {
	h := s.Page
	if h == nil {
		p("Page:\tno MessengerPage keeps Page %s (links and topics work without one; nothing checks Meta's side)", s.PageID)
		return
	}
	p("Page:")
	if h.MessengerPage == "" {
		p("  MessengerPage:\t(cannot be read with your permissions; its Ready as this object's PageReady says)")
		p("  Ready:\t%s", readyLine(h.Ready))
		return
	}
	if s.Kind != "MessengerPage" {
		p("  MessengerPage:\t%s", h.MessengerPage)
		p("  Ready:\t%s", readyLine(h.Ready))
	}
	p("  Subscribed:\t%s", readyLine(h.Subscribed))
	if len(h.SubscribedFields) > 0 {
		p("  Fields:\t%s", strings.Join(h.SubscribedFields, ", "))
	}
	p("  Profile ready:\t%s", readyLine(h.ProfileReady))
	p("  Receiving:\t%s", readyLine(h.Receiving))
	p("  Last delivery:\t%s", when(h.LastDeliveryTime))
	if h.RefusingSince != nil {
		p("  Refusing since:\t%s: Meta unsubscribes the app after an hour of refused deliveries", when(h.RefusingSince))
	}
}

func readyLine(c ConditionBrief) string {
	if c.Reason == "" {
		return string(c.Status)
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}

// oneLine keeps a condition message on its table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
