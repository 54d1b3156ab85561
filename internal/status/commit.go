package status

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// revert is something stored that must be taken back: the items a commit counted for one part.
//
// A commit can end three ways. Stored: the API server said so. Not stored: it said no (a conflict, a
// refused connection). Unknown: the answer was lost (a timeout, a reset connection). Parts of an unknown
// commit are answered 503, so they must not stay counted; the commit's ID in the object's ledger tells,
// on the next read, whether it was stored. A revert is due when its commit was stored and no commit that
// carried the revert was.
type revert struct {
	commit string
	// known means the commit is known to be stored (its delivery failed elsewhere afterwards).
	known bool
	items []Item
	fps   []uint64
	// by lists the commits that carried this revert but whose outcome is unknown.
	by []string
}

func (r *revert) due(lg *ledger) bool {
	for _, c := range r.by {
		if lg.hasCommit(c) {
			return false
		}
	}
	return r.known || lg.hasCommit(r.commit)
}

// run commits the queue's parts and reverts until there are none, one commit at a time, at most one per
// flush interval, backing off while the API server fails.
func (s *Store) run(q *queue) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		// The slot first, then the parts: a part is taken only when its attempt can start at once, so
		// one waiting for a slot can still be abandoned at its deadline and answered in time.
		s.sem <- struct{}{}
		batch, reverts, ok := s.take(q)
		if !ok {
			<-s.sem
			return
		}
		start := time.Now()
		stored := s.commit(q, batch, reverts)
		<-s.sem
		wait := s.o.FlushInterval - time.Since(start)
		if stored {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, 100*time.Millisecond), 2*time.Second)
			wait = max(wait, backoff)
		}
		if wait > 0 {
			time.Sleep(wait)
		}
	}
}

// take hands the committer every pending part that still has time for an attempt, and the reverts owed.
// Parts without enough time fail now, never attempted, so their answer is never late.
func (s *Store) take(q *queue) ([]*part, []*revert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var batch []*part
	for _, p := range q.pending {
		switch {
		case p.abandoned:
		case p.deadline.Sub(now) < s.o.AttemptTimeout:
			p.result <- fmt.Errorf("%w: too little time left for a commit", ErrUnavailable)
		default:
			p.taken = true
			batch = append(batch, p)
		}
	}
	q.pending = nil
	if len(batch) == 0 && len(q.reverts) == 0 {
		q.running = false
		delete(s.queues, q.target)
		return nil, nil, false
	}
	return batch, append([]*revert(nil), q.reverts...), true
}

// commit stores batch and reverts in one write, retrying conflicts while the parts have time. It
// reports whether the write was stored.
func (s *Store) commit(q *queue, batch []*part, reverts []*revert) bool {
	id := newCommitID()
	live := false
	for {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), s.o.AttemptTimeout)
		stored, written, err := s.attempt(ctx, q.target, batch, reverts, id, live)
		cancel()
		result := classify(err, written)
		s.m.commit(q.target.Kind, result, time.Since(start), len(batch))
		switch result {
		case resultOK, resultGone:
			for i, p := range batch {
				p.stored = stored[i]
				p.result <- nil
			}
			s.settleReverts(q, reverts)
			return true
		case resultConflict:
			// Nothing was written; read the object from the API server and apply everything again.
			live = true
			batch = s.dropLate(batch)
			if len(batch) == 0 && len(reverts) == 0 {
				return true
			}
			continue
		case resultUnknown:
			s.o.Log.Info("commit outcome unknown; its events are answered 503 and taken back if it was stored",
				"kind", q.target.Kind, "name", q.target.Name, "namespace", q.target.Namespace, "error", err.Error())
			s.mu.Lock()
			for _, r := range stored {
				if r != nil && len(r.fps) > 0 {
					q.reverts = append(q.reverts, r)
				}
			}
			s.mu.Unlock()
		default:
			s.o.Log.V(1).Info("commit failed", "kind", q.target.Kind, "name", q.target.Name,
				"namespace", q.target.Namespace, "error", err.Error())
		}
		for _, p := range batch {
			p.result <- fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return false
	}
}

