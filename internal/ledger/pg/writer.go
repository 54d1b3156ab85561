package pgledger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/status"
)

// Options tune the Writer. Zero values take the defaults.
type Options struct {
	// MaxInFlight bounds the flush transactions running at once. Deliveries that arrive while all are
	// busy wait and go into the next one together: the busier, the larger the group. Default 4.
	MaxInFlight int
	// MaxBatch bounds the events of one flush. Default 4,000.
	MaxBatch int
	// Gather is the least time between the starts of two flushes, unless GatherEvents are waiting: a
	// delivery that arrives within Gather of the last flush waits for the rest of it, and everything
	// that arrives meanwhile shares its transaction. A delivery that finds no flush started within
	// Gather is flushed at once, so a quiet receiver adds no wait. Default 2ms; negative turns it off.
	//
	// Why: a flush costs PostgreSQL about 0.25 ms of CPU whatever its size, and 11 to 17 µs per event
	// (BenchmarkFlush, docs/performance.md). Without a gap, flushes at 8,000 single-event deliveries a
	// second held 4 events each, and PostgreSQL took 0.53 of the machine's 2 cores; with 2 ms they hold
	// about 20 and it takes 0.28 (BenchmarkOpenLoopPostgres, links=1/events=1, CPU sampled from /proc).
	Gather time.Duration
	// GatherEvents starts a flush before Gather has passed once that many events are waiting.
	// Default 256.
	GatherEvents int
	// AttemptTimeout bounds one flush transaction. Default 2s.
	AttemptTimeout time.Duration
	// DefaultDeadline applies to Write calls whose context has none. Default 3s.
	DefaultDeadline time.Duration
	// MaxFuture is how far ahead of this replica's clock an event time may be and still be counted; the
	// partitions are created further ahead (partitionsAhead). Default 1h.
	MaxFuture time.Duration
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        logr.Logger
}

func (o *Options) defaults() {
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 4
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 4000
	}
	if o.Gather == 0 {
		o.Gather = 2 * time.Millisecond
	}
	if o.GatherEvents == 0 {
		o.GatherEvents = 256
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 2 * time.Second
	}
	if o.DefaultDeadline == 0 {
		o.DefaultDeadline = 3 * time.Second
	}
	if o.MaxFuture == 0 {
		o.MaxFuture = time.Hour
	}
}

// Writer is the status.Writer of --ledger=postgres: every event a row, group-committed. Write returns nil
// once the transaction holding the delivery's events has committed; an error wrapping
// status.ErrUnavailable when it did not, or when the answer did not come in time. Nothing is taken back:
// a transaction whose outcome is unknown either committed (then a redelivery finds its rows and is not
// counted again) or did not (then the redelivery counts).
type Writer struct {
	pool   *pgxpool.Pool
	reader client.Reader
	keys   *Keys
	o      Options
	m      *metrics

	// known holds the UIDs already in mmelink_objects: a flush inserts only the others.
	known sync.Map

	mu       sync.Mutex
	queue    []*request
	queued   int // events in queue
	inFlight int
	closed   bool
	wg       sync.WaitGroup
	// lastStart is when the last flush started; gatherTimer, when set, kicks the queue once Gather
	// has passed since then.
	lastStart   time.Time
	gatherTimer *time.Timer
}

var _ status.Writer = (*Writer)(nil)

// NewWriter returns a Writer on pool. reader (the manager's cache) resolves each target to its UID, so
// that a deleted and recreated object starts from zero.
func NewWriter(pool *pgxpool.Pool, reader client.Reader, keys *Keys, o Options) *Writer {
	o.defaults()
	return &Writer{pool: pool, reader: reader, keys: keys, o: o, m: newMetrics(o.Registerer)}
}

// request is one Write's rows, answered once on done.
type request struct {
	rows     []row
	deadline time.Time
	done     chan error // buffered: the flush never blocks on a caller that left
}

