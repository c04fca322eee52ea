-- 0001: briefs with their signals and sources, subscribers with their
-- regions, and deliveries with the briefs they carry.
--
-- Conventions (relied on by the Go code in package sqlite):
--   * Instants are TEXT in UTC, fixed width with nine fractional digits:
--     2006-01-02T15:04:05.000000000Z. Fixed width makes text order equal
--     time order, so comparisons and ORDER BY work in SQL, and the value
--     round-trips to the nanosecond. NULL means "never" (zero time.Time).
--   * Ordered lists (signals, sources, regions, brief ids) live in child
--     tables keyed by (parent, position), so their order is data.
--   * Statuses reference small lookup tables instead of CHECK lists: a later
--     migration adds a state with one INSERT instead of rebuilding a table
--     that other tables reference.

CREATE TABLE briefs (
    id            INTEGER PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE CHECK (slug <> ''),
    region        TEXT NOT NULL CHECK (region <> ''),
    headline      TEXT NOT NULL,
    lede          TEXT NOT NULL DEFAULT '',
    body          TEXT NOT NULL DEFAULT '',
    author        TEXT NOT NULL DEFAULT '',
    published_at  TEXT NOT NULL,
    -- The image is optional: image_url IS NULL means no image; the other
    -- image columns are then NULL too.
    image_url     TEXT,
    image_alt     TEXT,
    image_caption TEXT,
    image_credit  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- The digest pass asks "briefs of these regions published in (after, upTo],
-- newest first": served by this index without a sort.
CREATE INDEX briefs_region_published ON briefs (region, published_at, id);
-- Listing all regions newest first.
CREATE INDEX briefs_published ON briefs (published_at, id);

CREATE TABLE brief_signals (
    brief_id INTEGER NOT NULL REFERENCES briefs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL CHECK (position >= 0),
    title    TEXT NOT NULL,
    body     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (brief_id, position)
) WITHOUT ROWID;

CREATE TABLE signal_sources (
    brief_id        INTEGER NOT NULL,
    signal_position INTEGER NOT NULL,
    position        INTEGER NOT NULL CHECK (position >= 0),
    name            TEXT NOT NULL,
    url             TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (brief_id, signal_position, position),
    FOREIGN KEY (brief_id, signal_position)
        REFERENCES brief_signals (brief_id, position) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE subscriber_states (
    status TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO subscriber_states (status) VALUES
    ('pending'), ('active'), ('unsubscribed'), ('bounced');

CREATE TABLE subscribers (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL CHECK (email <> ''),
    -- email_key is the address as compared: Unicode-lowercased and NFC-
    -- normalised in Go (SQLite's lower() only folds ASCII). Changing how the
    -- key is computed needs a migration that recomputes it.
    email_key  TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL DEFAULT '',
    time_zone  TEXT NOT NULL DEFAULT '',
    send_time  TEXT NOT NULL CHECK (send_time GLOB '[0-2][0-9]:[0-5][0-9]'),
    status     TEXT NOT NULL REFERENCES subscriber_states (status),
    -- The cut-off of the last digest sent; NULL before the first one. Only
    -- MarkDeliverySent moves it, and only forward.
    watermark  TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX subscribers_status ON subscribers (status, id);

CREATE TABLE subscriber_regions (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL CHECK (position >= 0),
    region        TEXT NOT NULL CHECK (region <> ''),
    PRIMARY KEY (subscriber_id, position),
    UNIQUE (subscriber_id, region)
) WITHOUT ROWID;

CREATE INDEX subscriber_regions_region ON subscriber_regions (region, subscriber_id);

CREATE TABLE delivery_states (
    status TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO delivery_states (status) VALUES ('queued'), ('sent'), ('failed');

CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
    digest_date   TEXT NOT NULL
        CHECK (digest_date GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]'),
    message_id    TEXT NOT NULL UNIQUE CHECK (message_id <> ''),
    status        TEXT NOT NULL REFERENCES delivery_states (status),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error         TEXT NOT NULL DEFAULT '',
    cutoff        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    sent_at       TEXT,
    -- One digest per reader per local day, whatever happens to the process.
    UNIQUE (subscriber_id, digest_date)
);

CREATE INDEX deliveries_status_date ON deliveries (status, digest_date);
CREATE INDEX deliveries_date ON deliveries (digest_date);

CREATE TABLE delivery_briefs (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL CHECK (position >= 0),
    brief_id    INTEGER NOT NULL REFERENCES briefs (id),
    PRIMARY KEY (delivery_id, position),
    UNIQUE (delivery_id, brief_id)
) WITHOUT ROWID;

-- Lets a brief's deliveries be found, and keeps the foreign key check on
-- briefs cheap.
CREATE INDEX delivery_briefs_brief ON delivery_briefs (brief_id);
