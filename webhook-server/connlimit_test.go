package webhookserver

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// chanListener is a net.Listener whose connections are handed to it by the test.
type chanListener struct{ conns chan net.Conn }

func (l chanListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l chanListener) Close() error   { return nil }
func (l chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// limiterUnderTest is a connLimiter of max connections on a test clock that advances a second per
// connection state change, with what it shed.
type limiterUnderTest struct {
	*connLimiter
	in   chan net.Conn
	shed []string
	open int
}

func newLimiterUnderTest(maxConns int) *limiterUnderTest {
	lt := &limiterUnderTest{in: make(chan net.Conn, 1)}
	lt.connLimiter = newConnLimiter(chanListener{lt.in}, maxConns,
		func(r string) { lt.shed = append(lt.shed, r) }, func(n int) { lt.open = n })
	clock := time.Unix(0, 0)
	lt.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	return lt
}

// dial makes a connection, has the limiter accept it and returns the server side and the client side.
func (lt *limiterUnderTest) dial(t *testing.T) (*limitedConn, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	lt.in <- server
	c, err := lt.Accept()
	if err != nil {
		t.Fatal(err)
	}
	lc := c.(*limitedConn)
	lt.connState(lc, http.StateNew)
	return lc, client
}

// closed reports whether the server side of c was closed (its client reads EOF).
func closed(client net.Conn) bool {
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := client.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestConnLimiterEvictsIdleFirstThenUnverifiedNeverVerified(t *testing.T) {
	lt := newLimiterUnderTest(3)
	verified, cv := lt.dial(t)
	lt.connState(verified, http.StateActive)
	markVerified(lt.connContext(context.Background(), verified))
	unverified, cu := lt.dial(t)
	lt.connState(unverified, http.StateActive) // headers read, body arriving
	idle, ci := lt.dial(t)
	lt.connState(idle, http.StateActive)
	lt.connState(idle, http.StateIdle) // answered, kept alive

	// Full: the fourth evicts the idle one, though it is the youngest of the three.
	_, c4 := lt.dial(t)
	if !closed(ci) || closed(cu) || closed(cv) {
		t.Fatalf("after the 4th connection: idle closed %v, unverified %v, verified %v; want only the idle one",
			closed(ci), closed(cu), closed(cv))
	}
	// Now the 4th (StateNew, no request yet) is the one waiting: the 5th evicts it.
	_, c5 := lt.dial(t)
	if !closed(c4) || closed(cu) {
		t.Fatal("5th connection: want the header-less 4th evicted, not the unverified one")
	}
	// The 5th sends its request; with nothing waiting, the 6th evicts the oldest unverified: the old one.
	lt.connState(lt.newest(t), http.StateActive)
	_, _ = lt.dial(t)
	if !closed(cu) || closed(c5) || closed(cv) {
		t.Fatal("6th connection: want the older unverified connection evicted, the newer one and the verified one kept")
	}
	want := []string{ShedEvictedIdle, ShedEvictedIdle, ShedEvictedUnverified}
	if len(lt.shed) != len(want) {
		t.Fatalf("shed %v, want %v", lt.shed, want)
	}
	for i := range want {
		if lt.shed[i] != want[i] {
			t.Errorf("shed %v, want %v", lt.shed, want)
		}
	}
	if lt.open != 3 {
		t.Errorf("open connections reported %d, want 3", lt.open)
	}
}

func TestConnLimiterRefusesWhenEveryConnectionIsVerified(t *testing.T) {
	lt := newLimiterUnderTest(2)
	for range 2 {
		c, _ := lt.dial(t)
		lt.connState(c, http.StateActive)
		markVerified(lt.connContext(context.Background(), c))
	}
	server, client := net.Pipe()
	defer client.Close()
	lt.in <- server
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lt.Accept() // refuses this one, then waits for the next
		accepted <- c
	}()
	if !closed(client) {
		t.Error("a connection beyond the cap of verified ones was not refused")
	}
	// A closed connection makes room again.
	for c := range lt.conns {
		_ = c.Close()
		break
	}
	next, nextClient := net.Pipe()
	defer nextClient.Close()
	lt.in <- next
	select {
	case c := <-accepted:
		if c == nil {
			t.Fatal("Accept failed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted once one closed")
	}
	if len(lt.shed) != 1 || lt.shed[0] != ShedRefused {
		t.Errorf("shed %v, want [%s]", lt.shed, ShedRefused)
	}
}

// newest returns the connection that entered its phase last.
func (lt *limiterUnderTest) newest(t *testing.T) *limitedConn {
	t.Helper()
	var n *limitedConn
	for c := range lt.conns {
		if n == nil || c.since.After(n.since) {
			n = c
		}
	}
	return n
}