// Write implements status.Writer.
func (w *Writer) Write(ctx context.Context, items []status.Item) error {
	if len(items) == 0 {
		return nil
	}
	rows, err := w.rows(ctx, items)
	if err != nil {
		return fmt.Errorf("%w: %w", status.ErrUnavailable, err)
	}
	if len(rows) == 0 {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		var cancel context.CancelFunc
		deadline = time.Now().Add(w.o.DefaultDeadline)
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	req := &request{rows: rows, deadline: deadline, done: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("%w: shutting down", status.ErrUnavailable)
	}
	w.queue = append(w.queue, req)
	w.queued += len(req.rows)
	w.kickLocked()
	w.mu.Unlock()

	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The flush may still commit: then these events are counted, once, and their redelivery is not.
		return fmt.Errorf("%w: no commit before the deadline: %w", status.ErrUnavailable, ctx.Err())
	}
}

// rows resolves the items' targets (those the resolver did not give a UID) and builds their rows. Items
// of objects that no longer exist are dropped, as the embedded mode does: there is nothing left to count for.
func (w *Writer) rows(ctx context.Context, items []status.Item) ([]row, error) {
	objs := map[status.Target]*object{}
	rows := make([]row, 0, len(items))
	for i := range items {
		it := &items[i]
		obj, seen := objs[it.Target]
		if !seen {
			uid := string(it.UID)
			if uid == "" {
				var err error
				if uid, err = w.uid(ctx, it.Target); err != nil {
					return nil, err
				}
			}
			if uid != "" {
				obj = &object{uid: uid, Target: it.Target}
			}
			objs[it.Target] = obj
		}
		if obj == nil {
			w.m.events.WithLabelValues(outcomeGone).Inc()
			continue
		}
		rows = append(rows, newRow(w.keys, *obj, it))
	}
	return rows, nil
}

func (w *Writer) uid(ctx context.Context, t status.Target) (string, error) {
	var o client.Object = &messengerv1.MessengerLink{}
	if t.Kind == status.KindTopic {
		o = &messengerv1.NotificationTopic{}
	}
	if err := w.reader.Get(ctx, t.NamespacedName, o); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("reading %s %s: %w", t.Kind, t.NamespacedName, err)
	}
	return string(o.GetUID()), nil
}

// kickLocked starts a flush of everything queued when a slot is free and the gather gap has passed (or
// enough events wait); otherwise it arms the timer that kicks again when the gap ends. The caller holds w.mu.
func (w *Writer) kickLocked() {
	for w.inFlight < w.o.MaxInFlight && len(w.queue) > 0 && !w.closed {
		now := time.Now()
		if wait := w.lastStart.Add(w.o.Gather).Sub(now); wait > 0 && w.queued < w.o.GatherEvents {
			if w.gatherTimer == nil {
				w.gatherTimer = time.AfterFunc(wait, w.gathered)
			}
			return
		}
		var batch []*request
		n, i := 0, 0
		for ; i < len(w.queue); i++ {
			r := w.queue[i]
			if !r.deadline.After(now) {
				r.done <- fmt.Errorf("%w: waited too long for a commit", status.ErrUnavailable)
				w.queued -= len(r.rows)
				continue
			}
			if n > 0 && n+len(r.rows) > w.o.MaxBatch {
				break
			}
			batch = append(batch, r)
			n += len(r.rows)
		}
		w.queue = append(w.queue[:0], w.queue[i:]...)
		w.queued -= n
		if len(batch) == 0 {
			continue
		}
		w.lastStart = now
		w.inFlight++
		w.wg.Add(1)
		go w.run(batch)
	}
}

// gathered is the gather timer's kick.
func (w *Writer) gathered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gatherTimer = nil
	w.kickLocked()
}

func (w *Writer) run(batch []*request) {
	defer w.wg.Done()
	err := w.flush(batch)
	for _, r := range batch {
		r.done <- err
	}
	w.mu.Lock()
	w.inFlight--
	w.kickLocked()
	w.mu.Unlock()
}

// Close stops accepting writes and waits, at most until ctx ends, for the flushes in flight.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	for _, r := range w.queue {
		r.done <- fmt.Errorf("%w: shutting down", status.ErrUnavailable)
	}
	w.queue, w.queued = nil, 0
	if w.gatherTimer != nil {
		w.gatherTimer.Stop()
		w.gatherTimer = nil
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for ledger flushes in flight: %w", ctx.Err())
	}
}
