package status

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultMaxConcurrentCommits is Options.MaxConcurrentCommits' default.
const DefaultMaxConcurrentCommits = 16

// Options tune the Store. Zero values take the defaults.
type Options struct {
	// FlushInterval is the least time between two commits of a quiet object; events arriving meanwhile
	// are committed together. Default 50ms.
	FlushInterval time.Duration
	// MaxFlushInterval is how far an object's interval grows while events keep arriving for it: a hot
	// object is written about once per MaxFlushInterval whatever its event rate. Default 1s.
	MaxFlushInterval time.Duration
	// WritesPerSecond is this Store's budget of status writes, over all objects, in full writes (a link
	// status at its largest, 27 KB; a smaller write counts by its size, see budget); 0 means
	// DefaultWritesPerSecond, a negative value no budget. It bounds what etcd keeps whatever the load.
	WritesPerSecond float64
	// AttemptTimeout bounds one read-modify-write against the API server. A part whose delivery has less
	// time left than this is not attempted: it fails at once rather than risk an answer after its deadline.
	// Default 1s.
	AttemptTimeout time.Duration
	// DefaultDeadline applies to Write calls whose context has no deadline. Default 3s.
	DefaultDeadline time.Duration
	// MaxConcurrentCommits bounds commits in flight across all objects. Default
	// DefaultMaxConcurrentCommits.
	MaxConcurrentCommits int
	// WindowEvents is how many event fingerprints each object keeps to recognise redeliveries. Default
	// DefaultWindowEvents.
	WindowEvents int
	// TokensPerShard is how many opt-in tokens a Secret holds. Default MaxTokensPerShard.
	TokensPerShard int
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        logr.Logger
}

// DefaultWritesPerSecond keeps etcd's growth below what the API server's compaction (every 5 minutes
// by default) frees: etcd holds between 5 and 10 minutes of history, so 25 full writes (27 KB) a second
// per replica, 50 for the default two replicas, keep at most 50 x 27 KB x 600 s = 810 MB of history.
// etcd's database file grows to about twice that (TestBudgetKeepsEtcdUnderItsQuota measured it: a
// compaction copies the pages it touches before freeing them, and the file only reuses that space), so
// the peak is about 1.6 GB over the cluster's own data, 0.76 of etcd's default 2 GiB quota, whatever
// the load. Clusters that keep much data of their own should lower the budget or raise the quota.
const DefaultWritesPerSecond = 25

func (o *Options) defaults() {
	if o.FlushInterval == 0 {
		o.FlushInterval = 50 * time.Millisecond
	}
	if o.MaxFlushInterval == 0 {
		o.MaxFlushInterval = time.Second
	}
	o.MaxFlushInterval = max(o.MaxFlushInterval, o.FlushInterval)
	if o.WritesPerSecond == 0 {
		o.WritesPerSecond = DefaultWritesPerSecond
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = time.Second
	}
	if o.DefaultDeadline == 0 {
		o.DefaultDeadline = 3 * time.Second
	}
	if o.MaxConcurrentCommits == 0 {
		o.MaxConcurrentCommits = DefaultMaxConcurrentCommits
	}
	if o.TokensPerShard == 0 {
		o.TokensPerShard = MaxTokensPerShard
	}
	if o.WindowEvents == 0 {
		o.WindowEvents = DefaultWindowEvents
	}
}

// Store is the Writer that commits to the API server.
type Store struct {
	c      client.Client
	live   client.Reader
	o      Options
	m      *metrics
	sem    chan struct{}
	budget *budget

	mu     sync.Mutex
	queues map[Target]*queue
	closed bool
	wg     sync.WaitGroup
}

// NewStore returns a Store that reads each object from the API server through live right before it
// writes the object's status with c. Live reads, not the cache, because the caches of both binaries drop
// the ledger (see CacheTransform).
func NewStore(c client.Client, live client.Reader, o Options) *Store {
	o.defaults()
	return &Store{
		c: c, live: live, o: o,
		m:      newMetrics(o.Registerer),
		sem:    make(chan struct{}, o.MaxConcurrentCommits),
		budget: newBudget(o.WritesPerSecond),
		queues: map[Target]*queue{},
	}
}

// part is one delivery's items for one target.
type part struct {
	items    []Item
	deadline time.Time
	result   chan error // buffered; receives exactly one value
	// Guarded by Store.mu:
	taken     bool // included in a commit attempt; its outcome decides
	abandoned bool // the writer stopped waiting before it was taken
}

// queue holds one object's pending parts.
type queue struct {
	target  Target
	pending []*part
	running bool
	costKB  int // what the object's last write cost the budget: the estimate for its next
}

// Write implements Writer.
func (s *Store) Write(ctx context.Context, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.o.DefaultDeadline)
	}
	parts := s.enqueue(items, deadline)
	if parts == nil {
		return fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	// Every part is awaited, also after one failed: a part stored for one object stays stored (its
	// events are recognised when Meta delivers the whole delivery again), so nothing is taken back.
	var failed error
	for _, p := range parts {
		if err := s.await(ctx, p); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

func (s *Store) enqueue(items []Item, deadline time.Time) []*part {
	byTarget := map[Target]*part{}
	var parts []*part
	for _, it := range items {
		p := byTarget[it.Target]
		if p == nil {
			p = &part{deadline: deadline, result: make(chan error, 1)}
			byTarget[it.Target] = p
			parts = append(parts, p)
		}
		p.items = append(p.items, it)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	for t, p := range byTarget {
		q := s.queueLocked(t)
		q.pending = append(q.pending, p)
		s.kickLocked(q)
	}
	return parts
}

// await waits for a part's outcome. A part not yet in a commit when ctx ends is abandoned and never
// stored; a part already in one is bounded by its deadline, which the committer respects.
func (s *Store) await(ctx context.Context, p *part) error {
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	if !p.taken {
		p.abandoned = true
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	s.mu.Unlock()
	return <-p.result
}

func (s *Store) queueLocked(t Target) *queue {
	q := s.queues[t]
	if q == nil {
		q = &queue{target: t, costKB: 4}
		s.queues[t] = q
	}
	return q
}

// kickLocked starts the queue's committer unless it runs already. One committer per object means one
// write in flight per object: everything that arrives meanwhile goes into the next commit.
func (s *Store) kickLocked(q *queue) {
	if q.running {
		return
	}
	q.running = true
	s.wg.Add(1)
	go s.run(q)
}

// Close stops accepting writes and waits, at most until ctx ends, for commits in flight.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for commits in flight: %w", ctx.Err())
	}
}
