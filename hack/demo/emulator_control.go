// The demo's calls to the Graph API emulator's control API (/_emulator/): events made to happen on a
// Page, and what the emulator delivered and retried.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mmelink/operator/internal/graph/graphtest"
)

// publish makes a returning-conversation event of person i happen on the Page, with a field value of its
// own (so that its count can be told apart), through the emulator; id is 0 when nothing was delivered.
func (d *demo) publish(ctx context.Context, pageID string, i int) (*published, error) {
	psid, ref := fmt.Sprintf("70020000000000%02d", i), fmt.Sprintf("summer_poster--738--killswitch%d", i)
	env, err := json.Marshal(graphtest.ReferralEvent{PageID: pageID, PSID: psid, Ref: ref}.Envelope())
	if err != nil {
		return nil, err
	}
	var out struct{ IDs []int }
	q := url.Values{"page": {pageID}, "field": {"messaging_referrals"}}
	if err := d.emulator(ctx, http.MethodPost, "publish?"+q.Encode(), env, &out); err != nil {
		return nil, err
	}
	p := &published{delivery: delivery{what: fmt.Sprintf("returning conversation from %s, ref %s", psid, ref),
		kind: kindReturning, psid: psid, ref: ref}}
	if len(out.IDs) > 1 {
		return nil, fmt.Errorf("%d deliveries of one event, want at most one (one app)", len(out.IDs))
	}
	if len(out.IDs) == 1 {
		p.id = out.IDs[0]
	}
	return p, nil
}

// acked fails while a delivery of ps is not acknowledged, or was given up.
func (d *demo) acked(ctx context.Context, ps []published) error {
	var all []graphtest.WebhookDelivery
	if err := d.emulator(ctx, http.MethodGet, "deliveries", nil, &all); err != nil {
		return err
	}
	byID := map[int]graphtest.WebhookDelivery{}
	for _, w := range all {
		byID[w.ID] = w
	}
	for _, p := range ps {
		w, ok := byID[p.id]
		switch {
		case !ok:
			return fmt.Errorf("the emulator has no delivery %d", p.id)
		case w.Dropped:
			return fmt.Errorf("the emulator gave up delivery %d (%s) after %d attempts", p.id, p.what, len(w.Attempts))
		case !w.Acked:
			return fmt.Errorf("delivery %d (%s) not acknowledged after %d attempts", p.id, p.what, len(w.Attempts))
		}
	}
	return nil
}

// attempts says how many posts the phase's deliveries took, for the output.
func (d *demo) attempts(ctx context.Context, ps []published) string {
	var all []graphtest.WebhookDelivery
	if err := d.emulator(ctx, http.MethodGet, "deliveries", nil, &all); err != nil {
		return "?"
	}
	var counts []string
	for _, w := range all {
		for _, p := range ps {
			if p.id == w.ID {
				counts = append(counts, strconv.Itoa(len(w.Attempts)))
			}
		}
	}
	return strings.Join(counts, ", ") + " attempts"
}

func (d *demo) appSubscribed(ctx context.Context, pageID string) (bool, error) {
	var subs map[string][]string
	if err := d.emulator(ctx, http.MethodGet, "subscriptions?page="+url.QueryEscape(pageID), nil, &subs); err != nil {
		return false, err
	}
	_, ok := subs[demoAppID]
	return ok, nil
}

// emulator calls the graph emulator's control API (graphtest.ControlHandler).
func (d *demo) emulator(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, d.emulatorURL+graphtest.ControlPrefix+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emulator %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}
