// Command webhook-server runs the Messenger webhook receiver alone, without the controllers: it answers
// Meta's handshake and deliveries and records referrals and opt-ins in status. It runs on every replica
// (no leader election).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/kubeconfig"
	"github.com/mmelink/operator/internal/memlimit"
	"github.com/mmelink/operator/internal/scheme"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

type options struct {
	metricsAddr, probeAddr string
	webhook                webhookserver.Flags
	kube                   kubeconfig.Flags
}

func main() {
	var o options
	o.webhook.Bind(flag.CommandLine, "", "Address of the webhook endpoint (/webhook, /healthz, /readyz).")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the manager's /healthz and /readyz endpoints.")
	o.kube.Bind(flag.CommandLine)
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
		ctrl.Log.Error(err, "webhook server stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	wo, so, err := o.webhook.Load(ctrl.Log.WithName("webhook-server"))
	if err != nil {
		return err
	}
	cfg, err := o.kube.Load()
	if err != nil {
		return err
	}
	cacheOpts, err := index.CacheOptions(cfg)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.New(),
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         false, // every replica receives deliveries
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}

	store, err := webhookserver.AddToManager(ctx, mgr, wo, so)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	ctrl.Log.Info("starting webhook server")
	return webhookserver.StartAndDrain(ctx, mgr, store, o.webhook.ShutdownTimeout)
}
