-- 0003: consent. Every subscriber records how and when they joined, and a
-- double opt-in can expire: a new subscriber state, "expired".

INSERT INTO subscriber_states (status) VALUES ('expired');

ALTER TABLE subscribers ADD COLUMN consent_source TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN consent_at TEXT;
ALTER TABLE subscribers ADD COLUMN consent_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN consent_user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN consent_text_version TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN confirmed_at TEXT;

-- Listing by join date, and finding pending readers to expire.
CREATE INDEX subscribers_created ON subscribers (created_at, id);
