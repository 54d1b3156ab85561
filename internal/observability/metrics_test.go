package observability

import (
	"context"
	"regexp"
	"sort"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/graph"
	pgledger "github.com/mmelink/operator/internal/ledger/pg"
	"github.com/mmelink/operator/internal/status"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// exposedMetrics returns the names of the series the binaries can expose (a histogram's _bucket, _sum and
// _count, a counter's or gauge's own name), collected from their collectors as the binaries create them:
// the controllers' (registered by the manager), the Graph API client's, the webhook server's (its own
// binary, and the manager's bundled receiver), the status writer's and the PostgreSQL ledger's.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{t: t, names: map[string]bool{}}
	rec.MustRegister(controllers.MetricCollectors()...)
	graph.NewMetrics(rec)
	store := status.NewStore(nil, nil, status.Options{Registerer: rec})
	if _, err := webhookserver.New(webhookserver.Options{AppSecret: []byte("s"), VerifyToken: []byte("v"),
		Reader: noReader{}, Writer: store, Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	pgledger.NewWriter(nil, nil, nil, pgledger.Options{Registerer: rec})
	// The projector registers its collector as it starts; with its context done it stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&pgledger.Projector{Registerer: rec}).Start(ctx); err != nil {
		t.Fatal(err)
	}
	return rec.names
}

// recorder is a prometheus.Registerer that keeps the series names of what is registered with it.
type recorder struct {
	t     *testing.T
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	suffixes := seriesSuffixes(c)
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			r.t.Fatalf("no name in %s", d)
		}
		for _, s := range suffixes {
			r.names[m[1]+s] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }

// seriesSuffixes tells by a collector's type which series its metrics have. A collector of another
// type is asked for its metrics; one that has none yet is taken at its name alone.
func seriesSuffixes(c prometheus.Collector) []string {
	histogram := []string{"_bucket", "_sum", "_count"}
	summary := []string{"", "_sum", "_count"}
	// A vector without children collects nothing; a single metric (Histogram and Summary share one
	// method set, so only its data tells them apart) collects itself.
	switch c.(type) {
	case *prometheus.HistogramVec:
		return histogram
	case *prometheus.SummaryVec:
		return summary
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var m dto.Metric
	found := false
	for mt := range ch {
		if !found && mt.Write(&m) == nil {
			found = true
		}
	}
	switch {
	case found && m.Histogram != nil:
		return histogram
	case found && m.Summary != nil:
		return summary
	}
	return []string{""}
}

// noReader stands in for the manager's cache: creating the server reads nothing.
type noReader struct{ client.Reader }

// metricNames are the metric names a PromQL expression selects: every name of mmelink's, and every other
// identifier written as a selector (name{...}), which would be another program's metric.
var (
	mmelinkName  = regexp.MustCompile(`\bmmelink_[a-zA-Z0-9_:]*`)
	selectorName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)
)

func metricNames(expr string) []string {
	set := map[string]bool{}
	for _, n := range mmelinkName.FindAllString(expr, -1) {
		set[n] = true
	}
	for _, m := range selectorName.FindAllStringSubmatch(expr, -1) {
		set[m[1]] = true
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// The collection itself must see each binary's metrics, or the checks below would pass on nothing.
func TestExposedMetricsSeeEachBinary(t *testing.T) {
	got := exposedMetrics(t)
	for _, n := range []string{
		"mmelink_qr_renders_total", "mmelink_page_webhook_failing_seconds", "mmelink_condition_objects", // controllers
		"mmelink_graph_requests_total", "mmelink_graph_request_duration_seconds_bucket", // Graph API client
		"mmelink_webhook_deliveries_total", "mmelink_webhook_delivery_duration_seconds_count", "mmelink_webhook_body_bytes_in_flight", // webhook server
		"mmelink_status_commits_total", "mmelink_status_commit_parts_bucket", // status writer
		"mmelink_ledger_flushes_total", "mmelink_ledger_link_events_total", // PostgreSQL ledger
	} {
		if !got[n] {
			t.Errorf("%s not among the exposed metrics", n)
		}
	}
	for _, n := range []string{"mmelink_webhook_delivery_duration_seconds", "mmelink_webhook_deliveries_total_bucket"} {
		if got[n] {
			t.Errorf("%s is no series of the binaries", n)
		}
	}
}
