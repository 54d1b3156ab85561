package webhookserver

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxConnections bounds the open connections of the webhook listener. Each costs about 22 KiB
// (a goroutine and its read and write buffers), so 1,024 of them about 22 MiB: room beside the body
// budget in the Deployment's 256 MiB, and well above what Meta or an ingress controller's upstream pool
// keeps open to one replica.
const DefaultMaxConnections = 1024

// Why evict rather than wait: a listener that stops accepting at the cap (netutil.LimitListener) lets
// whoever opened connections first keep them, so an attacker's idle connections would starve Meta's new
// ones for as long as the attacker likes. Here a new connection at the cap closes another one instead, in
// this order:
//
//  1. the one longest without a request in progress: a keep-alive connection between requests
//     (http.StateIdle) or one whose first request has not arrived (http.StateNew). Closing it costs a
//     legitimate client at most a reconnect;
//  2. otherwise the one longest in a request whose sender has not proven itself: headers read, body still
//     arriving or the signature not checked yet (a trickling sender sits here, bounded by ReadTimeout);
//  3. never one whose request carried a valid signature (see markVerified): that is Meta, mid-commit.
//
// Only when every connection is in (3) is the new one refused (closed at once). The newest connections
// are the last to go, and a client that sends its request promptly leaves (1) within a millisecond, so a
// flood of connections cannot crowd out a delivery that is actually being made.

// connPhase orders connections for eviction, the lowest first.
type connPhase uint8

const (
	connWaiting    connPhase = iota // no request in progress (StateNew, StateIdle)
	connUnverified                  // a request in progress, sender not verified
	connVerified                    // a request with a valid signature: never evicted
)

// Reasons a connection was shed, the values of the reason label.
const (
	ShedEvictedIdle       = "evicted_idle"
	ShedEvictedUnverified = "evicted_unverified"
	ShedRefused           = "refused"
)

var shedReasons = []string{ShedEvictedIdle, ShedEvictedUnverified, ShedRefused}

// connLimiter is a net.Listener that keeps at most max connections open, evicting as described above.
// Its connState must be the http.Server's ConnState and its connContext the server's ConnContext.
type connLimiter struct {
	net.Listener
	max    int
	now    func() time.Time
	onShed func(reason string)   // counts a shed connection
	onOpen func(open int)        // reports the open connections after each change
	mu     sync.Mutex            // guards conns and every limitedConn's phase and since
	conns  map[*limitedConn]bool // the open connections
}

// limitedConn is a connection accepted by a connLimiter.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	phase connPhase
	since time.Time // when phase began
}

func newConnLimiter(ln net.Listener, maxConns int, onShed func(string), onOpen func(int)) *connLimiter {
	return &connLimiter{Listener: ln, max: maxConns, now: time.Now, onShed: onShed, onOpen: onOpen,
		conns: make(map[*limitedConn]bool, maxConns)}
}

// Accept returns the next connection, having made room for it; a connection that finds no room is closed
// and the next one accepted.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		victim, reason, ok := l.admit(lc)
		if victim != nil {
			_ = victim.Conn.Close() // its server goroutine sees the error and reports StateClosed
		}
		if reason != "" {
			l.onShed(reason)
		}
		if ok {
			return lc, nil
		}
		_ = c.Close()
	}
}

// admit registers c, evicting another connection if the cap is reached. It returns the connection to
// close and why, or ok false when c must be refused.
func (l *connLimiter) admit(c *limitedConn) (victim *limitedConn, reason string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.conns) >= l.max {
		victim = l.victimLocked()
		if victim == nil {
			return nil, ShedRefused, false
		}
		reason = ShedEvictedIdle
		if victim.phase == connUnverified {
			reason = ShedEvictedUnverified
		}
		delete(l.conns, victim)
	}
	c.phase, c.since = connWaiting, now
	l.conns[c] = true
	l.onOpen(len(l.conns))
	return victim, reason, true
}

// victimLocked returns the connection to evict: the lowest phase below connVerified, and in it the one
// that entered it first; nil when all are verified.
func (l *connLimiter) victimLocked() *limitedConn {
	var v *limitedConn
	for c := range l.conns {
		if c.phase == connVerified {
			continue
		}
		if v == nil || c.phase < v.phase || (c.phase == v.phase && c.since.Before(v.since)) {
			v = c
		}
	}
	return v
}

func (l *connLimiter) setPhase(c *limitedConn, p connPhase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[c] && c.phase != p {
		c.phase, c.since = p, l.now()
	}
}

func (l *connLimiter) remove(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[c] {
		delete(l.conns, c)
		l.onOpen(len(l.conns))
	}
}

// Close closes the connection and forgets it.
func (c *limitedConn) Close() error {
	c.l.remove(c)
	return c.Conn.Close()
}

// connState follows the http.Server's view of each connection.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateNew, http.StateIdle:
		l.setPhase(lc, connWaiting)
	case http.StateActive:
		l.setPhase(lc, connUnverified)
	case http.StateHijacked, http.StateClosed:
		l.remove(lc)
	}
}

type connKey struct{}

// connContext puts the connection into its requests' contexts, for markVerified.
func (l *connLimiter) connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// markVerified exempts the connection of the request with ctx from eviction until its request ends: its
// sender signed it with the app secret. A no-op outside a connLimiter (the handler alone, in tests).
func markVerified(ctx context.Context) {
	if lc, ok := ctx.Value(connKey{}).(*limitedConn); ok {
		lc.l.setPhase(lc, connVerified)
	}
}
