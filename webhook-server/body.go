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
// firstChunk) and are pooled by size: a flood of large bodies with bad signatures then reuses a few
// buffers instead of making the garbage collector chase gigabytes.
type bodyBuffers struct {
	max    int64
	sizes  []int // firstChunk, doubling, the last one max
	pools  []sync.Pool
	budget *budget
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
	bb.pools = make([]sync.Pool, len(bb.sizes))
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

func (bb *bodyBuffers) get(class int) []byte {
	if p, ok := bb.pools[class].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, bb.sizes[class])
}

func (bb *bodyBuffers) put(class int, buf []byte) {
	buf = buf[:0]
	bb.pools[class].Put(&buf)
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
		w.Header()["Connection"] = connectionClose
		return nil, errTooLarge
	}
	b, err := s.bodies.read(r.Context(), r.Body)
	if err != nil {
		w.Header()["Connection"] = connectionClose
	}
	return b, err
}
