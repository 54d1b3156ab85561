package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

const statusLong = `Show MessengerLinks, NotificationTopics and MessengerPages in one view: their conditions, the
referrals and opt-ins the webhook server counted, the last delivery, how far back redeliveries are
recognised (the dedupe window), and the health of their Page.

Without a NAME, a table per kind; with one, a detailed view. KIND is link (mlink), topic (ntopic) or
page (mpage); without it, all three.

Columns: READY and REASON are the Ready condition (a * after READY: the conditions describe an
older generation than the spec's; the controller has not caught up yet). PAGE is the Page's Ready
(from its MessengerPage; "-" when the Page has none). DEDUPE is how far back redeliveries are
recognised: "all" while the window has dropped nothing, else the age of its oldest checked event;
LATE counts events that arrived older than that (acknowledged, not counted). RECEIVING is False once
the webhook server has refused a Page's deliveries for 15 minutes (Meta unsubscribes the app after an
hour); REFUSING FOR is how long it has been refusing them. A page's LAST DELIVERY is reported by the
webhook server at most every 30 seconds.`

const statusExample = `  kubectl mmelink status                       # every link, topic and page of the namespace
  kubectl mmelink status link -A               # every MessengerLink of the cluster
  kubectl mmelink status link summer-poster    # one link in detail
  kubectl mmelink status topic weekly-deals -o json`

type statusOptions struct {
	allNamespaces bool
	output        string
}

func newStatusCmd(k *kube) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:     "status [link|topic|page] [NAME]",
		Short:   "Conditions, counts, last delivery, dedupe coverage and Page health in one view",
		Long:    statusLong,
		Example: statusExample,
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd, k, o, args)
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "List the objects of every namespace.")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: json or yaml (default: a table, or the detailed view of one object).")
	return cmd
}

// Kinds as `status`, `qr` and `resolve` accept them.
const (
	kindLink  = "link"
	kindTopic = "topic"
	kindPage  = "page"
)

// parseKind reads a kind as kubectl would accept it: singular, plural, short name or kind name.
func parseKind(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "link", "links", "mlink", "mlinks", "messengerlink", "messengerlinks":
		return kindLink, true
	case "topic", "topics", "ntopic", "ntopics", "notificationtopic", "notificationtopics":
		return kindTopic, true
	case "page", "pages", "mpage", "mpages", "messengerpage", "messengerpages":
		return kindPage, true
	}
	return "", false
}

func runStatus(cmd *cobra.Command, k *kube, o statusOptions, args []string) error {
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return usagef("--output %q: want json or yaml", o.output)
	}
	kinds := []string{kindLink, kindTopic, kindPage}
	name := ""
	if len(args) > 0 {
		kind, ok := parseKind(args[0])
		if !ok {
			return usagef("unknown kind %q: want link, topic or page (or their short names mlink, ntopic, mpage)", args[0])
		}
		kinds = []string{kind}
		if len(args) == 2 {
			name = args[1]
		}
	}
	if name != "" && o.allNamespaces {
		return usagef("a NAME cannot be given with --all-namespaces")
	}
	c, err := k.Client()
	if err != nil {
		return err
	}
	ns := ""
	if !o.allNamespaces {
		if ns, err = k.Namespace(); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	var sums []Summary
	for _, kind := range kinds {
		got, err := fetch(ctx, c, kind, ns, name)
		if err != nil {
			return err
		}
		sums = append(sums, got...)
	}
	addPages(ctx, c, ns, sums)
	out := cmd.OutOrStdout()
	switch {
	case o.output != "":
		return printStructured(out, o.output, sums, name != "")
	case name != "":
		return printDetail(out, sums[0])
	default:
		return printTables(out, sums, kinds, ns, o.allNamespaces)
	}
}

// fetch returns the summaries of one kind: of the object named, or of all in ns ("" for every namespace).
func fetch(ctx context.Context, c *apiClient, kind, ns, name string) ([]Summary, error) {
	var list runtime.Object
	switch kind {
	case kindLink:
		list = &messengerv1.MessengerLinkList{}
	case kindTopic:
		list = &messengerv1.NotificationTopicList{}
	default:
		list = &messengerv1.MessengerPageList{}
	}
	if err := c.List(ctx, list, ns, name); err != nil {
		return nil, fmt.Errorf("listing %ss: %w", kind, err)
	}
	var out []Summary
	switch l := list.(type) {
	case *messengerv1.MessengerLinkList:
		for i := range l.Items {
			out = append(out, linkSummary(&l.Items[i]))
		}
	case *messengerv1.NotificationTopicList:
		for i := range l.Items {
			out = append(out, topicSummary(&l.Items[i]))
		}
	case *messengerv1.MessengerPageList:
		for i := range l.Items {
			out = append(out, pageSummary(&l.Items[i]))
		}
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("%s %q not found in namespace %q", kind, name, ns)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// addPages fills in the Page health of links and topics from the MessengerPage that holds their Page.
// MessengerPages may live in another namespace than the links they allow; when they cannot be listed
// cluster-wide (RBAC), those of ns are used, and failing that only the PageReady condition is shown.
func addPages(ctx context.Context, c *apiClient, ns string, sums []Summary) {
	var pages messengerv1.MessengerPageList
	if err := c.List(ctx, &pages, "", ""); err != nil {
		if ns == "" || c.List(ctx, &pages, ns, "") != nil {
			return
		}
	}
	byID := map[string]*messengerv1.MessengerPage{}
	for i := range pages.Items {
		if p := &pages.Items[i]; p.HoldsClaim() {
			byID[p.Status.PageID] = p
		}
	}
	for i := range sums {
		s := &sums[i]
		if s.Kind == "MessengerPage" || s.Page == nil {
			continue // a Page without a PageReady condition has no MessengerPage the controller found
		}
		if p, ok := byID[s.PageID]; ok {
			s.Page = pageHealth(p)
		}
	}
}