// dropLate fails the parts that have no time left for another attempt. Safe after a conflict: the
// attempt was not stored.
func (s *Store) dropLate(batch []*part) []*part {
	now := time.Now()
	kept := batch[:0]
	for _, p := range batch {
		if p.deadline.Sub(now) < s.o.AttemptTimeout {
			p.result <- fmt.Errorf("%w: conflicts left too little time", ErrUnavailable)
			continue
		}
		kept = append(kept, p)
	}
	return kept
}

// settleReverts forgets the reverts a stored commit carried (or found not due): after it, an unknown
// commit can no longer be stored, because the object's resourceVersion has moved on.
func (s *Store) settleReverts(q *queue, done []*revert) {
	if len(done) == 0 {
		return
	}
	settled := make(map[*revert]bool, len(done))
	for _, r := range done {
		settled[r] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := q.reverts[:0]
	for _, r := range q.reverts {
		if !settled[r] {
			kept = append(kept, r)
		}
	}
	q.reverts = kept
}

// attempt reads the object, applies reverts then parts, and writes the status with an optimistic lock.
// It returns, per part, what it counted; written tells whether a write was sent.
func (s *Store) attempt(ctx context.Context, t Target, batch []*part, reverts []*revert, id string, live bool) ([]*revert, bool, error) {
	obj, ap := newApplier(t.Kind, &s.o)
	var reader client.Reader = s.c
	if live {
		reader = s.live
	}
	if err := reader.Get(ctx, t.NamespacedName, obj); err != nil {
		return nil, false, err
	}
	base := obj.DeepCopyObject().(client.Object)
	lg, err := decodeLedger(ap.ledger(), s.o.MaxRecent)
	if err != nil {
		s.o.Log.Info("starting a new ledger", "kind", t.Kind, "name", t.Name, "namespace", t.Namespace, "reason", err.Error())
	}
	if err := ap.load(); err != nil {
		s.o.Log.Info("starting a new sketch", "kind", t.Kind, "name", t.Name, "namespace", t.Namespace, "reason", err.Error())
	}
	// Decide every revert against the ledger as read, before any of them changes it: one commit can hold
	// parts of several deliveries, and removing its ID for the first would hide it from the others.
	var due []*revert
	for _, r := range reverts {
		if r.due(lg) {
			due = append(due, r)
		}
	}
	for _, r := range due {
		ap.revert(r.items)
		lg.remove(r.fps)
		lg.removeCommit(r.commit)
		r.by = append(r.by, id)
		s.m.reverts.WithLabelValues(string(t.Kind)).Add(float64(len(r.items)))
	}
	stored := make([]*revert, len(batch))
	for i, p := range batch {
		r := &revert{commit: id}
		for _, it := range p.items {
			fp := fingerprint(it.Event.Fingerprint)
			if lg.seen(fp) {
				s.m.duplicates.WithLabelValues(string(t.Kind)).Inc()
				continue
			}
			ap.apply(it)
			lg.add(fp)
			r.items = append(r.items, it)
			r.fps = append(r.fps, fp)
		}
		stored[i] = r
	}
	if sw, ok := ap.(sideWriter); ok {
		var counted []Item
		for _, r := range stored {
			counted = append(counted, r.items...)
		}
		// Nothing of the status is written yet; a failure here fails the attempt as not stored.
		if err := sw.writeSide(ctx, s.c, reader, counted); err != nil {
			return stored, false, err
		}
	}
	lg.addCommit(id)
	ap.store(lg)
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if err := s.c.Status().Patch(ctx, obj, patch); err != nil {
		return stored, true, err
	}
	return stored, true, nil
}

type result string

const (
	resultOK       result = "ok"
	resultGone     result = "gone"     // the object was deleted: nothing left to count for
	resultConflict result = "conflict" // someone else wrote first: apply again on the fresh object
	resultFailed   result = "failed"   // certainly not stored
	resultUnknown  result = "unknown"  // sent, answer lost: maybe stored
)

// classify sorts an attempt's error by what it says about the write.
func classify(err error, written bool) result {
	switch {
	case err == nil:
		return resultOK
	case apierrors.IsNotFound(err):
		return resultGone
	case apierrors.IsConflict(err):
		return resultConflict
	case !written,
		errors.Is(err, syscall.ECONNREFUSED),
		apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err),
		apierrors.IsUnauthorized(err), apierrors.IsTooManyRequests(err):
		return resultFailed
	default:
		return resultUnknown
	}
}

func newCommitID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
