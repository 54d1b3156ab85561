package pgledger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultProjectInterval is how often the projector writes status: a kubectl get is at most about this
// far behind the ledger.
const DefaultProjectInterval = 5 * time.Second

// projectLockKey elects the projector: the replica whose session holds it.
const projectLockKey int64 = 0x6d6d656c696e6b + 2

// Projector makes status a projection of the ledger: every Interval it folds the committed deltas into
// the counts and writes status.referrals / status.optIns of the objects that changed, each at most once
// per pass and only when different from what the object shows. The API server thus sees at most one
// status write per changed object per interval, whatever the event rate.
//
// It runs in the webhook server, on one replica: the one whose PostgreSQL session holds an advisory lock.
// The webhook server holds the DSN and the status-patch permission already (the manager needs neither),
// and electing through the database the projector depends on needs no Lease, and no RBAC for one: a
// replica that loses its database session loses the lock with it, and another takes over.
type Projector struct {
	Pool *pgxpool.Pool
	// Client writes status; its reads should come from the manager's cache.
	Client   client.Client
	Interval time.Duration
	Log      logr.Logger
	// Registerer receives mmelink_ledger_link_events_total; nil registers nothing.
	Registerer prometheus.Registerer

	once    sync.Once
	metrics *referralCollector
	// written remembers what was written last per object, so that a cache that has not caught up yet
	// does not cause the same write again.
	written map[string]any
	// Now is the clock for daily counts; time.Now when nil.
	Now func() time.Time
}

func (p *Projector) init() {
	p.once.Do(func() {
		if p.Interval == 0 {
			p.Interval = DefaultProjectInterval
		}
		if p.Now == nil {
			p.Now = time.Now
		}
		p.metrics = newReferralCollector()
		if p.Registerer != nil {
			p.Registerer.MustRegister(p.metrics)
		}
	})
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: the advisory lock elects, not the
// manager, whose replicas all serve deliveries.
func (p *Projector) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it campaigns for the lock, projects while holding it, and campaigns
// again when it loses its session.
func (p *Projector) Start(ctx context.Context) error {
	p.init()
	for ctx.Err() == nil {
		if err := p.lead(ctx); err != nil && ctx.Err() == nil {
			p.Log.Info("projector stepped down", "reason", err.Error())
		}
		p.metrics.reset()
		select {
		case <-ctx.Done():
		case <-time.After(p.Interval):
		}
	}
	return nil
}

// lead holds the lock on a dedicated connection and projects until ctx ends or the session fails.
func (p *Projector) lead(ctx context.Context) error {
	conn, err := p.Pool.Acquire(ctx)
	if err != nil {
		return clean(err)
	}
	defer func() {
		// Unlock, or drop the session: a connection back in the pool must not keep the lock.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", projectLockKey); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}()
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", projectLockKey).Scan(&got); err != nil {
			return clean(err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.Interval):
		}
	}
	p.Log.Info("projector elected")
	dirty, err := p.allObjects(ctx)
	if err != nil {
		return err
	}
	p.written = map[string]any{}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		// Leading needs the session: if it is gone, so is the lock, and another replica may lead.
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			return fmt.Errorf("lost the projector's session: %w", clean(err))
		}
		if err := p.pass(ctx, dirty); err != nil && ctx.Err() == nil {
			p.Log.Info("projection pass failed; retrying", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pass compacts, then projects the objects that changed (and those a failed pass left dirty).
func (p *Projector) pass(ctx context.Context, dirty map[string]bool) error {
	changed, err := compact(ctx, p.Pool)
	if err != nil {
		return err
	}
	for u := range changed {
		dirty[u] = true
	}
	if len(dirty) == 0 {
		return nil
	}
	return p.project(ctx, dirty)
}

func (p *Projector) allObjects(ctx context.Context) (map[string]bool, error) {
	rows, err := p.Pool.Query(ctx, "SELECT uid::text FROM mmelink_objects")
	if err != nil {
		return nil, fmt.Errorf("listing the ledger's objects: %w", clean(err))
	}
	uids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the ledger's objects: %w", clean(err))
	}
	dirty := make(map[string]bool, len(uids))
	for _, u := range uids {
		dirty[u] = true
	}
	return dirty, nil
}
