package pgledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type migration struct {
	version int
	name    string
	sql     string
}

// SchemaVersion is the version this binary migrates to.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrateLockKey is the advisory lock that serializes migrations across replicas ("mmelink" in ASCII).
const migrateLockKey int64 = 0x6d6d656c696e6b

// Migrate brings the schema to this binary's version. Replicas starting at once take turns on an
// advisory lock; each applies, in its own transaction, only the migrations not recorded yet, so the
// second finds nothing to do. A database newer than the binary is refused: an older replica must not
// write into a schema it does not know.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrateTo(ctx, pool, SchemaVersion())
}

func migrateTo(ctx context.Context, pool *pgxpool.Pool, target int) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating the ledger schema: %w", clean(err))
	}
	defer conn.Release()
	// A session lock on one connection, released on every path (also if the connection dies).
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("waiting for the migration lock: %w", clean(err))
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey) }()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS mmelink_schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("creating mmelink_schema_migrations: %w", clean(err))
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mmelink_schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("reading the schema version: %w", clean(err))
	}
	if current > SchemaVersion() {
		return fmt.Errorf("the ledger schema is at version %d, newer than this binary's %d: upgrade the binary", current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current || m.version > target {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO mmelink_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("applying migration %d (%s): %w", m.version, m.name, clean(err))
		}
	}
	return nil
}

// Version returns the schema version recorded in the database, 0 for none.
func Version(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('mmelink_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, clean(err)
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM mmelink_schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", clean(err))
	}
	return v, nil
}
