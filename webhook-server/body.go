package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// firstChunk is the buffer a body starts in: above most of Meta's deliveries (one event is under 1 KiB),
// so that the common case reads into one buffer and never grows.
const firstChunk = 4 << 10

// budgetWait is how long a request waits for room in the budget of body bytes in flight before it is
// answered 503. Short: Meta wants an answer within 5 s and retries a 503, and a waiting request holds
// a connection.
const budgetWait = 500 * time.Millisecond

// bodyBuffers reads request bodies into buffers that grow with the bytes that actually arrived, never
// with the Content-Length a sender declares, so that a sender is held to the memory it paid for in bytes
// sent. Buffers double from firstChunk up to the body limit (at most twice the bytes read, plus
// firstChunk) and are kept for reuse by size: a flood of large bodies with bad signatures then reuses a
// few buffers instead of making the garbage collector chase gigabytes. Buffers in use and kept together
// stay within the budget (not a sync.Pool, whose buffers are uncounted and outlive a collection): kept
// ones make way, to the collector, for new ones of another size.
type bodyBuffers struct {
	max    int64
	sizes  []int // firstChunk, doubling, the last one max
	budget *budget

	mu   sync.Mutex
	free [][][]byte // kept buffers, by class
	kept int64      // their bytes
}

func newBodyBuffers(maxBody int64, b *budget) *bodyBuffers {
	bb := &bodyBuffers{max: maxBody, budget: b}
	for n := int64(firstChunk); ; n *= 2 {
		if n >= maxBody {
			bb.sizes = append(bb.sizes, int(maxBody))
			break
		}
		bb.sizes = append(bb.sizes, int(n))
	}
	bb.free = make([][][]byte, len(bb.sizes))
	return bb
}

// body is a request body read by bodyBuffers.read. Its bytes are valid until release; nothing may keep a
// reference to them after (delivery.Parse copies what it keeps).
type body struct {
	bytes    []byte
	class    int   // index into bodyBuffers.sizes of cap(bytes)
	reserved int64 // bytes held in the budget
	from     *bodyBuffers
}

// release returns the buffer to its pool and its bytes to the budget. Safe on a nil body.
func (b *body) release() {
	if b == nil || b.from == nil {
		return
	}
	b.from.put(b.class, b.bytes)
	b.from.budget.release(b.reserved)
	b.from, b.bytes = nil, nil
}

// get returns an empty buffer of the class; its room must be reserved in the budget already.
func (bb *bodyBuffers) get(class int) []byte {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if n := len(bb.free[class]); n > 0 {
		buf := bb.free[class][n-1]
		bb.free[class][n-1] = nil
		bb.free[class] = bb.free[class][:n-1]
		bb.kept -= int64(cap(buf))
		return buf[:0]
	}
	// A new buffer: drop kept ones, largest first, until those in use and kept fit the budget again.
	for c := len(bb.free) - 1; c >= 0 && bb.kept > 0 && bb.kept+bb.budget.inUse() > bb.budget.limit; {
		n := len(bb.free[c])
		if n == 0 {
			c--
			continue
		}
		bb.kept -= int64(cap(bb.free[c][n-1]))
		bb.free[c][n-1] = nil
		bb.free[c] = bb.free[c][:n-1]
	}
	return make([]byte, 0, bb.sizes[class])
}

// put keeps buf, still reserved in the budget, for reuse if the buffers in use and kept fit the budget
// (buf moves from one to the other), and leaves it to the collector otherwise.
func (bb *bodyBuffers) put(class int, buf []byte) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if bb.kept+bb.budget.inUse() <= bb.budget.limit {
		bb.free[class] = append(bb.free[class], buf[:0])
		bb.kept += int64(cap(buf))
	}
}

// errTooLarge is a body longer than the limit.
var errTooLarge = errors.New("body over the limit")

// read reads src to its end. It reserves room in the budget before each buffer it takes: the first one
// waiting up to budgetWait (this request holds nothing yet), every larger one without waiting (see
// budget). It returns errBusy when there was no room, errTooLarge past the limit, or the read error.
func (bb *bodyBuffers) read(ctx context.Context, src io.Reader) (*body, error) {
	first := int64(bb.sizes[0])
	wctx, cancel := context.WithTimeout(ctx, budgetWait)
	err := bb.budget.acquire(wctx, first)
	cancel()
	if err != nil {
		return nil, err
	}
	b := &body{bytes: bb.get(0), reserved: first, from: bb}
	for {
		if len(b.bytes) == cap(b.bytes) {
			if b.class == len(bb.sizes)-1 {
				// Full at the limit: only the end of the body may follow.
				var one [1]byte
				n, err := io.ReadFull(src, one[:])
				switch {
				case n > 0:
					b.release()
					return nil, errTooLarge
				case errors.Is(err, io.EOF):
					return b, nil
				default:
					b.release()
					return nil, fmt.Errorf("reading body: %w", err)
				}
			}
			if err := b.grow(b.class + 1); err != nil {
				b.release()
				return nil, err
			}
		}
		n, err := src.Read(b.bytes[len(b.bytes):cap(b.bytes)])
		b.bytes = b.bytes[:len(b.bytes)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			b.release()
			return nil, fmt.Errorf("reading body: %w", err)
		}
	}
}

// grow moves b into a buffer of the given class. The new room is reserved before the old is given back,
// so the budget counts the moment both exist.
func (b *body) grow(class int) error {
	bb := b.from
	n := int64(bb.sizes[class])
	if !bb.budget.tryAcquire(n) {
		return errBusy
	}
	next := append(bb.get(class), b.bytes...)
	bb.put(class-1, b.bytes)
	bb.budget.release(b.reserved)
	b.bytes, b.class, b.reserved = next, class, n
	return nil
}

// readBody reads the request's body within the server's limits. A declared length over the limit is
// refused before a byte is read, and any error leaves the connection to be closed after the answer,
// so that the rest of a refused body is never read.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (*body, error) {
	if r.ContentLength > s.maxBodyBytes {
		w.Header().Set("Connection", "close")
		return nil, errTooLarge
	}
	b, err := s.bodies.read(r.Context(), r.Body)
	if err != nil {
		w.Header().Set("Connection", "close")
	}
	return b, err
}
