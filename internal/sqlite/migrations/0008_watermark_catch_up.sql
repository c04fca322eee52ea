-- 0008: the send pass no longer moves each reader's watermark as it
-- records their sent digest. That UPDATE touched one subscribers page per
-- message in every ledger commit, scattered over the whole table (measured
-- on a 100,000-reader pass: the largest share of the pages a round wrote
-- besides the deliveries themselves). Instead the watermarks catch up in
-- bulk (CatchUpWatermarks): from the "sent" events appended since the last
-- catch-up, each reader once, at the start and end of a pass.
--
-- watermark_progress holds the last delivery_events id a catch-up has
-- applied. Every watermark is current when this migration runs (they were
-- moved with each sent delivery until now), so it starts at the newest
-- event.
--
-- Event ids are not AUTOINCREMENT: if the newest events are deleted
-- (erasing a reader cascades to their events), SQLite hands their ids out
-- again, and events at or below the progress mark would never be applied.
-- The trigger lowers the mark to the newest event left whenever a delete
-- drops below it; nothing below that was unapplied.

CREATE TABLE watermark_progress (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL CHECK (last_event_id >= 0)
);

INSERT INTO watermark_progress (id, last_event_id)
VALUES (1, COALESCE((SELECT MAX(id) FROM delivery_events), 0));

CREATE TRIGGER delivery_events_deleted AFTER DELETE ON delivery_events
WHEN OLD.id > COALESCE((SELECT MAX(id) FROM delivery_events), 0)
BEGIN
    UPDATE watermark_progress
    SET last_event_id = COALESCE((SELECT MAX(id) FROM delivery_events), 0)
    WHERE last_event_id > COALESCE((SELECT MAX(id) FROM delivery_events), 0);
END;
