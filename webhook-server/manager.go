package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/mmelink/operator/internal/pagehealth"
	"github.com/mmelink/operator/internal/status"
)

// Config is what the webhook server takes from its command line.
type Config struct {
	Addr                           string
	AppSecret, VerifyToken         []byte
	MaxBodyBytes                   int64
	MaxBodyBytesInFlight           int64
	MaxConnections                 int
	IdleTimeout                    time.Duration
	CommitTimeout, ShutdownTimeout time.Duration
	// Status tunes the status writer; its Registerer and Log are filled in when empty.
	Status status.Options
	// Ledger chooses where events are kept (ledger.go); the zero value is the embedded status ledger.
	Ledger LedgerFlags
	Log    logr.Logger
	// Registerer receives the server's and the writer's metrics; controller-runtime's registry (the
	// manager's /metrics) when nil.
	Registerer prometheus.Registerer
}

// AddToManager builds the status writer and the server on mgr's cache and client, and adds the server
// to mgr (on every replica: it needs no leader). The manager's cache must use index.CacheOptions and
// have the index.Setup indexes. After mgr.Start returns, close the returned writer so that commits still
// running (a part whose delivery was abandoned, a write in flight) get a bounded time to finish.
func AddToManager(ctx context.Context, mgr manager.Manager, c Config) (Drainer, error) {
	var synced atomic.Bool
	go func() {
		// Returns false, and leaves the server unready, only when ctx ends first.
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
	}()
	reg := c.Registerer
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	so := c.Status
	if so.Registerer == nil {
		so.Registerer = reg
	}
	if so.Log.GetSink() == nil {
		so.Log = c.Log.WithName("status")
	}
	store, err := newWriter(ctx, mgr, c, reg, so)
	if err != nil {
		return nil, err
	}
	health := pagehealth.NewTracker()
	srv, err := New(Options{
		Addr:                 c.Addr,
		AppSecret:            c.AppSecret,
		VerifyToken:          c.VerifyToken,
		Reader:               mgr.GetCache(),
		Writer:               store,
		Registerer:           reg,
		MaxBodyBytes:         c.MaxBodyBytes,
		MaxBodyBytesInFlight: c.MaxBodyBytesInFlight,
		MaxConnections:       c.MaxConnections,
		IdleTimeout:          c.IdleTimeout,
		CommitTimeout:        c.CommitTimeout,
		ShutdownTimeout:      c.ShutdownTimeout,
		Ready:                synced.Load,
		Health:               health,
		Logger:               c.Log,
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(srv); err != nil {
		return nil, fmt.Errorf("adding the webhook server to the manager: %w", err)
	}
	// Every replica reports what it answered to the MessengerPages, for the kill-switch watchdog.
	if err := mgr.Add(&pagehealth.Writer{Client: mgr.GetClient(), Tracker: health, Log: c.Log.WithName("pagehealth")}); err != nil {
		return nil, fmt.Errorf("adding the Page health writer to the manager: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.ReadyCheck); err != nil {
		return nil, fmt.Errorf("adding the webhook ready check: %w", err)
	}
	return store, nil
}

// StartAndDrain runs mgr until ctx ends. Then, with the server stopped and every delivery answered, it
// gives the commits the writer still runs (a write in flight for a delivery already answered) up to timeout to finish. store
// may be nil, for a manager whose webhook server is turned off.
func StartAndDrain(ctx context.Context, mgr manager.Manager, store Drainer, timeout time.Duration) error {
	err := mgr.Start(ctx)
	if store == nil {
		return err
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if cerr := store.Close(closeCtx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing the status writer: %w", cerr))
	}
	return err
}
