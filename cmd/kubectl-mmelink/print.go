package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// now is the clock ages are shown against; tests fix it.
var now = time.Now

// printStructured writes the summaries as JSON or YAML: the object itself for one, a list otherwise.
func printStructured(out io.Writer, format string, sums []Summary, one bool) error {
	var v any = map[string]any{"items": sums}
	if one {
		v = sums[0]
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the status: %w", err)
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return fmt.Errorf("encoding the status: %w", err)
		}
		_, err = out.Write(b)
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// printTables writes one table per kind asked for, as kubectl get does for several kinds.
func printTables(out io.Writer, sums []Summary, kinds []string, ns string, all bool) error {
	printed := 0
	for _, kind := range kinds {
		var rows []Summary
		for _, s := range sums {
			if kindOf(s) == kind {
				rows = append(rows, s)
			}
		}
		if len(rows) == 0 {
			continue
		}
		if printed > 0 {
			if _, err := fmt.Fprintln(out); err != nil {
				return err
			}
		}
		printed++
		tw := tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)
		header, cells := columns(kind)
		if all {
			header = append([]string{"NAMESPACE"}, header...)
		}
		_, _ = fmt.Fprintln(tw, strings.Join(header, "\t")) // buffered: Flush reports
		for _, s := range rows {
			row := cells(s)
			if all {
				row = append([]string{s.Namespace}, row...)
			}
			_, _ = fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if printed == 0 {
		where := "in namespace " + ns
		if all {
			where = "in any namespace"
		}
		_, err := fmt.Fprintf(out, "No resources found %s.\n", where)
		return err
	}
	return nil
}

func kindOf(s Summary) string {
	switch s.Kind {
	case "MessengerLink":
		return kindLink
	case "NotificationTopic":
		return kindTopic
	}
	return kindPage
}

// columns returns the header and the row of a kind's table.
func columns(kind string) ([]string, func(Summary) []string) {
	switch kind {
	case kindLink:
		return []string{"MESSENGERLINK", "READY", "REASON", "PAGE", "REFERRALS", "NEW", "RETURNING", "ADS", "PLUGIN",
				"UNIQUE", "LAST REFERRAL", "DEDUPE", "LATE", "AGE"}, func(s Summary) []string {
				r := s.Referrals
				if r == nil {
					return []string{s.Name, ready(s), s.Ready.Reason, pageReady(s), "0", "0", "0", "0", "0", "0", "-", dedupe(s), late(s), age(&s.Created)}
				}
				return []string{s.Name, ready(s), s.Ready.Reason, pageReady(s), num(r.Total), num(r.NewConversations),
					num(r.ReturningConversations), num(r.AdReferrals), num(r.PluginOptIns), num(r.UniquePeople),
					age(r.LastTime), dedupe(s), late(s), age(&s.Created)}
			}
	case kindTopic:
		return []string{"NOTIFICATIONTOPIC", "READY", "REGISTERED", "REASON", "PAGE", "OPT-INS", "ACTIVE", "STOPPED",
				"LAST OPT-IN", "DEDUPE", "LATE", "AGE"}, func(s Summary) []string {
				reg := string(brief(s.Conditions, messengerv1.ConditionRegistered).Status)
				o := s.OptIns
				if o == nil {
					return []string{s.Name, ready(s), reg, s.Ready.Reason, pageReady(s), "0", "0", "0", "-", dedupe(s), late(s), age(&s.Created)}
				}
				return []string{s.Name, ready(s), reg, s.Ready.Reason, pageReady(s), num(o.Total), num(o.Active), num(o.Stopped),
					age(o.LastTime), dedupe(s), late(s), age(&s.Created)}
			}
	}
	return []string{"MESSENGERPAGE", "PAGE ID", "READY", "REASON", "SUBSCRIBED", "PROFILE", "RECEIVING", "LAST DELIVERY",
			"REFUSING FOR", "AGE"}, func(s Summary) []string {
			h := s.Page
			return []string{s.Name, s.PageID, ready(s), s.Ready.Reason, string(h.Subscribed.Status), string(h.ProfileReady.Status),
				string(h.Receiving.Status), age(h.LastDeliveryTime), age(h.RefusingSince), age(&s.Created)}
		}
}

func ready(s Summary) string {
	if s.Stale {
		return string(s.Ready.Status) + "*" // the conditions describe an older generation
	}
	return string(s.Ready.Status)
}

func pageReady(s Summary) string {
	if s.Page == nil {
		return "-"
	}
	return string(s.Page.Ready.Status)
}

func dedupe(s Summary) string {
	switch {
	case s.Dedupe == nil:
		return "-"
	case s.Dedupe.CoveredSince == nil:
		return "all"
	}
	return age(s.Dedupe.CoveredSince)
}

func late(s Summary) string {
	if s.Dedupe == nil {
		return "0"
	}
	return num(s.Dedupe.LateEvents)
}

func num(n int64) string { return strconv.FormatInt(n, 10) }

// age is kubectl's rendering of how long ago t was; "-" when unset.
func age(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now().Sub(t.Time))
}

// when is a time and its age, for the detailed view.
func when(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(t))
}

// counts renders a map of counts sorted by key: "ADS 1, SHORTLINK 5".
func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
