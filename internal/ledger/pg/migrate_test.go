package pgledger

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mmelink/operator/internal/pgtest"
)

func rawPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// An older release left the schema at version 1 with events in it; two replicas of this release start
// at once. Both must come up, the migrations must be applied once each, and the old rows must stay.
func TestMigrateFromOlderVersionWithTwoReplicasAtOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	old := rawPool(t, dsn)
	if err := migrateTo(ctx, old, 1); err != nil {
		t.Fatal(err)
	}
	if v, err := Version(ctx, old); err != nil || v != 1 {
		t.Fatalf("version after migrating to 1 = %d, %v", v, err)
	}
	if _, err := old.Exec(ctx, `INSERT INTO mmelink_counts VALUES ('6b1c5bd4-0000-4000-8000-000000000001', '2026-11-30', 'referral', 'SHORTLINK', 'summer', 7, now(), now())`); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := Open(ctx, dsn, 4)
			if err == nil {
				pool.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	var applied, n int
	if err := old.QueryRow(ctx, "SELECT count(*) FROM mmelink_schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != SchemaVersion() {
		t.Errorf("migrations recorded = %d, want %d (each once)", applied, SchemaVersion())
	}
	if err := old.QueryRow(ctx, "SELECT n FROM mmelink_counts").Scan(&n); err != nil || n != 7 {
		t.Errorf("the old count = %d, %v; want 7", n, err)
	}
	if _, err := old.Exec(ctx, "SELECT token_key FROM mmelink_tokens LIMIT 0"); err != nil {
		t.Errorf("version 2's table is missing: %v", err)
	}
}

// A binary must not write into a schema newer than it knows.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	p := rawPool(t, dsn)
	if err := Migrate(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, "INSERT INTO mmelink_schema_migrations (version, name) VALUES ($1, 'from the future')", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	err := Migrate(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Migrate on a newer schema = %v, want a refusal", err)
	}
}

// Errors never carry the DSN, whose password is a secret.
func TestOpenErrorsDoNotEchoTheDSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://mmelink:s3cr3t-pw@127.0.0.1:1/ledger?sslmode=disable", // nothing listens on port 1
		"postgres://mmelink:s3cr3t-pw@127.0.0.1:99999999/ledger",          // does not parse
		"host=127.0.0.1 port=1 user=mmelink password=s3cr3t-pw dbname=ledger sslmode=disable",
	} {
		_, err := Open(ctx, dsn, 1)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") || strings.Contains(err.Error(), "mmelink:") {
			t.Errorf("error echoes the DSN: %v", err)
		}
	}
}
