package graphtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The control API drives the emulator from another process as its methods do in this one: a publish
// reaches the subscribed app, the deliveries, kill switches and subscriptions read back, a resend is a
// duplicate, and bad requests get 400 while Graph API paths still reach the emulator.
func TestControlHandler(t *testing.T) {
	s := NewHandler(WithWebhookRetries(fastRetries), WithKillSwitchAfter(time.Hour))
	defer s.Close()
	srv := httptest.NewServer(s.Routed())
	defer srv.Close()
	var hook switchable
	s.AddApp(App{ID: "1", CallbackURL: serveHandler(t, &hook), Secret: secret})
	s.Subscribe("100", "1", []string{"messaging_referrals"})

	call := func(method, path, body string, want int, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+ControlPrefix+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
	}
	env, _ := json.Marshal(ReferralEvent{PageID: "100", PSID: "7", Ref: "x"}.Envelope())
	var pub struct{ IDs []int }
	call(http.MethodPost, "publish?page=100&field=messaging_referrals", string(env), http.StatusOK, &pub)
	if len(pub.IDs) != 1 {
		t.Fatalf("publish = %v, want one delivery", pub.IDs)
	}
	waitFor(t, "the delivery to be acknowledged", func() bool { return s.WebhookDeliveries()[0].Acked })
	var none struct{ IDs []int }
	call(http.MethodPost, "publish?page=100&field=messages", string(env), http.StatusOK, &none)
	if none.IDs == nil || len(none.IDs) != 0 {
		t.Errorf("publish for a field nobody is subscribed to = %v, want []", none.IDs)
	}
	var re struct{ ID int }
	call(http.MethodPost, "resend?id=1", "", http.StatusOK, &re)
	var ds []WebhookDelivery
	waitFor(t, "the duplicate to be acknowledged", func() bool {
		call(http.MethodGet, "deliveries", "", http.StatusOK, &ds)
		return len(ds) == 2 && ds[1].Acked
	})
	if d := ds[1]; d.ID != re.ID || !d.Duplicate || string(d.Body) != string(ds[0].Body) || d.PageID != "100" || d.AppID != "1" {
		t.Errorf("the duplicate = %+v, want delivery %d's bytes again", d, pub.IDs[0])
	}
	var subs map[string][]string
	call(http.MethodGet, "subscriptions?page=100", "", http.StatusOK, &subs)
	if len(subs["1"]) != 1 || subs["1"][0] != "messaging_referrals" {
		t.Errorf("subscriptions = %v", subs)
	}
	var kills []KillSwitch
	call(http.MethodGet, "kill-switches", "", http.StatusOK, &kills)
	if len(kills) != 0 {
		t.Errorf("kill switches = %v, want none", kills)
	}
	for _, bad := range []struct{ method, path, body string }{
		{http.MethodPost, "publish?field=messaging_referrals", string(env)},
		{http.MethodPost, "publish?page=100&field=messaging_referrals", "not json"},
		{http.MethodPost, "resend?id=x", ""},
	} {
		call(bad.method, bad.path, bad.body, http.StatusBadRequest, nil)
	}
	call(http.MethodPost, "resend?id=99", "", http.StatusNotFound, nil)
	resp, err := http.Get(srv.URL + "/v25.0/100/subscribed_apps")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || len(s.Requests()) != 1 {
		t.Errorf("a Graph API path answered %d and %d requests were recorded; want it served by the emulator", resp.StatusCode, len(s.Requests()))
	}
}
