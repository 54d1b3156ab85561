package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/mmelink/operator/internal/pagehealth"
	"github.com/mmelink/operator/internal/status"
)

// WriterOptions choose and tune where AddToManager's server stores the events it attributes.
type WriterOptions struct {
	// Status tunes the status writer; its Registerer and Log are filled in when empty.
	Status status.Options
	// Ledger chooses where events are kept (ledger.go); the zero value is the embedded status ledger.
	Ledger LedgerFlags
	// PageHealthInterval is the least time between two writes of a Page's webhook health; 0 means
	// pagehealth.DefaultMinInterval.
	PageHealthInterval time.Duration
}

// AddToManager builds the status writer and the server on mgr's cache and client, and adds the server
// to mgr (on every replica: it needs no leader). The manager's cache must use index.CacheOptions and
// have the index.Setup indexes. After mgr.Start returns, close the returned writer so that commits still
// running (a part whose delivery was abandoned, a write in flight) get a bounded time to finish.
//
// o's Reader, Writer, Ready and Health are filled in here; its Registerer, when nil, is controller-runtime's
// registry (the manager's /metrics), which also receives the writer's metrics unless w.Status says
// otherwise.
func AddToManager(ctx context.Context, mgr manager.Manager, o Options, w WriterOptions) (Drainer, error) {
	var synced atomic.Bool
	go func() {
		// Returns false, and leaves the server unready, only when ctx ends first.
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
	}()
	if o.Registerer == nil {
		o.Registerer = ctrlmetrics.Registry
	}
	so := w.Status
	if so.Registerer == nil {
		so.Registerer = o.Registerer
	}
	if so.Log.GetSink() == nil {
		so.Log = o.Logger.WithName("status")
	}
	// Every write is under FieldManager, so that managedFields tell the counts from the controllers' fields.
	c := client.WithFieldOwner(mgr.GetClient(), FieldManager)
	store, err := newWriter(ctx, mgr, c, w.Ledger, o.Logger, o.Registerer, so)
	if err != nil {
		return nil, err
	}
	health := pagehealth.NewTracker()
	o.Reader, o.Writer, o.Ready, o.Health = mgr.GetCache(), store, synced.Load, health
	srv, err := New(o)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(srv); err != nil {
		return nil, fmt.Errorf("adding the webhook server to the manager: %w", err)
	}
	// Every replica reports what it answered to the MessengerPages, for the kill-switch watchdog.
	if err := mgr.Add(&pagehealth.Writer{Client: c, Tracker: health,
		MinInterval: w.PageHealthInterval, Log: o.Logger.WithName("pagehealth")}); err != nil {
		return nil, fmt.Errorf("adding the Page health writer to the manager: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.ReadyCheck); err != nil {
		return nil, fmt.Errorf("adding the webhook ready check: %w", err)
	}
	return store, nil
}

// FieldManager is the name the webhook server writes under: the counts in status (a link's referrals, a
// topic's optIns), a MessengerPage's status.webhook, and the opt-in token Secrets. The controllers write
// the rest of each status, under controllers.FieldManager.
const FieldManager = "mmelink-webhook-server"

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
