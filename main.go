// Command manager runs the mmelink controllers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/kubeconfig"
	"github.com/mmelink/operator/internal/memlimit"
	"github.com/mmelink/operator/internal/scheme"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

type options struct {
	metricsAddr, probeAddr  string
	leaderElect             bool
	leaderElectionID        string
	leaderElectionNamespace string
	appID                   string
	linkWorkers             int
	graphURL, graphVersion  string
	graphPageRate           float64
	pageRecheck             time.Duration
	pageFailingAfter        time.Duration
	// webhook configures the bundled webhook server; --webhook-bind-address=0 turns it off (then run the
	// webhook-server binary as its own Deployment).
	webhook webhookserver.Flags
	kube    kubeconfig.Flags
}

func main() {
	var o options
	o.bind(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	memlimit.Apply(ctrl.Log)
	if err := index.ListInPages(); err != nil {
		ctrl.Log.Error(err, "configuring client-go")
		os.Exit(1)
	}

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// bind registers the flags on fs. Leader election is off by default, as in kubebuilder's scaffold, so
// that `manager --kubeconfig=...` runs on a laptop; the Deployment turns it on (config/manager).
func (o *options) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so that only one replica runs the controllers (the Deployment sets it).")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "mmelink-operator.messenger.mmelink.io", "Name of the leader-election Lease.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader-election Lease; default: the pod's own namespace (required with --leader-elect outside a pod).")
	fs.StringVar(&o.appID, "messenger-app-id", os.Getenv("MMELINK_APP_ID"), "Meta app ID written into Send-to-Messenger snippets, and the app MessengerPages keep subscribed unless spec.appID names another (public; env MMELINK_APP_ID).")
	fs.DurationVar(&o.pageRecheck, "messengerpage-recheck-interval", controllers.DefaultPageRecheckInterval, "How often a MessengerPage's Page is read again from Meta without a change (each read counts against Meta's 10 profile calls per 10 minutes).")
	fs.DurationVar(&o.pageFailingAfter, "messengerpage-failing-after", controllers.DefaultWebhookFailingAfter, "How long the webhook server refuses a Page's deliveries before the MessengerPage turns Receiving=False (Meta alerts after 15 minutes and unsubscribes the app after an hour).")
	fs.IntVar(&o.linkWorkers, "messengerlink-workers", controllers.DefaultWorkers, "MessengerLinks reconciled at once.")
	fs.StringVar(&o.graphURL, "graph-api-url", graph.DefaultBaseURL, "Root URL of Meta's Graph API (an emulator's in tests and demos).")
	fs.StringVar(&o.graphVersion, "graph-api-version", graph.DefaultAPIVersion, "Graph API version called unless a NotificationTopic sets spec.graphAPIVersion.")
	fs.Float64Var(&o.graphPageRate, "graph-page-rate", controllers.DefaultGraphPageRate, "Send API calls per second per Page, across all its NotificationTopics.")
	o.webhook.Bind(fs, "webhook-", "Address of the bundled Messenger webhook server; 0 turns it off.")
	o.kube.Bind(fs)
}

func run(ctx context.Context, o options) error {
	cfg, err := o.kube.Load()
	if err != nil {
		return err
	}
	cacheOpts, err := index.CacheOptions(cfg)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	gc, err := graph.New(graph.WithBaseURL(o.graphURL), graph.WithAPIVersion(o.graphVersion),
		graph.WithMetrics(graph.NewMetrics(metrics.Registry)))
	if err != nil {
		return fmt.Errorf("graph API client: %w", err)
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{AppID: o.appID, LinkWorkers: o.linkWorkers,
		Graph: gc, GraphPageRate: o.graphPageRate, PageRecheckInterval: o.pageRecheck,
		PageFailingAfter: o.pageFailingAfter}); err != nil {
		return err
	}
	var store webhookserver.Drainer
	if o.webhook.Addr != "0" {
		wo, so, err := o.webhook.Load(ctrl.Log.WithName("webhook-server"))
		if err != nil {
			return fmt.Errorf("webhook server (turn it off with --webhook-bind-address=0): %w", err)
		}
		s, err := webhookserver.AddToManager(ctx, mgr, wo, so)
		if err != nil {
			return err
		}
		store = s
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	ctrl.Log.Info("starting manager")
	return webhookserver.StartAndDrain(ctx, mgr, store, o.webhook.ShutdownTimeout)
}
