package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

// profile keeps the Get Started button and the domain allowlist. Every messenger_profile call counts
// against Meta's 10 per 10 minutes per Page, so the check runs only when it is due (a new spec, the
// recheck interval, or an unfinished check) and spends calls from the budget in status.profile.
func (run *pageRun) profile(ctx context.Context) (stop bool, err error) {
	p := run.p
	if !run.profileDue() {
		return false, nil // the last check stands
	}
	if err := run.freshProfileStatus(ctx); err != nil {
		return true, err
	}
	if !run.profileDue() {
		return false, nil
	}
	if p.Status.Profile == nil {
		p.Status.Profile = &messengerv1.ProfileCallStatus{}
	}
	st := p.Status.Profile
	specChanged := st.CheckedGeneration != p.Generation
	if specChanged && st.Failures > 0 {
		// A new spec starts a new backoff; the window's budget stays spent.
		st.Failures, st.NextCallTime = 0, nil
	}
	if st.NextCallTime != nil && run.now.Before(st.NextCallTime.Time) {
		run.waitForBudget(specChanged)
		return false, nil
	}
	if !run.spend() {
		run.waitForBudget(specChanged)
		return false, nil
	}
	prof, err := run.r.Graph.MessengerProfile(ctx, p.Spec.Page.ID, run.token)
	if err != nil {
		return true, run.profileFailure("reading the Messenger Profile", err)
	}
	plan := planProfile(p, prof)
	if plan.write() {
		if !run.spend() {
			run.waitForBudget(true)
			return false, nil
		}
		if err := run.writeProfile(ctx, plan); err != nil {
			return true, err
		}
	}
	p.Status.AddedDomains = plan.added
	p.Status.GetStartedPayload = plan.ours
	run.checked()
	switch {
	case plan.rejected != "":
		run.setProfileReady(metav1.ConditionFalse, messengerv1.ReasonDomainRejected, plan.rejected)
		markStalled(p, messengerv1.ReasonDomainRejected, plan.rejected)
		run.failed = true
	case !plan.hasButton:
		run.setProfileReady(metav1.ConditionFalse, messengerv1.ReasonNoGetStartedButton, "the Page has no Get Started button, "+
			"so a new conversation from an m.me link carries no referral: set spec.getStarted.payload, or have the bot set one")
	case plan.foreign != "":
		run.setProfileReady(metav1.ConditionTrue, messengerv1.ReasonForeignGetStarted, fmt.Sprintf("the Page's Get Started "+
			"payload %q was not set by the operator and stays (policy IfAbsent); every domain is on the allowlist", plan.foreign))
	default:
		run.setProfileReady(metav1.ConditionTrue, messengerv1.ReasonSucceeded, "the Page has a Get Started button and every domain is on its allowlist")
	}
	return false, nil
}

// profileDue reports whether the profile must be checked: never checked, a new spec or token Secret, or
// the recheck interval passed since the last completed check.
func (run *pageRun) profileDue() bool {
	st := run.p.Status.Profile
	if st == nil || st.CheckTime == nil || st.CheckedGeneration != run.p.Generation || st.SecretVersion != run.secretVersion {
		return true
	}
	next := st.CheckTime.Add(run.r.recheck())
	if run.now.Before(next) {
		run.due(next)
		return false
	}
	return true
}

// freshProfileStatus takes the profile bookkeeping from the API server rather than the cache: a cached
// copy that missed the last status write would spend the budget twice.
func (run *pageRun) freshProfileStatus(ctx context.Context) error {
	fresh := &messengerv1.MessengerPage{}
	if err := run.r.APIReader.Get(ctx, run.key, fresh); err != nil {
		return fmt.Errorf("reading the MessengerPage: %w", err)
	}
	if fresh.UID != run.p.UID || fresh.ResourceVersion == run.p.ResourceVersion {
		return nil
	}
	run.p.Status.Profile = fresh.Status.Profile.DeepCopy()
	run.p.Status.AddedDomains = slices.Clone(fresh.Status.AddedDomains)
	run.p.Status.GetStartedPayload = fresh.Status.GetStartedPayload
	return nil
}

