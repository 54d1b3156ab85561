// Package webhookserver is the HTTP side of the Messenger webhook receiver: it answers Meta's verification
// handshake, verifies and parses deliveries, attributes each event to the MessengerLink or
// NotificationTopic it belongs to (through the manager's cache and the field indexes of internal/index),
// and hands the attributed events to a status.Writer. A delivery is acknowledged (200) only once the
// Writer has stored it; otherwise the answer is 503 and Meta delivers it again.
package webhookserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pagehealth"
	"github.com/mmelink/operator/internal/status"
)

// Defaults of Options.
const (
	DefaultAddr = ":8090"
	// DefaultMaxBodyBytes is far above Meta's batches (at most 1,000 updates of about 1 KiB each).
	DefaultMaxBodyBytes int64 = 4 << 20
	// DefaultCommitTimeout leaves a margin under the 5 seconds within which Meta wants its 200.
	DefaultCommitTimeout = 3 * time.Second
	// DefaultMaxBodyBytesInFlight caps the bodies buffered at once, across connections: five bodies at
	// the default limit (each holds up to 1.5 times its size for a moment as its buffer grows), thousands
	// of Meta's usual ones, and an eighth of the Deployment's 256 MiB. Under TestHostileClients' attack
	// the pod peaks at about 165 MiB with it; with 64 MiB it came within 10 to 50 MiB of its limit.
	DefaultMaxBodyBytesInFlight int64 = 32 << 20
	// DefaultIdleTimeout closes keep-alive connections that carry nothing for that long. Short, since an
	// idle connection costs memory and a slot under MaxConnections; a proxy in front that keeps upstream
	// connections longer (nginx: 60 s) only reconnects, but set it above the proxy's if the proxy does not
	// retry a POST on a connection closed under it.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultShutdownTimeout lets in-flight deliveries finish their commit, and stays under the
	// manager's default graceful shutdown timeout (30s).
	DefaultShutdownTimeout = 10 * time.Second
)

// Limits of the HTTP server. Senders are Meta's webhook clients, which send small headers and bodies
// promptly; the limits keep a slow or hostile client from holding a connection or memory for long.
// ReadTimeout, counted from the start of reading a request, is also its body's deadline: a body
// trickled slower than the limit in ReadTimeout is cut off (Meta sends at most a few MiB, at data-centre
// speed).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	maxHeaderBytes    = 64 << 10
	// writeSlack is added to ReadTimeout and the commit timeout for WriteTimeout: the response must never
	// be cut off while the handler is still within its deadline.
	writeSlack = 5 * time.Second
)

// Options configure a Server. AppSecret, VerifyToken, Reader and Writer are required.
type Options struct {
	// Addr is the address Start listens on; DefaultAddr when empty.
	Addr string
	// AppSecret is the Meta app secret that signs deliveries (X-Hub-Signature-256).
	AppSecret []byte
	// VerifyToken is the token Meta sends in the verification handshake.
	VerifyToken []byte
	// Reader reads MessengerLinks and NotificationTopics; normally the manager's cache, which must have the
	// field indexes of index.Setup.
	Reader client.Reader
	// Writer stores attributed events.
	Writer status.Writer
	// Registerer receives the metrics; nil leaves them unregistered. The manager's is
	// sigs.k8s.io/controller-runtime/pkg/metrics.Registry.
	Registerer prometheus.Registerer
	// MaxBodyBytes caps a delivery's body; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// MaxBodyBytesInFlight caps the bytes of bodies buffered at once, counted as they arrive; a request
	// that finds no room within a moment gets 503. DefaultMaxBodyBytesInFlight when 0; at least
	// twice MaxBodyBytes.
	MaxBodyBytesInFlight int64
	// MaxConnections caps the open connections; at the cap a new one evicts an idle or unverified one
	// (see connlimit.go). DefaultMaxConnections when 0.
	MaxConnections int
	// IdleTimeout closes keep-alive connections idle that long; DefaultIdleTimeout when 0.
	IdleTimeout time.Duration
	// CommitTimeout bounds resolving and storing a delivery, counted from the moment its request reached
	// the handler; DefaultCommitTimeout when 0.
	CommitTimeout time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests once Start's context is done;
	// DefaultShutdownTimeout when 0.
	ShutdownTimeout time.Duration
	// Ready reports whether the Reader's cache has synced; deliveries are answered 503 until it does.
	// nil means always ready.
	Ready func() bool
	// Health, when set, records per Page the deliveries answered 200 and those refused, for the
	// MessengerPage watchdog (internal/pagehealth).
	Health *pagehealth.Tracker
	// Logger receives the server's logs; none of them holds a secret or a person's ID.
	Logger logr.Logger
}

// Server is the webhook receiver. Create it with New and run it with Start (as a manager.Runnable) or Serve.
type Server struct {
	addr            string
	signatures      *delivery.Verifier
	verifyTokenHash [sha256.Size]byte
	reader          client.Reader
	writer          status.Writer
	maxBodyBytes    int64
	maxConns        int
	idleTimeout     time.Duration
	bodies          *bodyBuffers
	commitTimeout   time.Duration
	shutdownTimeout time.Duration
	ready           func() bool
	health          *pagehealth.Tracker
	log             logr.Logger
	metrics         *metrics
	results         map[string]resultMetrics
	draining        atomic.Bool
}

