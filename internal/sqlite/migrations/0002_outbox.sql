-- 0002: the outbox. Deliveries gain the states of a worker-driven send
-- (sending, deferred, expired, suppressed), the reader's due time (for the
-- lateness guard), the next attempt of a deferred delivery and who claimed
-- it; every transition is kept in delivery_events. A lease row lets only one
-- process send from a database at a time. Subscribers count soft bounces;
-- suppressions keep addresses that must never be mailed again.

INSERT INTO delivery_states (status) VALUES
    ('sending'), ('deferred'), ('expired'), ('suppressed');

-- The reader's local send time that day, UTC; NULL for deliveries planned
-- before this migration (they are never expired).
ALTER TABLE deliveries ADD COLUMN due_at TEXT;
-- When a deferred delivery may be tried again; NULL otherwise.
ALTER TABLE deliveries ADD COLUMN next_attempt_at TEXT;
-- Who claimed it last ("host:pid"), for operators reading a crash.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';

-- Workers claim the oldest due work first: queued rows by due time, and
-- deferred rows whose next attempt has come.
CREATE INDEX deliveries_claim ON deliveries (status, next_attempt_at, due_at, id);

CREATE TABLE delivery_events (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    from_status TEXT NOT NULL DEFAULT '',
    to_status   TEXT NOT NULL REFERENCES delivery_states (status),
    reason      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX delivery_events_delivery ON delivery_events (delivery_id, id);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL CHECK (holder <> ''),
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

ALTER TABLE subscribers ADD COLUMN soft_bounces INTEGER NOT NULL DEFAULT 0 CHECK (soft_bounces >= 0);

-- Addresses that must not be mailed (complaints, and later erasure). Keyed
-- like subscribers.email_key so a re-added address is still found.
CREATE TABLE suppressions (
    email_key  TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
