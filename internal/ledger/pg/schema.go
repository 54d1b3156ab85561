package pgledger

// The schema, as the migrations that build it. A migration is never edited once released: a change is
// a new one. Everything stays within PostgreSQL 14 (declarative partitioning, ON CONFLICT, data-modifying
// CTEs, advisory locks).
var migrations = []migration{
	{1, "events, deltas, counts", `
-- One row: the watermark. Events older than it are late: answered 200, not counted, because the
-- partition that would tell whether they were counted may be gone.
CREATE TABLE mmelink_state (
	id        boolean PRIMARY KEY DEFAULT true CHECK (id),
	watermark timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO mmelink_state DEFAULT VALUES;

-- The objects events count for, by UID: a recreated object is a new UID and starts from zero.
CREATE TABLE mmelink_objects (
	uid        uuid PRIMARY KEY,
	kind       text NOT NULL,
	namespace  text NOT NULL,
	name       text NOT NULL,
	people     bytea,                       -- HyperLogLog of the person hashes compacted so far
	created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per event, kept for the retention: the redelivery check. Partitioned by event time, so that
-- the partition a redelivery would meet is the one its first delivery went to (a redelivery carries
-- the same timestamp), and dropping a partition below the watermark forgets only events that can no
-- longer be counted anyway.
CREATE TABLE mmelink_events (
	object_uid  uuid NOT NULL,
	fingerprint bytea NOT NULL,
	event_time  timestamptz NOT NULL,
	kind        text NOT NULL,
	source      text NOT NULL DEFAULT '',
	ref         text NOT NULL DEFAULT '',
	person      bytea,                      -- keyed hash of the PSID or user_ref, never the ID itself
	inserted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (object_uid, fingerprint, event_time)
) PARTITION BY RANGE (event_time);

-- What each commit counted, appended (never updated: no hot rows), folded into mmelink_counts by the
-- projector with DELETE ... RETURNING, so that every delta is folded exactly once. people holds the
-- person hashes of the delta's events, for the unique-people sketch.
CREATE TABLE mmelink_deltas (
	object_uid uuid NOT NULL,
	day        date NOT NULL,
	kind       text NOT NULL,
	source     text NOT NULL,
	ref        text NOT NULL,
	n          bigint NOT NULL,
	first_time timestamptz NOT NULL,
	last_time  timestamptz NOT NULL,
	people     bytea[]
);

-- The counts, per object, UTC day, kind, source and ref: kept forever (a few rows per object and day).
CREATE TABLE mmelink_counts (
	object_uid uuid NOT NULL,
	day        date NOT NULL,
	kind       text NOT NULL,
	source     text NOT NULL,
	ref        text NOT NULL,
	n          bigint NOT NULL,
	first_time timestamptz NOT NULL,
	last_time  timestamptz NOT NULL,
	PRIMARY KEY (object_uid, day, kind, source, ref)
);
`},
	{2, "opt-in tokens", `
-- Recurring-notification tokens, one row per topic and token. The token is its own idempotency key
-- (token_key, a keyed hash); the token itself is stored only encrypted (AES-256-GCM, key from a Secret).
CREATE TABLE mmelink_tokens (
	object_uid  uuid NOT NULL,
	token_key   bytea NOT NULL,
	sealed      bytea NOT NULL,
	status      text NOT NULL CHECK (status IN ('active', 'stopped')),
	event_time  timestamptz NOT NULL,       -- of the event that set status; older events are ignored
	opt_in_time timestamptz,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (object_uid, token_key)
);
`},
}