var (
	_ manager.Runnable               = (*Server)(nil)
	_ manager.LeaderElectionRunnable = (*Server)(nil)
)

// New checks o, fills in its defaults and registers the metrics.
func New(o Options) (*Server, error) {
	switch {
	case len(o.AppSecret) == 0:
		return nil, errors.New("webhook server: no app secret")
	case len(o.VerifyToken) == 0:
		return nil, errors.New("webhook server: no verify token")
	case o.Reader == nil:
		return nil, errors.New("webhook server: no Reader")
	case o.Writer == nil:
		return nil, errors.New("webhook server: no Writer")
	case o.MaxBodyBytes < 0, o.MaxBodyBytesInFlight < 0, o.MaxConnections < 0,
		o.CommitTimeout < 0, o.ShutdownTimeout < 0, o.IdleTimeout < 0:
		return nil, errors.New("webhook server: negative limit or timeout")
	}
	maxBody := orDefault(o.MaxBodyBytes, DefaultMaxBodyBytes)
	inFlight := orDefault(o.MaxBodyBytesInFlight, DefaultMaxBodyBytesInFlight)
	if inFlight < 2*maxBody {
		// Growing into the last buffer holds it and the one before (up to maxBody) for a moment.
		return nil, fmt.Errorf("webhook server: body bytes in flight (%d) under twice the body limit (%d): a body that large could not be read",
			inFlight, maxBody)
	}
	signatures, err := delivery.NewVerifier(o.AppSecret)
	if err != nil {
		return nil, fmt.Errorf("webhook server: %w", err)
	}
	bud := newBudget(inFlight)
	s := &Server{
		addr:            orDefault(o.Addr, DefaultAddr),
		signatures:      signatures,
		verifyTokenHash: sha256.Sum256(o.VerifyToken),
		reader:          o.Reader,
		writer:          o.Writer,
		maxBodyBytes:    maxBody,
		maxConns:        orDefault(o.MaxConnections, DefaultMaxConnections),
		idleTimeout:     orDefault(o.IdleTimeout, DefaultIdleTimeout),
		bodies:          newBodyBuffers(maxBody, bud),
		commitTimeout:   orDefault(o.CommitTimeout, DefaultCommitTimeout),
		shutdownTimeout: orDefault(o.ShutdownTimeout, DefaultShutdownTimeout),
		ready:           o.Ready,
		health:          o.Health,
		log:             o.Logger,
	}
	m := newMetrics(o.Registerer, bud)
	s.metrics = m
	s.results = make(map[string]resultMetrics, len(deliveryResults))
	for _, r := range deliveryResults {
		s.results[r] = resultMetrics{count: m.deliveries.WithLabelValues(r), duration: m.duration.WithLabelValues(r)}
	}
	return s, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// NeedLeaderElection is false: every replica receives deliveries.
func (s *Server) NeedLeaderElection() bool { return false }

// Handler returns the server's routes: /webhook, /healthz and /readyz.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.route) }

// Start listens on Options.Addr and serves until ctx is done; see Serve.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("webhook server: listening: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully: /readyz turns 503, the listener closes,
// and in-flight requests get up to ShutdownTimeout to finish. It returns nil after a clean shutdown. A
// Server serves once: it stays draining afterwards. At most MaxConnections connections are open at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	lim := newConnLimiter(ln, s.maxConns, s.metrics.shedConn, s.metrics.setOpenConns)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      readTimeout + s.commitTimeout + writeSlack,
		IdleTimeout:       s.idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         lim.connState,
		ConnContext:       lim.connContext,
		// Connection-level errors (bad TLS, broken clients) come from senders: debug level.
		ErrorLog: log.New(logWriter{s.log.V(1)}, "", 0),
		// Request contexts do not derive from ctx: a delivery in flight when shutdown begins still
		// commits and gets its 200.
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lim) }()
	s.log.Info("serving webhooks", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("webhook server: serving: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down webhook server", "timeout", s.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) { // what Serve returns once Shutdown has begun
		s.log.Error(serr, "webhook server stopped serving with an unexpected error")
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("webhook server: in-flight requests not finished within %s: %w", s.shutdownTimeout, err)
	}
	return nil
}

// ReadyCheck is a healthz.Checker for the manager's readiness probe: ready once the cache has synced,
// not ready again while draining.
func (s *Server) ReadyCheck(_ *http.Request) error {
	switch {
	case s.draining.Load():
		return errors.New("webhook server is shutting down")
	case !s.cacheReady():
		return errors.New("webhook server cache not synced yet")
	}
	return nil
}

func (s *Server) cacheReady() bool { return s.ready == nil || s.ready() }

// logWriter turns the http.Server's error log lines into logr lines.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.log.Info(msg)
	return len(p), nil
}
