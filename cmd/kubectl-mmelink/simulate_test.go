package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// referralCounts are the counts simulate's events change on a link.
type referralCounts struct{ total, newConv, returning, ads, plugin int64 }

func countsOf(l *messengerv1.MessengerLink) referralCounts {
	r := l.Status.Referrals
	if r == nil {
		return referralCounts{}
	}
	return referralCounts{r.Total, r.NewConversations, r.ReturningConversations, r.AdReferrals, r.PluginOptIns}
}

func fieldCount(l *messengerv1.MessengerLink, id, value string) int64 {
	if r := l.Status.Referrals; r != nil {
		for _, f := range r.Fields {
			if f.ID == id {
				return f.Values[value]
			}
		}
	}
	return 0
}

type optInCounts struct{ total, active, stopped int64 }

func optInsOf(tp *messengerv1.NotificationTopic) optInCounts {
	o := tp.Status.OptIns
	if o == nil {
		return optInCounts{}
	}
	return optInCounts{o.Total, o.Active, o.Stopped}
}

// Each event simulate sends reaches the real webhook server correctly signed, in Meta's shape, and is
// counted where it belongs; a repeated delivery is counted once.
func TestSimulateCountsEachEvent(t *testing.T) {
	secret := []string{"--url", world.webhookURL, "--app-secret-file", world.secretFile}
	poster, chat := countsOf(getLink(t, "summer-poster")), countsOf(getLink(t, "website-chat"))
	store7 := fieldCount(getLink(t, "summer-poster"), "738", "store7")
	topic := optInsOf(getTopic(t, "weekly-deals"))

	steps := []struct {
		args []string
		want string // in the output line
	}{
		{[]string{"get-started", "--link", "summer-poster"}, "new conversation (Get Started)"},
		{[]string{"referral", "--link", "summer-poster", "--repeat", "3"}, "the same delivery again (3 of 3)"},
		{[]string{"referral", "--link", "summer-poster", "--ref", "summer_poster--738--store7"}, "ref summer_poster--738--store7"},
		{[]string{"ad", "--link", "summer-poster"}, "click-to-Messenger ad"},
		{[]string{"plugin-optin", "--link", "website-chat"}, "data-ref website_footer"},
		{[]string{"checkbox-optin", "--link", "website-chat"}, "checkbox plugin opt-in"},
		{[]string{"topic-optin", "--topic", "weekly-deals", "--psid", "7001000000000101"}, `topic opt-in to "Weekly deals"`},
		{[]string{"topic-optin", "--topic", "weekly-deals", "--psid", "7001000000000102"}, `topic opt-in to "Weekly deals"`},
		{[]string{"stop", "--topic", "weekly-deals", "--psid", "7001000000000101"}, `stops the "Weekly deals" notifications`},
	}
	for _, s := range steps {
		out := mustPlugin(t, append(append([]string{"simulate"}, s.args...), secret...)...)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(line, "200 OK  EVENT_RECEIVED  ") {
				t.Errorf("simulate %v: %q, want every delivery answered 200 EVENT_RECEIVED", s.args, line)
			}
		}
		if !strings.Contains(out, s.want) {
			t.Errorf("simulate %v printed %q, want %q", s.args, out, s.want)
		}
	}

	wantPoster := referralCounts{poster.total + 4, poster.newConv + 1, poster.returning + 2, poster.ads + 1, poster.plugin}
	wantChat := referralCounts{chat.total, chat.newConv, chat.returning, chat.ads, chat.plugin + 2}
	wantTopic := optInCounts{topic.total + 2, topic.active + 1, topic.stopped + 1}
	eventually(t, func() error {
		p, c, tp := getLink(t, "summer-poster"), getLink(t, "website-chat"), getTopic(t, "weekly-deals")
		got := []any{countsOf(p), countsOf(c), optInsOf(tp), fieldCount(p, "738", "store7")}
		want := []any{wantPoster, wantChat, wantTopic, store7 + 1}
		for i := range got {
			if got[i] != want[i] {
				return fmt.Errorf("counts %+v, want %+v (summer-poster, website-chat, weekly-deals, field 738=store7)", got, want)
			}
		}
		return nil
	})
}

// The app secret can come from the webhook server's own Secret; a wrong one is refused by the webhook
// server, and the plugin says what that means.
func TestSimulateSecretSources(t *testing.T) {
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: world.ns, Name: "mmelink-webhook"},
		Data: map[string][]byte{"app-secret": []byte(testSecret + "\n"), "wrong": []byte("not-the-app-secret")}}
	if err := world.c.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = world.c.Delete(ctx, sec) })
	base := []string{"simulate", "get-started", "--link", "summer-poster", "--url", world.webhookURL}

	out := mustPlugin(t, append(base, "--app-secret-from", world.ns+"/mmelink-webhook")...)
	if !strings.HasPrefix(out, "200 OK") {
		t.Errorf("with the Secret: %q", out)
	}
	t.Setenv("MMELINK_APP_SECRET", testSecret)
	if out := mustPlugin(t, base...); !strings.HasPrefix(out, "200 OK") {
		t.Errorf("with MMELINK_APP_SECRET: %q", out)
	}
	out, code := plugin(t, append(base, "--app-secret-from", "mmelink-webhook", "--app-secret-key", "wrong")...)
	if code != 1 || !strings.HasPrefix(out, "401 Unauthorized") {
		t.Errorf("with the wrong secret: exit %d, %q; want exit 1 and the webhook server's 401", code, out)
	}
	if _, code := plugin(t, append(base, "--app-secret-from", "absent")...); code != 1 {
		t.Errorf("with a Secret that does not exist: exit %d, want 1", code)
	}
}

// A dry run prints the request it would send; verify-signature accepts it as Meta's.
func TestSimulateDryRunVerifies(t *testing.T) {
	req := mustPlugin(t, "simulate", "topic-optin", "--topic", "weekly-deals", "--dry-run", "--app-secret-file", world.secretFile)
	for _, want := range []string{"POST /webhook HTTP/1.1", "X-Hub-Signature-256: sha256=", `"type":"notification_messages"`, `"title":"Weekly deals"`} {
		if !strings.Contains(req, want) {
			t.Errorf("dry run lacks %q:\n%s", want, req)
		}
	}
	var out strings.Builder
	code := run(context.Background(), []string{"verify-signature", "--app-secret-file", world.secretFile}, strings.NewReader(req), &out, &out)
	if code != 0 || !strings.HasPrefix(out.String(), "valid: ") {
		t.Errorf("verify-signature of the dry run: exit %d, %q", code, out.String())
	}
}

func TestSimulateUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate", "nonsense", "--url", "http://127.0.0.1:1/webhook"}, `unknown event "nonsense"`},
		{[]string{"simulate", "referral", "--page-id", samplePage}, "--url is required"},
		{[]string{"simulate", "stop", "--topic", "weekly-deals", "--url", "http://127.0.0.1:1/webhook"}, "stop needs --psid"},
		{[]string{"simulate", "referral", "--page-id", samplePage, "--url", "http://127.0.0.1:1/webhook", "--app-secret-file", world.secretFile}, "needs a ref"},
	} {
		var out, errOut strings.Builder
		code := run(context.Background(), append(tc.args, "--kubeconfig", world.kubeconfig, "-n", world.ns), nil, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
