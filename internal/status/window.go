package status

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"
)

// The dedupe window: which events an object has counted recently, so that Meta's redeliveries are not
// counted again. Its promise is stated in time, because a redelivery carries the same event timestamps:
//
//   - every event newer than the low-water mark is checked exactly against the fingerprints kept;
//   - an event at or before the low-water mark cannot be checked, so it is acknowledged and not counted
//     (a late event), which can lose a genuinely new but very late event, and never counts one twice.
//
// Fingerprints are grouped into buckets by event time; bucket i holds the events with a time in
// (end[i-1], end[i]] (the first bucket starts at the low-water mark). When the window holds more than its
// capacity, the oldest bucket is dropped whole and the low-water mark moves to its end. A fingerprint is
// 32 bits and is compared only with those of its own bucket, so a new event is mistaken for a counted one
// with probability at most bucketEvents/2^32 (6e-8 for a full bucket of 256): about one event in 17
// million is not counted.
//
// Size: DefaultWindowEvents (4,000) fingerprints of 4 bytes and 16 bucket headers encode in under 21.6 KB
// of base64, less than the 2,048 eight-byte fingerprints of the format before, and cover an hour of a link
// that receives an event per second (Meta's retry horizon for a failing webhook), since a dropped bucket
// leaves at least 3,744 events. Busier links need the PostgreSQL ledger.

const (
	// DefaultWindowEvents is how many fingerprints an object keeps by default.
	DefaultWindowEvents = 4000
	// bucketEvents is how many fingerprints a bucket takes before the next event starts a new one; the
	// unit in which the window forgets.
	bucketEvents = 256
	// windowVersion starts the encoding.
	windowVersion = 1
)

type bucket struct {
	end int64 // ms: the newest event time the bucket covers
	fps []uint32
}

// window is the decoded dedupe window.
type window struct {
	lowWater int64 // ms; 0 while nothing was dropped
	buckets  []bucket
	n        int // fingerprints held
	max      int
}

func newWindow(maxEvents int) *window { return &window{max: maxEvents} }

// eventMillis is the time a window files an event under: its timestamp in ms, 0 when it has none.
func eventMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 0)
}

// shortFingerprint is the part of an event's fingerprint the window keeps.
func shortFingerprint(fp [16]byte) uint32 { return binary.BigEndian.Uint32(fp[:4]) }

// late reports whether an event at t can no longer be checked.
func (w *window) late(t int64) bool { return w.lowWater > 0 && t <= w.lowWater }

// find returns the index of the bucket covering t, or len(buckets) when t is newer than every bucket.
func (w *window) find(t int64) int {
	return sort.Search(len(w.buckets), func(i int) bool { return w.buckets[i].end >= t })
}

// seen reports whether the event (t, fp) is in the window. Call only for events that are not late.
func (w *window) seen(t int64, fp uint32) bool {
	i := w.find(t)
	if i == len(w.buckets) {
		return false
	}
	for _, f := range w.buckets[i].fps {
		if f == fp {
			return true
		}
	}
	return false
}

// add records a counted event. Call only for events that are neither late nor seen.
func (w *window) add(t int64, fp uint32) {
	i := w.find(t)
	switch {
	case i < len(w.buckets):
		w.buckets[i].fps = append(w.buckets[i].fps, fp)
	case i > 0 && len(w.buckets[i-1].fps) < bucketEvents:
		w.buckets[i-1].end = t
		w.buckets[i-1].fps = append(w.buckets[i-1].fps, fp)
	default:
		w.buckets = append(w.buckets, bucket{end: t, fps: []uint32{fp}})
	}
	w.n++
	// The newest bucket is never dropped: it is where the next events go.
	for w.n > w.max && len(w.buckets) > 1 {
		w.lowWater = max(w.lowWater, w.buckets[0].end)
		w.n -= len(w.buckets[0].fps)
		w.buckets = w.buckets[1:]
	}
}

// coveredSince is the low-water mark as a time: events after it are checked; zero while nothing was
// dropped.
func (w *window) coveredSince() time.Time {
	if w.lowWater == 0 {
		return time.Time{}
	}
	return time.UnixMilli(w.lowWater).UTC()
}

// encode writes the window as base64 of: version, low-water mark, bucket count, then per bucket its end
// as a delta from the previous end (or the low-water mark), its fingerprint count and the fingerprints.
func (w *window) encode() string {
	if len(w.buckets) == 0 && w.lowWater == 0 {
		return ""
	}
	b := make([]byte, 0, 16+len(w.buckets)*8+4*w.n)
	b = append(b, windowVersion)
	b = binary.AppendUvarint(b, uint64(w.lowWater))
	b = binary.AppendUvarint(b, uint64(len(w.buckets)))
	prev := w.lowWater
	for _, bk := range w.buckets {
		b = binary.AppendUvarint(b, uint64(bk.end-prev))
		b = binary.AppendUvarint(b, uint64(len(bk.fps)))
		for _, fp := range bk.fps {
			b = binary.BigEndian.AppendUint32(b, fp)
		}
		prev = bk.end
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

var errWindow = errors.New("not a dedupe window")

// decodeWindow reads an encoded window. A window that cannot be read (edited by hand) is an error; the
// caller starts afresh and keeps the counts.
func decodeWindow(s string, maxEvents int) (*window, error) {
	w := newWindow(maxEvents)
	if s == "" {
		return w, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 || raw[0] != windowVersion {
		return w, errWindow
	}
	r := raw[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	low, ok1 := next()
	count, ok2 := next()
	if !ok1 || !ok2 || count > uint64(len(r)) {
		return newWindow(maxEvents), errWindow
	}
	w.lowWater = int64(low)
	prev := w.lowWater
	for range count {
		delta, ok1 := next()
		k, ok2 := next()
		if !ok1 || !ok2 || k > uint64(len(r))/4 {
			return newWindow(maxEvents), errWindow
		}
		bk := bucket{end: prev + int64(delta), fps: make([]uint32, k, max(k, bucketEvents))}
		for i := range bk.fps {
			bk.fps[i] = binary.BigEndian.Uint32(r[4*i:])
		}
		r = r[4*k:]
		w.buckets = append(w.buckets, bk)
		w.n += len(bk.fps)
		prev = bk.end
	}
	if len(r) != 0 {
		return newWindow(maxEvents), fmt.Errorf("%w: %d trailing bytes", errWindow, len(r))
	}
	return w, nil
}

// migrateRecent reads the fingerprint list of the format before the window (8 bytes each, no times) into
// an empty window, as one bucket that ends at newest, the latest event time the object counted: all of
// them are at or before it, so once that bucket is dropped nothing older than it is counted twice.
func (w *window) migrateRecent(s string, newest time.Time) error {
	raw, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(raw)%8 != 0 {
		return fmt.Errorf("ledger.recent is not a fingerprint list (%d bytes)", len(raw))
	}
	if len(raw) == 0 {
		return nil
	}
	end := eventMillis(newest)
	if end == 0 {
		end = time.Now().UnixMilli()
	}
	bk := bucket{end: end}
	for i := 0; i < len(raw); i += 8 {
		bk.fps = append(bk.fps, binary.BigEndian.Uint32(raw[i:]))
	}
	w.buckets = []bucket{bk}
	w.n = len(bk.fps)
	return nil
}
