package status

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A commit ends in one of three ways. Stored: the API server said so, and every part in it is answered
// 200. Not stored: it said no (a conflict, a refusal). Unknown: the answer was lost (a timeout, a reset
// connection), so the write may have landed. Parts of a commit that did not end stored are answered 503
// and left alone: if the write landed, Meta's redelivery finds the events in the window, on whichever
// replica it lands, and is answered 200 without counting them again. Nothing is ever taken back: a
// take-back would be a second writer racing that redelivery on another replica.

// run commits the queue's parts until there are none, one commit at a time, within the write budget,
// backing off while the API server fails. An object that keeps receiving events is written less often
// (its interval doubles from FlushInterval up to MaxFlushInterval), so that one hot object does not spend
// the budget of many.
func (s *Store) run(q *queue) {
	defer s.wg.Done()
	interval := s.o.FlushInterval
	var backoff time.Duration
	for {
		// The budget first, holding no slot and taking no part, so that a part can still be abandoned
		// at its deadline. When the budget cannot be had in time, the parts fail now, never attempted.
		if !s.budget.wait(q.costKB, s.maxBudgetWait(q)) {
			s.failPending(q, "the status write budget is spent")
			return
		}
		// The slot next, then the parts: a part is taken only when its attempt can start at once.
		s.sem <- struct{}{}
		batch, ok := s.take(q)
		if !ok {
			<-s.sem
			return
		}
		start := time.Now()
		stored := s.commit(q, batch)
		<-s.sem
		// Still running after this commit means events kept coming: wait twice as long before the next.
		// A queue that finds nothing after its wait ends, and the object's next event starts afresh.
		interval = min(2*interval, s.o.MaxFlushInterval)
		wait := interval - time.Since(start)
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

// maxBudgetWait is how long the queue's parts can wait for the budget and still be attempted in time.
func (s *Store) maxBudgetWait(q *queue) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latest time.Time
	for _, p := range q.pending {
		if !p.abandoned && p.deadline.After(latest) {
			latest = p.deadline
		}
	}
	return time.Until(latest) - s.o.AttemptTimeout
}

// failPending fails every pending part and ends the queue.
func (s *Store) failPending(q *queue, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range q.pending {
		if !p.abandoned {
			p.result <- fmt.Errorf("%w: %s", ErrUnavailable, why)
		}
	}
	q.pending = nil
	q.running = false
	delete(s.queues, q.target)
}

// take hands the committer every pending part that still has time for an attempt. Parts without enough
// time fail now, never attempted, so their answer is never late.
func (s *Store) take(q *queue) ([]*part, bool) {
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
	if len(batch) == 0 {
		q.running = false
		delete(s.queues, q.target)
		return nil, false
	}
	return batch, true
}

// commit stores batch in one write, retrying conflicts while the parts have time. It reports whether the
// write was stored.
func (s *Store) commit(q *queue, batch []*part) bool {
	for {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), s.o.AttemptTimeout)
		out, err := s.attempt(ctx, q.target, batch)
		cancel()
		result := classify(err, out.written)
		s.m.commit(q.target.Kind, result, time.Since(start), len(batch))
		switch result {
		case resultOK, resultGone:
			if result == resultOK {
				s.m.stored(q.target.Kind, out)
				// The next write of this object is estimated at this one's size.
				cost := s.budget.costKB(out.storedBytes)
				s.budget.charge(cost - q.costKB)
				q.costKB = cost
			}
			for _, p := range batch {
				p.result <- nil
			}
			return true
		case resultConflict:
			// Nothing was written; read the object again and apply everything again.
			batch = s.dropLate(batch)
			if len(batch) == 0 {
				return true
			}
			continue
		case resultThrottled:
			if d, ok := apierrors.SuggestsClientDelay(err); ok {
				s.budget.pause(time.Duration(d) * time.Second)
			}
		}
		s.o.Log.V(1).Info("commit not stored; its deliveries are answered 503 and Meta delivers them again",
			"kind", q.target.Kind, "name", q.target.Name, "namespace", q.target.Namespace,
			"result", string(result), "error", err.Error())
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

// outcome is what one attempt did.
type outcome struct {
	written                  bool // a write was sent
	counted, duplicate, late int
	patchBytes               int
	// storedBytes estimates what etcd stores for the commit: the object's status bookkeeping and the
	// token shards rewritten, plus a fixed allowance for the rest of the object.
	storedBytes int
	coverage    time.Duration // how far back the window reaches; 0 while it dropped nothing
}

// attempt reads the object from the API server, applies the parts, and writes the status with an
// optimistic lock (the resourceVersion read).
func (s *Store) attempt(ctx context.Context, t Target, batch []*part) (outcome, error) {
	var out outcome
	obj, ap := newApplier(t.Kind, &s.o)
	if err := s.live.Get(ctx, t.NamespacedName, obj); err != nil {
		return out, err
	}
	base := obj.DeepCopyObject().(client.Object)
	lg, err := decodeLedger(ap.ledger(), s.o.WindowEvents, ap.newest())
	if err != nil {
		s.o.Log.Info("starting a new dedupe window", "kind", t.Kind, "name", t.Name, "namespace", t.Namespace, "reason", err.Error())
	}
	if err := ap.load(); err != nil {
		s.o.Log.Info("starting a new sketch", "kind", t.Kind, "name", t.Name, "namespace", t.Namespace, "reason", err.Error())
	}
	var all []Item
	for _, p := range batch {
		all = append(all, p.items...)
	}
	// Oldest first: then what the window drops while this commit fills it is older than every event
	// still to come, and no event of the commit is late because of the commit itself.
	slices.SortStableFunc(all, func(a, b Item) int { return a.Event.Time.Compare(b.Event.Time) })
	var counted, late []Item
	for _, it := range all {
		at, fp := eventMillis(it.Event.Time), shortFingerprint(it.Event.Fingerprint)
		switch {
		case lg.win.late(at):
			late = append(late, it)
		case lg.win.seen(at, fp):
			out.duplicate++
		default:
			ap.apply(it)
			lg.win.add(at, fp)
			counted = append(counted, it)
		}
	}
	out.counted, out.late = len(counted), len(late)
	if sw, ok := ap.(sideWriter); ok {
		// Nothing of the status is written yet; a failure here fails the attempt as not stored.
		n, err := sw.writeSide(ctx, s.c, s.live, counted, late)
		if err != nil {
			return out, err
		}
		out.storedBytes += n
	}
	ap.store(lg, int64(len(late)))
	stored := ap.ledger()
	out.storedBytes += objectAllowance + len(stored.Window) + len(stored.Sketch)
	if since := lg.win.coveredSince(); !since.IsZero() {
		out.coverage = time.Since(since)
	}
	patch := &sizedPatch{Patch: client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})}
	out.written = true
	err = s.c.Status().Patch(ctx, obj, patch)
	out.patchBytes = patch.n
	return out, err
}

