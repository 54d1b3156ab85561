package webhookserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// What a body costs is what arrived: a sender that declares 4 MiB and sends 1 KiB holds one 4 KiB buffer,
// not 4 MiB.
func TestBodyAllocatesForBytesReceivedOnly(t *testing.T) {
	const limit = 4 << 20
	for _, tt := range []struct {
		name string
		sent int
	}{
		{"1 KiB", 1 << 10},
		{"100 KiB", 100 << 10},
		{"1 MiB", 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Repeat([]byte{'x'}, tt.sent)
			allocated := bytesAllocated(func() {
				// A fresh pool each time: nothing reused from an earlier read.
				bb := newBodyBuffers(limit, newBudget(64<<20))
				// The sender stops short of what it declared: the read ends in an error.
				src := io.MultiReader(bytes.NewReader(data), errReader{io.ErrUnexpectedEOF})
				if _, err := bb.read(context.Background(), src); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("read: %v, want the sender's error", err)
				}
			})
			// Buffers double, so the sum of the ones taken stays under twice the last, which is under
			// twice the bytes received, plus the first; 16 KiB for the rest (pools, contexts, timers).
			if bound := uint64(4*tt.sent + firstChunk + 16<<10); allocated > bound {
				t.Errorf("%d bytes sent made %d bytes allocated, want at most %d", tt.sent, allocated, bound)
			}
		})
	}
}

// bytesAllocated returns the heap bytes f allocates, the least of a few runs (the garbage collector's
// own bookkeeping can add to one).
func bytesAllocated(f func()) uint64 {
	least := ^uint64(0)
	for range 5 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestBodyReadLimitsAndBudget(t *testing.T) {
	const limit = 20 << 10 // buffers of 4, 8, 16 and 20 KiB
	for _, tt := range []struct {
		name    string
		size    int
		wantErr error
	}{
		{"empty", 0, nil},
		{"one byte", 1, nil},
		{"first buffer exactly", firstChunk, nil},
		{"one byte into the second", firstChunk + 1, nil},
		{"at the limit", limit, nil},
		{"one byte over", limit + 1, errTooLarge},
		{"far over", 10 * limit, errTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bud := newBudget(2 * limit) // the least New accepts: growing holds two buffers for a moment
			bb := newBodyBuffers(limit, bud)
			data := bytes.Repeat([]byte("0123456789"), tt.size/10+1)[:tt.size]
			// One byte per Read, as a trickling sender's body comes: every buffer boundary is crossed by
			// a Read of its own.
			b, err := bb.read(context.Background(), iotest.OneByteReader(bytes.NewReader(data)))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("read: %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				if !bytes.Equal(b.bytes, data) {
					t.Errorf("read %d bytes, not the %d sent", len(b.bytes), len(data))
				}
				if int64(cap(b.bytes)) > bud.inUse() {
					t.Errorf("buffer of %d bytes, only %d reserved", cap(b.bytes), bud.inUse())
				}
				b.release()
			}
			if u := bud.inUse(); u != 0 {
				t.Errorf("%d bytes still reserved after the body was released", u)
			}
		})
	}
}

// A body that needs a larger buffer while the budget is full gets errBusy at once and gives back what it
// held, rather than waiting while holding (see budget).
func TestBodyGrowingPastTheBudgetIsBusy(t *testing.T) {
	bud := newBudget(16 << 10)
	bb := newBodyBuffers(16<<10, bud)
	if !bud.tryAcquire(8 << 10) { // another request holds half
		t.Fatal("tryAcquire failed")
	}
	// 10 KiB: the first 4 KiB buffer fits in the free 8, the 8 KiB it grows into does not.
	data := bytes.Repeat([]byte{'x'}, 10<<10)
	_, err := bb.read(context.Background(), bytes.NewReader(data))
	if !errors.Is(err, errBusy) {
		t.Fatalf("read: %v, want errBusy", err)
	}
	if u := bud.inUse(); u != 8<<10 {
		t.Errorf("%d bytes reserved after the refusal, want the other request's %d", u, 8<<10)
	}
}

// Buffers kept for reuse and buffers in use together stay within the budget, whatever the mix of sizes.
func TestBodyBuffersKeptStayWithinTheBudget(t *testing.T) {
	const limit = 64 << 10
	bud := newBudget(4 * limit)
	bb := newBodyBuffers(limit, bud)
	var held []*body
	for i, size := range []int{1, limit, 5000, limit / 2, 100, limit, 3 << 10, 40 << 10, limit, 1} {
		b, err := bb.read(context.Background(), bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Fatalf("body %d (%d bytes): %v", i, size, err)
		}
		held = append(held, b)
		if i%3 == 2 { // release some as we go, the rest at the end
			for _, h := range held {
				h.release()
			}
			held = held[:0]
		}
		bb.mu.Lock()
		kept := bb.kept
		bb.mu.Unlock()
		if total := kept + bud.inUse(); total > bud.limit {
			t.Fatalf("after body %d: %d bytes kept and %d in use, over the budget of %d", i, kept, bud.inUse(), bud.limit)
		}
	}
	for _, h := range held {
		h.release()
	}
	if u := bud.inUse(); u != 0 {
		t.Errorf("%d bytes in use after every body was released", u)
	}
}
