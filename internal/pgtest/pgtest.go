// Package pgtest gives tests a real PostgreSQL: the one `make test` starts (MMELINK_TEST_PG_DSN), or, when
// that is unset, one it starts itself with hack/postgres.sh, so that `go test ./internal/ledger/...`
// works alone. A test that needs PostgreSQL fails when none can be had; it is never skipped.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mmelink/operator/internal/testenv"
)

// EnvDSN names the variable that hack/postgres.sh run sets.
const EnvDSN = "MMELINK_TEST_PG_DSN"

// Server is a PostgreSQL server in a temporary directory.
type Server struct {
	DSN string
	dir string
}

func script() string { return filepath.Join(testenv.RepoRoot(), "hack", "postgres.sh") }

// Start starts a private server, stopped and removed when the test ends. Tests that stop and start the
// server (outages) use their own, never the shared one.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command(script(), "stop", s.dir).Run() }) //nolint:gosec // G204: the repository's own script
	return s
}

func start() (*Server, error) {
	dir, err := os.MkdirTemp("", "mmelink-pg-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory for PostgreSQL: %w", err)
	}
	out, err := exec.Command(script(), "start", dir).Output() //nolint:gosec // G204: the repository's own script
	if err != nil {
		msg := ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg = string(ee.Stderr)
		}
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting PostgreSQL (hack/postgres.sh): %w: %s", err, msg)
	}
	return &Server{DSN: strings.TrimSpace(string(out)), dir: dir}, nil
}

// Halt stops the server as a crash would; Resume starts it again on the same port.
func (s *Server) Halt(t testing.TB) { s.ctl(t, "halt") }

// Resume starts a halted server.
func (s *Server) Resume(t testing.TB) { s.ctl(t, "resume") }

func (s *Server) ctl(t testing.TB, verb string) {
	t.Helper()
	if out, err := exec.Command(script(), verb, s.dir).CombinedOutput(); err != nil { //nolint:gosec // G204: the repository's own script
		t.Fatalf("postgres.sh %s: %v: %s", verb, err, out)
	}
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Run runs the package's tests, stops the server Shared started, if any, and returns the exit code.
// Use it in TestMain: os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil && shared.dir != "" {
		_ = exec.Command(script(), "stop", shared.dir).Run() //nolint:gosec // G204: the repository's own script
	}
	return code
}

// Shared returns the test binary's shared server: MMELINK_TEST_PG_DSN, or one started once (stopped by
// Run).
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			shared = &Server{DSN: dsn}
			return
		}
		shared, sharedErr = start()
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// Database creates a fresh database on the shared server and returns its DSN; it is dropped when the test
// ends. Tests get a database each, so that they can run in parallel and see only their own rows.
func Database(t testing.TB) string { return Shared(t).Database(t) }

// Database creates a fresh database on s; see the package function.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), s.DSN)
		if err != nil {
			return // the server is gone already (a private one stopped first)
		}
		defer func() { _ = c.Close(context.Background()) }()
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(s.DSN)
	if err != nil {
		t.Fatalf("parsing the test DSN: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
