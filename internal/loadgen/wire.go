package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// The generator shares the machine with what it measures, so its own CPU per request is taken from the
// server's. net/http's client costs about 47 µs of CPU per request here (a goroutine hand-off to the
// connection's reader and writer, the idle-pool lookup, a context and a timer per request); at 8,000
// requests a second that was a third of a core, as much as the bare handler itself
// (BenchmarkOpenLoopPostgres's bare phase, docs/performance.md). wire sends each request as bytes that
// net/http rendered once, before the clock starts, on a connection held by the sending goroutine for
// the request, and reads the answer with net/http's own parser.

// wire sends pre-rendered HTTP/1.1 requests to one address over keep-alive connections: one request at a
// time per connection, as Meta's deliveries and net/http's client do (no pipelining), the idle ones
// reused most-recently-used first so that a steady load keeps few of them open.
type wire struct {
	addr    string
	timeout time.Duration
	dialer  net.Dialer

	mu     sync.Mutex
	idle   []*wireConn
	closed bool
}

type wireConn struct {
	net.Conn
	r *bufio.Reader
}

func newWire(rawURL string, timeout time.Duration) (*wire, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: URL: %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("loadgen: URL %q: only http is supported", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &wire{addr: addr, timeout: timeout}, nil
}

// render returns d as the bytes of a POST to rawURL, written by net/http.
func render(rawURL string, d Delivery) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, rawURL, bytes.NewReader(d.Body))
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	for k, v := range d.Header {
		req.Header[k] = v
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, fmt.Errorf("loadgen: rendering a request: %w", err)
	}
	return b.Bytes(), nil
}

// post sends one rendered request and returns the answer's status code, or an error when no answer came
// within the timeout (or before ctx ended). A connection that failed, or whose answer asked to close it,
// is closed; the others go back to the idle list.
func (w *wire) post(ctx context.Context, raw []byte) (int, error) {
	c, reused, err := w.get(ctx)
	if err != nil {
		return 0, err
	}
	code, err := w.send(ctx, c, raw)
	if reused && closedIdle(err) {
		// The server closed the connection while it was idle (its idle timeout), before this request
		// reached it; net/http's client sends again on a new connection in this case too.
		if c, _, err = w.dial(ctx); err != nil {
			return 0, err
		}
		code, err = w.send(ctx, c, raw)
	}
	return code, err
}

// closedIdle tells a kept-alive connection that the server had closed before the request came.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (w *wire) send(ctx context.Context, c *wireConn, raw []byte) (int, error) {
	deadline := time.Now().Add(w.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetDeadline(deadline); err != nil {
		_ = c.Close()
		return 0, err
	}
	if ctx.Done() != nil {
		// Cancelling ends the wait at once: the deadline passes.
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	code, keep, err := c.roundTrip(raw)
	if err != nil || !keep {
		_ = c.Close()
		return code, err
	}
	w.put(c)
	return code, nil
}

func (c *wireConn) roundTrip(raw []byte) (code int, keep bool, err error) {
	if _, err := c.Write(raw); err != nil {
		return 0, false, err
	}
	// Nothing at all back (io.EOF, a reset) is told apart from a cut answer: closedIdle.
	if _, err := c.r.Peek(1); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, false, err
	}
	// Read the answer to its end so that the connection can carry the next request.
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, false, err
	}
	return resp.StatusCode, !resp.Close, nil
}

// get returns an idle connection (reused true) or a new one.
func (w *wire) get(ctx context.Context) (c *wireConn, reused bool, err error) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		c := w.idle[n-1]
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		return c, true, nil
	}
	w.mu.Unlock()
	return w.dial(ctx)
}

func (w *wire) dial(ctx context.Context) (*wireConn, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	nc, err := w.dialer.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		return nil, false, err
	}
	return &wireConn{Conn: nc, r: bufio.NewReader(nc)}, false, nil
}

func (w *wire) put(c *wireConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		_ = c.Close()
		return
	}
	w.idle = append(w.idle, c)
}

// close closes the idle connections, and every connection put back after it.
func (w *wire) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for _, c := range w.idle {
		_ = c.Close()
	}
	w.idle = nil
}
