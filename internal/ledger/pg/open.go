package pgledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenFile connects to the DSN held in file (a mounted Secret) and migrates the schema. The DSN, which
// may carry a password, never appears in an error: a DSN that does not parse is reported as such.
func OpenFile(ctx context.Context, file string, maxConns int32) (*pgxpool.Pool, error) {
	b, err := os.ReadFile(file) //nolint:gosec // G304: the path is the operator's own flag (a mounted Secret)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger DSN file: %w", err)
	}
	return Open(ctx, strings.TrimSpace(string(b)), maxConns)
}

// Open connects to dsn and migrates the schema; see OpenFile.
func Open(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("the ledger DSN does not parse (a postgres:// URL or key=value pairs)")
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the PostgreSQL pool: %w", clean(err))
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// clean strips an error of everything a connection string could leak: a server error keeps its code
// and message, a connection failure the network error only (address, never user, database or password).
func clean(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &cleanError{msg: fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code), cause: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &cleanError{msg: "PostgreSQL did not answer in time", cause: err}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &cleanError{msg: "PostgreSQL unreachable: " + ne.Error(), cause: err}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return &cleanError{msg: "connecting to PostgreSQL failed", cause: err}
	}
	return &cleanError{msg: fmt.Sprintf("PostgreSQL error (%T)", err), cause: err}
}

// cleanError prints only msg; errors.Is and errors.As still reach the cause (a PgError's code, a
// deadline), which this package uses and never prints.
type cleanError struct {
	msg   string
	cause error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.cause }
