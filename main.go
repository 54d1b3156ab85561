// Command manager runs the mmelink controllers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/kubeconfig"
	"github.com/mmelink/operator/internal/scheme"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

type options struct {
	metricsAddr, probeAddr string
	leaderElect            bool
	leaderElectionID       string
	appID                  string
	linkWorkers            int
	graphURL, graphVersion string
	graphPageRate          float64
	// webhook configures the bundled webhook server; --webhook-bind-address=0 turns it off (then run the
	// webhook-server binary as its own Deployment).
	webhook webhookserver.Flags
	kube    kubeconfig.Flags
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader so that only one replica runs the controllers.")
	flag.StringVar(&o.leaderElectionID, "leader-election-id", "mmelink-operator.messenger.mmelink.io", "Name of the leader-election Lease.")
	flag.StringVar(&o.appID, "messenger-app-id", os.Getenv("MMELINK_APP_ID"), "Meta app ID written into Send-to-Messenger snippets (public; env MMELINK_APP_ID).")
	flag.IntVar(&o.linkWorkers, "messengerlink-workers", 4, "MessengerLinks reconciled at once.")
	flag.StringVar(&o.graphURL, "graph-api-url", graph.DefaultBaseURL, "Root URL of Meta's Graph API (an emulator's in tests and demos).")
	flag.StringVar(&o.graphVersion, "graph-api-version", graph.DefaultAPIVersion, "Graph API version called unless a NotificationTopic sets spec.graphAPIVersion.")
	flag.Float64Var(&o.graphPageRate, "graph-page-rate", controllers.DefaultGraphPageRate, "Send API calls per second per Page, across all its NotificationTopics.")
	o.webhook.Bind(flag.CommandLine, "webhook-", "Address of the bundled Messenger webhook server; 0 turns it off.")
	o.kube.Bind(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	cfg, err := o.kube.Load()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Cache:                         index.CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	gc, err := graph.New(graph.WithBaseURL(o.graphURL), graph.WithAPIVersion(o.graphVersion),
		graph.WithMetrics(graph.NewMetrics(metrics.Registry)),
		// The controller retries from status, through its per-Page rate limiter; retries inside a call
		// would go around the limiter.
		graph.WithMaxRetries(0))
	if err != nil {
		return fmt.Errorf("graph API client: %w", err)
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{AppID: o.appID, LinkWorkers: o.linkWorkers,
		Graph: gc, GraphPageRate: o.graphPageRate}); err != nil {
		return err
	}
	var store webhookserver.Drainer
	if o.webhook.Addr != "0" {
		wc, err := o.webhook.Config(ctrl.Log.WithName("webhook-server"))
		if err != nil {
			return fmt.Errorf("webhook server (turn it off with --webhook-bind-address=0): %w", err)
		}
		s, err := webhookserver.AddToManager(ctx, mgr, wc)
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
