package controllers

import (
	"slices"
	"testing"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph"
)

// planProfile is where "never overwrite what the operator did not set" is decided.
func TestPlanProfileGetStarted(t *testing.T) {
	page := func(payload string, policy messengerv1.GetStartedPolicy, ours string) *messengerv1.MessengerPage {
		p := &messengerv1.MessengerPage{}
		if payload != "" || policy != "" {
			p.Spec.GetStarted = &messengerv1.GetStartedSpec{Payload: payload, Policy: policy}
		}
		p.Status.GetStartedPayload = ours
		return p
	}
	gs := func(s string) *graph.GetStarted { return &graph.GetStarted{Payload: s} }
	tests := []struct {
		name          string
		page          *messengerv1.MessengerPage
		onPage        *graph.GetStarted
		wantSet       string // "" for no write
		wantOurs      string
		wantForeign   string
		wantReplaced  string
		wantHasButton bool
	}{
		{"no button: set it", page("GO", "", ""), nil, "GO", "GO", "", "", true},
		{"our payload already there", page("GO", "", "GO"), gs("GO"), "", "GO", "", "", true},
		{"the bot's payload stays under IfAbsent", page("GO", "", ""), gs("BOT"), "", "", "BOT", "", true},
		{"the bot's payload goes under Enforce", page("GO", messengerv1.GetStartedEnforce, ""), gs("BOT"), "GO", "GO", "", "BOT", true},
		{"our older payload is ours to change", page("NEW", "", "OLD"), gs("OLD"), "NEW", "NEW", "", "", true},
		{"the bot replaced ours: it is the bot's now", page("NEW", "", "OLD"), gs("BOT"), "", "", "BOT", "", true},
		{"report only: no button", page("", "", ""), nil, "", "", "", "", false},
		{"report only: a button", page("", "", ""), gs("BOT"), "", "", "", "", true},
		{"report only: ours stays recorded while on the Page", page("", "", "OLD"), gs("OLD"), "", "OLD", "", "", true},
		{"removed by someone: no longer ours", page("", "", "OLD"), nil, "", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := planProfile(tt.page, graph.Profile{GetStarted: tt.onPage})
			set := ""
			if pl.setGetStarted != nil {
				set = pl.setGetStarted.Payload
			}
			if set != tt.wantSet || pl.ours != tt.wantOurs || pl.foreign != tt.wantForeign || pl.replaced != tt.wantReplaced ||
				pl.hasButton != tt.wantHasButton {
				t.Errorf("plan: set %q ours %q foreign %q replaced %q button %v", set, pl.ours, pl.foreign, pl.replaced, pl.hasButton)
			}
		})
	}
}

func TestPlanProfileDomains(t *testing.T) {
	tests := []struct {
		name                 string
		spec, added, onPage  []string
		wantDomains, wantAdd []string
		wantRemove, wantRec  []string
		wantChanged          bool
		wantRejected         bool
	}{
		{"add a missing domain", []string{"https://a.example"}, nil, []string{"https://bot.example"},
			[]string{"https://bot.example", "https://a.example"}, []string{"https://a.example"}, nil, []string{"https://a.example"}, true, false},
		{"already there, with a slash and in capitals: nothing to do and not ours", []string{"https://a.example"}, nil, []string{"HTTPS://A.example/"},
			[]string{"HTTPS://A.example/"}, nil, nil, nil, false, false},
		{"remove only what the operator added", nil, []string{"https://a.example"}, []string{"https://bot.example", "https://a.example"},
			[]string{"https://bot.example"}, nil, []string{"https://a.example"}, nil, true, false},
		{"a domain the bot also lists is never removed when not ours", nil, nil, []string{"https://a.example"},
			[]string{"https://a.example"}, nil, nil, nil, false, false},
		{"ours removed by someone: forgotten", []string{"https://a.example"}, []string{"https://a.example", "https://b.example"}, []string{"https://a.example"},
			[]string{"https://a.example"}, nil, nil, []string{"https://a.example"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &messengerv1.MessengerPage{}
			for _, d := range tt.spec {
				p.Spec.Domains = append(p.Spec.Domains, messengerv1.HTTPSOrigin(d))
			}
			p.Status.AddedDomains = tt.added
			pl := planProfile(p, graph.Profile{WhitelistedDomains: tt.onPage})
			if !slices.Equal(pl.domains, tt.wantDomains) || !slices.Equal(pl.add, tt.wantAdd) || !slices.Equal(pl.remove, tt.wantRemove) ||
				!slices.Equal(pl.added, tt.wantRec) || pl.domainsChanged != tt.wantChanged || (pl.rejected != "") != tt.wantRejected {
				t.Errorf("plan: domains %v add %v remove %v added %v changed %v rejected %q", pl.domains, pl.add, pl.remove, pl.added,
					pl.domainsChanged, pl.rejected)
			}
		})
	}
	// A full allowlist: nothing is written, and the reason says how many.
	var full []string
	for i := range messengerv1.MaxPageDomains {
		full = append(full, "https://s"+string(rune('a'+i%26))+string(rune('a'+i/26))+".example")
	}
	p := &messengerv1.MessengerPage{Spec: messengerv1.MessengerPageSpec{Domains: []messengerv1.HTTPSOrigin{"https://new.example"}}}
	pl := planProfile(p, graph.Profile{WhitelistedDomains: full})
	if pl.rejected == "" || pl.domainsChanged || len(pl.add) != 0 {
		t.Errorf("a 51st domain was planned: %+v", pl)
	}
}