// writeProfile makes the one write the plan needs (a second one only to empty the allowlist) and records
// an event per change.
func (run *pageRun) writeProfile(ctx context.Context, plan profilePlan) error {
	p := run.p
	page := p.Spec.Page.ID
	update := graph.Profile{GetStarted: plan.setGetStarted}
	if plan.domainsChanged && len(plan.domains) > 0 {
		update.WhitelistedDomains = plan.domains
	}
	if update.GetStarted != nil || update.WhitelistedDomains != nil {
		if err := run.r.Graph.SetMessengerProfile(ctx, page, run.token, update); err != nil {
			return run.profileFailure("writing the Messenger Profile", err)
		}
	}
	if plan.domainsChanged && len(plan.domains) == 0 {
		if !run.spend() {
			run.waitForBudget(true)
			return nil
		}
		if err := run.r.Graph.DeleteMessengerProfile(ctx, page, run.token, []string{graph.ProfileWhitelistedDomains}); err != nil {
			return run.profileFailure("emptying the domain allowlist", err)
		}
	}
	if gs := plan.setGetStarted; gs != nil {
		if plan.replaced != "" {
			run.emit(corev1.EventTypeNormal, "GetStartedReplaced", "SetGetStarted", fmt.Sprintf("replaced the Get Started "+
				"payload %q, which the operator had not set, with %q on Page %s (policy Enforce)", plan.replaced, gs.Payload, page))
		} else {
			run.emit(corev1.EventTypeNormal, "GetStartedSet", "SetGetStarted", fmt.Sprintf("set the Get Started payload %q on Page %s",
				gs.Payload, page))
		}
	}
	if len(plan.add) > 0 {
		run.emit(corev1.EventTypeNormal, "DomainsAdded", "SetDomains", fmt.Sprintf("added %s to the domain allowlist of Page %s",
			strings.Join(plan.add, ", "), page))
	}
	if len(plan.remove) > 0 {
		run.emit(corev1.EventTypeNormal, "DomainsRemoved", "SetDomains", fmt.Sprintf("removed %s, which the operator had added "+
			"and spec.domains no longer lists, from the domain allowlist of Page %s", strings.Join(plan.remove, ", "), page))
	}
	return nil
}

// profileFailure records a failed profile call. Rate limiting backs off from status, so that a restart
// does not call again at once.
func (run *pageRun) profileFailure(what string, err error) error {
	st := run.p.Status.Profile
	if graph.Classify(err) == graph.Throttled {
		st.Failures++
		wait := run.r.profileBackoff().Duration(int(st.Failures))
		if d, ok := graph.RetryAfter(err); ok && d > wait {
			wait = d
		}
		next := metav1.NewTime(run.now.Add(wait))
		st.NextCallTime = &next
		run.due(next.Time)
	}
	reason, rerr := run.graphFailure(what, err, graph.PermissionMessaging)
	if reason == graph.ReasonInvalidRequest && strings.Contains(err.Error(), graph.ProfileWhitelistedDomains) {
		reason = messengerv1.ReasonDomainRejected
		markStalled(run.p, reason, run.scrub(fmt.Sprintf("Meta refused a domain of spec.domains: %v", err)))
	}
	status := metav1.ConditionFalse
	if graph.Classify(err) != graph.Permanent {
		status = metav1.ConditionUnknown
	}
	run.setProfileReady(status, reason, run.scrub(fmt.Sprintf("%s: %v", what, err)))
	return rerr
}

// spend takes one call from the budget of the current window; false when it is spent (NextCallTime then
// says when the window ends).
func (run *pageRun) spend() bool {
	st := run.p.Status.Profile
	window := run.r.profileWindow()
	if st.WindowStart == nil || !run.now.Before(st.WindowStart.Add(window)) {
		start := metav1.NewTime(run.now)
		st.WindowStart, st.Calls = &start, 0
	}
	if int(st.Calls) >= run.r.profileBudget() {
		next := metav1.NewTime(st.WindowStart.Add(window))
		st.NextCallTime = &next
		return false
	}
	st.Calls++
	last := metav1.NewTime(run.now)
	st.LastCallTime = &last
	return true
}

// waitForBudget keeps the last check's ProfileReady, unless the spec changed since: then the Page is not
// ready until the new spec is checked.
func (run *pageRun) waitForBudget(specChanged bool) {
	st := run.p.Status.Profile
	at := run.now
	if st.NextCallTime != nil {
		at = st.NextCallTime.Time
	}
	run.due(at)
	msg := fmt.Sprintf("the next Messenger Profile call goes at %s: Meta allows %d per %s and Page, the operator spends "+
		"at most %d of them", stamp(at), 10, DefaultProfileWindow, run.r.profileBudget())
	if specChanged || apimeta.FindStatusCondition(run.p.Status.Conditions, messengerv1.ConditionProfileReady) == nil {
		run.setProfileReady(metav1.ConditionUnknown, messengerv1.ReasonRateLimited, msg)
		markReconciling(run.p, messengerv1.ReasonRateLimited, msg)
		run.failed = true
	}
}

// checked records a completed check.
func (run *pageRun) checked() {
	st := run.p.Status.Profile
	t := metav1.NewTime(run.now)
	st.CheckTime, st.CheckedGeneration, st.SecretVersion, st.Failures = &t, run.p.Generation, run.secretVersion, 0
	if st.NextCallTime != nil && !run.now.Before(st.NextCallTime.Time) {
		st.NextCallTime = nil
	}
	run.due(t.Add(run.r.recheck()))
}

