package status

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// fillWindow adds n events one second apart from t0, fingerprints drawn from rng; it returns them.
func fillWindow(w *window, rng *rand.Rand, t0 int64, n int) (times []int64, fps []uint32) {
	for i := range n {
		at, fp := t0+int64(i)*1000, rng.Uint32()
		if !w.late(at) && !w.seen(at, fp) {
			w.add(at, fp)
		}
		times, fps = append(times, at), append(fps, fp)
	}
	return times, fps
}

// A link at one event per second is covered for Meta's hour of retries, within the old format's bytes.
func TestWindowCoversAnHourAtOneEventPerSecond(t *testing.T) {
	w := newWindow(DefaultWindowEvents)
	rng := rand.New(rand.NewPCG(1, 2))
	times, fps := fillWindow(w, rng, 1_760_000_000_000, 20_000)
	newest := times[len(times)-1]
	if covered := time.Duration(newest-w.lowWater) * time.Millisecond; covered < time.Hour {
		t.Fatalf("window covers %s, want at least an hour", covered)
	}
	if w.n < 3600 {
		t.Fatalf("window holds %d events, want at least 3,600", w.n)
	}
	const oldFormat = 21_846 // 2,048 eight-byte fingerprints in base64, the format before
	if size := len(w.encode()); size > oldFormat {
		t.Fatalf("encoded window is %d bytes, more than the %d of the format before", size, oldFormat)
	}
	// Every event after the low-water mark is recognised; every event at or before it is late.
	for i, at := range times {
		switch {
		case at <= w.lowWater:
			if !w.late(at) {
				t.Fatalf("event %d at %d not late with low water %d", i, at, w.lowWater)
			}
		case !w.seen(at, fps[i]):
			t.Fatalf("event %d at %d after the low water %d is not recognised", i, at, w.lowWater)
		}
	}
}

// Encoding round-trips exactly, and a window that is not one is an error, not a panic.
func TestWindowEncoding(t *testing.T) {
	w := newWindow(1000)
	rng := rand.New(rand.NewPCG(3, 4))
	fillWindow(w, rng, 5_000, 3000)
	w.add(0, 7) // an event without a timestamp
	got, err := decodeWindow(w.encode(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if got.lowWater != w.lowWater || got.n != w.n || len(got.buckets) != len(w.buckets) {
		t.Fatalf("decoded low %d n %d buckets %d, want %d %d %d", got.lowWater, got.n, len(got.buckets), w.lowWater, w.n, len(w.buckets))
	}
	for i := range w.buckets {
		if got.buckets[i].end != w.buckets[i].end || len(got.buckets[i].fps) != len(w.buckets[i].fps) {
			t.Fatalf("bucket %d differs", i)
		}
	}
	for _, bad := range []string{"!!", base64.RawStdEncoding.EncodeToString([]byte{9}),
		base64.RawStdEncoding.EncodeToString([]byte{windowVersion, 0, 200}),
		base64.RawStdEncoding.EncodeToString([]byte{windowVersion, 0, 1, 5, 3, 1, 2}),
		w.encode() + "AAAA"} {
		if _, err := decodeWindow(bad, 1000); err == nil {
			t.Errorf("decodeWindow(%q) succeeded", bad)
		}
	}
}

// Events arrive out of order: each goes to the bucket of its time, and redeliveries of any of them are
// recognised; the newest bucket is never dropped, so a burst in one instant keeps counting.
func TestWindowOutOfOrderAndBursts(t *testing.T) {
	w := newWindow(1000)
	for i := range 600 {
		w.add(int64(10_000+((i*7919)%600)*10), uint32(i))
	}
	for i := range 600 {
		if at := int64(10_000 + ((i*7919)%600)*10); !w.late(at) && !w.seen(at, uint32(i)) {
			t.Fatalf("event %d not recognised", i)
		}
	}
	burst := newWindow(100)
	for i := range 1000 {
		at := int64(50_000) // a viral instant: all in one millisecond
		if burst.late(at) || burst.seen(at, uint32(i)) {
			t.Fatalf("burst event %d refused", i)
		}
		burst.add(at, uint32(i))
	}
	if burst.lowWater >= 50_000 {
		t.Fatalf("the burst's own instant became late (low water %d)", burst.lowWater)
	}
}

// A ledger of the format before (8-byte fingerprints, no times) is read into one bucket ending at the
// newest event counted, so its events are still recognised.
func TestWindowMigratesTheFormatBefore(t *testing.T) {
	fp := [16]byte{1, 2, 3, 4, 5, 6, 7, 8}
	raw := binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(fp[:8]))
	newest := time.UnixMilli(1_760_000_100_000)
	w := newWindow(100)
	if err := w.migrateRecent(base64.RawStdEncoding.EncodeToString(raw), newest); err != nil {
		t.Fatal(err)
	}
	if at := newest.Add(-time.Minute).UnixMilli(); w.late(at) || !w.seen(at, shortFingerprint(fp)) {
		t.Fatal("a fingerprint of the format before is not recognised")
	}
}

// The budget counts writes by size: its burst is one second's worth, at least one full write.
func TestBudgetCountsWritesBySize(t *testing.T) {
	b := newBudget(10) // 270 KB a second, burst 270 KB
	start := time.Now()
	for range 90 { // 90 writes of 3 KB: the burst
		if !b.wait(3, time.Second) {
			t.Fatal("a write within the burst was refused")
		}
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Fatalf("the burst took %s, want no wait", took)
	}
	if b.wait(fullWriteKB, 10*time.Millisecond) {
		t.Fatal("a full write past the burst went without waiting for its 100 ms")
	}
	b.charge(1000) // more than the burst is capped at the burst: the next second is spent
	if b.wait(1, 500*time.Millisecond) {
		t.Fatal("a write after a charge of a whole burst went within half a second")
	}
	if got := newBudget(1).costKB(1 << 20); got != fullWriteKB {
		t.Fatalf("cost of 1 MiB at one write a second = %d KB, want the burst, %d", got, fullWriteKB)
	}
	none := newBudget(-1)
	if !none.wait(1<<20, 0) {
		t.Fatal("no budget refused a write")
	}
}
