-- 0006: status indexes on the states a delivery leaves, not on all of them.
-- Each delivery goes queued -> sending -> sent, and every change of status
-- rewrote an entry in two full indexes that lead with status
-- (deliveries_status_date and deliveries_claim): eight index writes per
-- message, scattered over pages, on the send pass's hot path. Partial
-- indexes hold only the rows in their state, so a claim moves one entry
-- from deliveries_queued (0005) to deliveries_sending, and a delivery that
-- ends sent leaves every status index. Sent rows, almost all of the table,
-- are found by subscriber (the unique index), by date (deliveries_date) or
-- by brief (delivery_briefs_brief), never by status.
--
-- A partial index only serves a query whose WHERE names the state as a
-- literal ('sending', not ?): the Go code writes these states as constants.

DROP INDEX deliveries_status_date;
DROP INDEX deliveries_claim;

-- Recovery of deliveries left mid-send, and per-day counts of them.
CREATE INDEX deliveries_sending ON deliveries (digest_date) WHERE status = 'sending';

-- Deferred deliveries whose next attempt has come, taken in (due_at, id)
-- order as the claim index gave them before.
CREATE INDEX deliveries_deferred ON deliveries (next_attempt_at, due_at, id) WHERE status = 'deferred';

-- Deliveries that ended without being sent, for an operator to list, count
-- and re-queue by status and date. Written as ORs, not IN: SQLite sees that
-- status = 'failed' implies one arm of an OR, but not membership of a list.
CREATE INDEX deliveries_stopped ON deliveries (status, digest_date)
    WHERE status = 'failed' OR status = 'expired' OR status = 'suppressed';