// objectAllowance is what a link or topic holds besides its ledger: spec, metadata, conditions, counts.
const objectAllowance = 2048

// sizedPatch records the size of the patch it sends, for the bytes-written metric.
type sizedPatch struct {
	client.Patch
	n int
}

func (p *sizedPatch) Data(obj client.Object) ([]byte, error) {
	b, err := p.Patch.Data(obj)
	p.n = len(b)
	return b, err
}

type result string

const (
	resultOK        result = "ok"
	resultGone      result = "gone"      // the object was deleted: nothing left to count for
	resultConflict  result = "conflict"  // someone else wrote first: apply again on the fresh object
	resultThrottled result = "throttled" // the API server asked us to slow down (429): not stored
	resultFailed    result = "failed"    // certainly not stored
	resultUnknown   result = "unknown"   // sent, answer lost: maybe stored
)

// classify sorts an attempt's error by what it says about the write. Only the metrics and the 429
// pause depend on it: every outcome but ok and gone is answered 503 and left alone.
func classify(err error, written bool) result {
	switch {
	case err == nil:
		return resultOK
	case apierrors.IsNotFound(err):
		return resultGone
	case apierrors.IsConflict(err):
		return resultConflict
	case apierrors.IsTooManyRequests(err):
		return resultThrottled
	case !written,
		errors.Is(err, syscall.ECONNREFUSED),
		apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err),
		apierrors.IsUnauthorized(err):
		return resultFailed
	default:
		return resultUnknown
	}
}
