package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// table reads a table as printed: the header's words (column names may hold one space) give the
// columns' starts, as tabwriter aligns them.
func table(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	var starts []int
	var names []string
	for i := 0; i < len(header); {
		if header[i] == ' ' {
			i++
			continue
		}
		end := strings.Index(header[i:], "   ") // columns are 3 spaces apart at least
		if end < 0 {
			end = len(header) - i
		}
		starts, names = append(starts, i), append(names, strings.TrimSpace(header[i:i+end]))
		i += end
	}
	var rows []map[string]string
	for _, l := range lines[1:] {
		row := map[string]string{}
		for j, s := range starts {
			e := len(l)
			if j+1 < len(starts) && starts[j+1] < e {
				e = starts[j+1]
			}
			if s < len(l) {
				row[names[j]] = strings.TrimSpace(l[s:e])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func rowOf(t *testing.T, rows []map[string]string, col, name string) map[string]string {
	t.Helper()
	for _, r := range rows {
		if r[col] == name {
			return r
		}
	}
	t.Fatalf("no row %s=%s in %v", col, name, rows)
	return nil
}

func n(v int64) string { return strconv.FormatInt(v, 10) }

// The tables show what the objects' status says, one table per kind.
func TestStatusTables(t *testing.T) {
	out := mustPlugin(t, "status")
	t.Logf("kubectl mmelink status:\n%s", out)
	parts := strings.Split(out, "\n\n")
	if len(parts) != 3 {
		t.Fatalf("want three tables (links, topics, pages), got %d:\n%s", len(parts), out)
	}
	l := getLink(t, "summer-poster")
	r := l.Status.Referrals
	if r == nil {
		t.Fatal("summer-poster has no referrals: the samples' world has not received any delivery")
	}
	link := rowOf(t, table(t, parts[0]), "MESSENGERLINK", "summer-poster")
	want := map[string]string{"READY": "True", "REASON": "Succeeded", "PAGE": "True", "REFERRALS": n(r.Total),
		"NEW": n(r.NewConversations), "RETURNING": n(r.ReturningConversations), "ADS": n(r.AdReferrals),
		"UNIQUE": n(r.UniquePeople), "DEDUPE": "all", "LATE": "0"}
	for col, v := range want {
		if link[col] != v {
			t.Errorf("link column %s = %q, want %q (row %v)", col, link[col], v, link)
		}
	}
	tp := getTopic(t, "weekly-deals")
	topic := rowOf(t, table(t, parts[1]), "NOTIFICATIONTOPIC", "weekly-deals")
	for col, v := range map[string]string{"READY": "True", "REGISTERED": "True", "REASON": "Confirmed", "PAGE": "True",
		"OPT-INS": n(tp.Status.OptIns.Total), "ACTIVE": n(tp.Status.OptIns.Active), "STOPPED": n(tp.Status.OptIns.Stopped)} {
		if topic[col] != v {
			t.Errorf("topic column %s = %q, want %q (row %v)", col, topic[col], v, topic)
		}
	}
	page := rowOf(t, table(t, parts[2]), "MESSENGERPAGE", "acme-shoes")
	for col, v := range map[string]string{"PAGE ID": samplePage, "READY": "True", "SUBSCRIBED": "True", "PROFILE": "True",
		"RECEIVING": "True", "REFUSING FOR": "-"} {
		if page[col] != v {
			t.Errorf("page column %s = %q, want %q (row %v)", col, page[col], v, page)
		}
	}

	all := mustPlugin(t, "status", "mlinks", "-A")
	if row := rowOf(t, table(t, all), "MESSENGERLINK", "website-chat"); row["NAMESPACE"] != world.ns {
		t.Errorf("-A: row %v, want the namespace %s", row, world.ns)
	}
	if out := mustPlugin(t, "status", "--namespace", "kube-system"); out != "No resources found in namespace kube-system.\n" {
		t.Errorf("empty namespace: %q", out)
	}
}

// The detailed view of one link holds its counts, dedupe coverage and Page health.
func TestStatusDetail(t *testing.T) {
	out := mustPlugin(t, "status", "link", "summer-poster")
	t.Logf("kubectl mmelink status link summer-poster:\n%s", out)
	r := getLink(t, "summer-poster").Status.Referrals
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"MessengerLink demo/summer-poster",
		"Ready: True (Succeeded)",
		"Claim: " + samplePage + "/summer_poster (held)",
		fmt.Sprintf("Total: %d (new conversations %d, returning %d, from ads %d)", r.Total, r.NewConversations, r.ReturningConversations, r.AdReferrals),
		fmt.Sprintf("Unique people: ~%d", r.UniquePeople),
		fmt.Sprintf("Field 738: store12 %d", r.Fields[0].Values["store12"]),
		fmt.Sprintf("Covers: every event: the window has dropped none of its %d fingerprints", r.Window.Events),
		"Late events: 0",
		"MessengerPage: demo/acme-shoes",
		"Receiving: True (DeliveriesAnswered)",
		"Fields: messaging_optins, messaging_postbacks, messaging_referrals",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("detail lacks %q:\n%s", want, out)
		}
	}
	topic := strings.Join(strings.Fields(mustPlugin(t, "status", "ntopic", "weekly-deals")), " ")
	for _, want := range []string{"Registered True Confirmed", "Token Secrets: weekly-deals-", "Sent: 20"} {
		if !strings.Contains(topic, want) {
			t.Errorf("topic detail lacks %q:\n%s", want, topic)
		}
	}
	page := strings.Join(strings.Fields(mustPlugin(t, "status", "page", "acme-shoes")), " ")
	for _, want := range []string{"MessengerPage demo/acme-shoes", "Subscribed: True", "Last delivery: 20"} {
		if !strings.Contains(page, want) {
			t.Errorf("page detail lacks %q:\n%s", want, page)
		}
	}
}

// -o json and -o yaml hold the summary of the status, without the webhook server's bookkeeping.
func TestStatusStructured(t *testing.T) {
	l := getLink(t, "summer-poster")
	out := mustPlugin(t, "status", "link", "summer-poster", "-o", "json")
	var s Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if s.Name != "summer-poster" || s.Referrals == nil || s.Referrals.Total != l.Status.Referrals.Total ||
		s.Dedupe == nil || s.Dedupe.Events != l.Status.Referrals.Window.Events || s.Page == nil ||
		s.Page.LastDeliveryTime == nil || s.Page.Receiving.Status != "True" || !s.Claim.Held {
		t.Errorf("-o json: %+v", s)
	}
	if strings.Contains(out, `"ledger"`) || strings.Contains(out, l.Status.Referrals.Ledger.Sketch) {
		t.Errorf("-o json holds the ledger:\n%s", out)
	}
	var list struct{ Items []Summary }
	if err := yaml.Unmarshal([]byte(mustPlugin(t, "status", "-o", "yaml")), &list); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, s := range list.Items {
		kinds[s.Kind]++
	}
	if kinds["MessengerLink"] != 2 || kinds["NotificationTopic"] < 1 || kinds["MessengerPage"] != 1 {
		t.Errorf("-o yaml items by kind: %v", kinds)
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "link", "absent"}, 1, `link "absent" not found in namespace "demo"`},
		{[]string{"status", "widgets"}, 2, `unknown kind "widgets"`},
		{[]string{"status", "-o", "wide"}, 2, `--output "wide": want json or yaml`},
		{[]string{"status", "--context", "nowhere"}, 1, `context "nowhere" does not exist`},
	} {
		var out, errOut strings.Builder
		code := run(t.Context(), append(tc.args, "--kubeconfig", world.kubeconfig, "-n", world.ns), nil, &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}