func (run *pageRun) setProfileReady(status metav1.ConditionStatus, reason, msg string) {
	setCondition(run.p, messengerv1.ConditionProfileReady, status, reason, run.scrub(msg))
}

// profilePlan is what the profile read asks to change.
type profilePlan struct {
	setGetStarted *graph.GetStarted
	hasButton     bool
	ours          string // the payload the operator set, after the write
	foreign       string // a payload the operator did not set and keeps
	replaced      string // a payload the operator did not set and replaces (Enforce)

	domains        []string // the allowlist after the write
	domainsChanged bool
	add, remove    []string
	added          []string // status.addedDomains after the write
	rejected       string   // why the domains cannot be written
}

func (pl profilePlan) write() bool { return pl.setGetStarted != nil || pl.domainsChanged }

// planProfile merges the spec into what Meta has: the Get Started payload is set only when absent, set by
// the operator, or enforced; domains are added when missing and removed only when the operator added them.
func planProfile(p *messengerv1.MessengerPage, prof graph.Profile) profilePlan {
	var pl profilePlan
	want, cur, ours := p.GetStartedPayload(), prof.GetStarted, p.Status.GetStartedPayload
	pl.hasButton = cur != nil
	if cur == nil || cur.Payload != ours {
		ours = "" // someone else changed or removed the payload since: what is there is theirs
	}
	switch {
	case want == "":
	case cur == nil, ours != "" && cur.Payload == ours && ours != want:
		pl.setGetStarted = &graph.GetStarted{Payload: want}
	case cur.Payload == want:
	case p.GetStartedPolicy() == messengerv1.GetStartedEnforce:
		pl.setGetStarted, pl.replaced = &graph.GetStarted{Payload: want}, cur.Payload
	default:
		pl.foreign = cur.Payload
	}
	if pl.setGetStarted != nil {
		ours, pl.hasButton = want, true
	}
	pl.ours = ours

	wanted := make([]string, 0, len(p.Spec.Domains))
	for _, d := range p.Spec.Domains {
		wanted = append(wanted, normalizeOrigin(string(d)))
	}
	onPage := map[string]bool{}
	for _, d := range prof.WhitelistedDomains {
		onPage[normalizeOrigin(d)] = true
	}
	for _, a := range p.Status.AddedDomains {
		if !slices.Contains(wanted, a) && onPage[a] {
			pl.remove = append(pl.remove, a)
		}
	}
	for _, w := range wanted {
		if !onPage[w] && !slices.Contains(pl.add, w) {
			pl.add = append(pl.add, w)
		}
	}
	for _, d := range prof.WhitelistedDomains {
		if !slices.Contains(pl.remove, normalizeOrigin(d)) {
			pl.domains = append(pl.domains, d)
		}
	}
	pl.domains = append(pl.domains, pl.add...)
	pl.domainsChanged = len(pl.add)+len(pl.remove) > 0
	for _, a := range p.Status.AddedDomains {
		if slices.Contains(wanted, a) && onPage[a] {
			pl.added = append(pl.added, a)
		}
	}
	pl.added = sortedCopy(append(pl.added, pl.add...))
	if len(pl.added) == 0 {
		pl.added = nil
	}
	if len(pl.domains) > messengerv1.MaxPageDomains {
		pl.rejected = fmt.Sprintf("adding %s would put %d domains on the Page's allowlist; Meta allows %d: remove domains "+
			"from the allowlist or from spec.domains", strings.Join(pl.add, ", "), len(pl.domains), messengerv1.MaxPageDomains)
		pl.domains, pl.domainsChanged, pl.add, pl.remove = prof.WhitelistedDomains, false, nil, nil
		pl.added = nil
		for _, a := range p.Status.AddedDomains {
			if onPage[a] {
				pl.added = append(pl.added, a)
			}
		}
	}
	return pl
}

// normalizeOrigin compares domains as Meta does: case-insensitive, with or without a trailing slash.
func normalizeOrigin(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), "/")
}

func (r *MessengerPageReconciler) profileBudget() int {
	if r.ProfileBudget > 0 {
		return r.ProfileBudget
	}
	return DefaultProfileBudget
}

func (r *MessengerPageReconciler) profileWindow() time.Duration {
	if r.ProfileWindow > 0 {
		return r.ProfileWindow
	}
	return DefaultProfileWindow
}

func (r *MessengerPageReconciler) profileBackoff() graph.Backoff {
	if r.ProfileBackoff.Base > 0 {
		return r.ProfileBackoff
	}
	return DefaultProfileBackoff
}
