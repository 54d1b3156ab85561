package webhookserver

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	pgledger "github.com/mmelink/operator/internal/ledger/pg"
	"github.com/mmelink/operator/internal/status"
)

// The ledger modes of --ledger.
const (
	LedgerStatus   = "status"
	LedgerPostgres = "postgres"
)

// MinLedgerRetention is Meta's retry horizon: a shorter retention would count redeliveries again.
const MinLedgerRetention = 36 * time.Hour

// LedgerFlags choose where events are kept: in the status of the object they count for (the embedded
// default), or in PostgreSQL, with status as a projection. Their names are the same in both binaries.
type LedgerFlags struct {
	Mode            string
	DSNFile         string
	KeyFile         string
	Retention       time.Duration
	ProjectInterval time.Duration
	MaxConns        int
}

// Bind registers the ledger flags on fs.
func (f *LedgerFlags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.Mode, "ledger", LedgerStatus,
		"Where events are kept: status (in each object's status; a few hundred busy links) or postgres (every event a row; status is a projection).")
	fs.StringVar(&f.DSNFile, "ledger-dsn-file", "", "With --ledger=postgres: file holding the PostgreSQL DSN (a mounted Secret; never logged).")
	fs.StringVar(&f.KeyFile, "ledger-key-file", "",
		"With --ledger=postgres: file holding a secret of 32 bytes or more (a mounted Secret) that keys the person hashes and encrypts opt-in tokens.")
	fs.DurationVar(&f.Retention, "ledger-retention", pgledger.DefaultRetention,
		"With --ledger=postgres: how long events are kept for the redelivery check (at least 36h, Meta's retry horizon); older events are answered 200 and not counted.")
	fs.DurationVar(&f.ProjectInterval, "ledger-project-interval", pgledger.DefaultProjectInterval,
		"With --ledger=postgres: how often status is written from the ledger; kubectl get is at most about this far behind.")
	fs.IntVar(&f.MaxConns, "ledger-max-conns", 16, "With --ledger=postgres: PostgreSQL connections per replica.")
}

// Drainer is the writer AddToManager returns: close it after the manager stops.
type Drainer interface {
	status.Writer
	Close(ctx context.Context) error
}

// newWriter builds the writer of c.Ledger's mode, writing objects with c; for postgres it also adds the
// maintenance (every replica; an advisory lock picks one) and the projector (one replica, elected by an
// advisory lock) to mgr.
func newWriter(ctx context.Context, mgr manager.Manager, c client.Client, lf LedgerFlags, log logr.Logger, reg prometheus.Registerer, so status.Options) (Drainer, error) {
	switch lf.Mode {
	case "", LedgerStatus:
		// The Store reads each object from the API server (the cache drops the ledger) and writes with the client.
		return status.NewStore(c, mgr.GetAPIReader(), so), nil
	case LedgerPostgres:
	default:
		return nil, fmt.Errorf("--ledger=%q: want %s or %s", lf.Mode, LedgerStatus, LedgerPostgres)
	}
	if lf.DSNFile == "" || lf.KeyFile == "" {
		return nil, fmt.Errorf("--ledger=postgres needs --ledger-dsn-file and --ledger-key-file")
	}
	if lf.Retention < MinLedgerRetention {
		return nil, fmt.Errorf("--ledger-retention=%s is shorter than Meta's retry horizon (%s): redeliveries would be counted again", lf.Retention, MinLedgerRetention)
	}
	keys, err := pgledger.LoadKeys(lf.KeyFile)
	if err != nil {
		return nil, err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgledger.OpenFile(openCtx, lf.DSNFile, int32(min(lf.MaxConns, 1<<30)))
	if err != nil {
		return nil, fmt.Errorf("opening the PostgreSQL ledger: %w", err)
	}
	// The partitions first, so that the first deliveries find them; then every minute (Maintainer).
	if _, err := pgledger.Maintain(openCtx, pool, lf.Retention); err != nil {
		pool.Close()
		return nil, err
	}
	log = log.WithName("ledger")
	w := pgledger.NewWriter(pool, mgr.GetCache(), keys, pgledger.Options{Registerer: reg, Log: log})
	for _, r := range []manager.Runnable{
		&pgledger.Maintainer{Pool: pool, Retention: lf.Retention, Log: log.WithName("maintenance")},
		&pgledger.Projector{Pool: pool, Client: c, Interval: lf.ProjectInterval, Registerer: reg, Log: log.WithName("projector")},
	} {
		if err := mgr.Add(r); err != nil {
			pool.Close()
			return nil, fmt.Errorf("adding the ledger's %T: %w", r, err)
		}
	}
	return &pooledWriter{Writer: w, close: pool.Close}, nil
}

// pooledWriter closes the pool after the writer's flushes.
type pooledWriter struct {
	*pgledger.Writer
	close func()
}

func (p *pooledWriter) Close(ctx context.Context) error {
	err := p.Writer.Close(ctx)
	p.close()
	return err
}
