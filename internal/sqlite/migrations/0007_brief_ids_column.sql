-- 0007: a delivery's brief ids live in its own row, as a JSON array in
-- planned order (deliveries.brief_ids), not one delivery_briefs row per
-- brief. Planning a pass wrote ~15 rows per reader into three B-trees
-- (the primary key, UNIQUE (delivery_id, brief_id) and the brief index):
-- at a million readers that was 48 s of the plan's 56. One column of the
-- row it already writes costs next to nothing (measured: 77 -> 28 µs of
-- CPU per delivery for 15 briefs, every delivery index still in place).
--
-- What that gives up, and how it is kept:
--   * Finding a brief's deliveries (briefs list counts, briefs show,
--     briefs remove) had an index. brief_dates now says on which digest
--     dates a brief was planned at all: one row per brief and date (~120
--     rows a day, not 15 per reader), written with the plan. Those
--     questions read the deliveries of those dates through deliveries_date
--     and look inside brief_ids. It may list a date that no longer holds
--     the brief (taken out by briefs remove, erased readers): a superset
--     is only a wasted scan, never a wrong answer.
--   * The foreign key from each brief id to briefs: the store checks that
--     a plan's briefs exist before writing it, and a brief is deleted only
--     when no delivery holds it (briefs remove). brief_dates keeps a
--     foreign key, so a plan naming a missing brief still fails.
--   * Duplicates within a delivery (UNIQUE (delivery_id, brief_id)): the
--     store refuses them before writing (validatePlan).
--
-- delivery_briefs stays as a view with the same columns, so SQL written
-- against it (an operator's, a test's) reads the same rows; inserting into
-- it appends to the delivery's array, in position order only.

ALTER TABLE deliveries ADD COLUMN brief_ids TEXT NOT NULL DEFAULT '[]';

UPDATE deliveries SET brief_ids = (
    SELECT json_group_array(x.brief_id ORDER BY x.position)
    FROM delivery_briefs x WHERE x.delivery_id = deliveries.id)
WHERE id IN (SELECT delivery_id FROM delivery_briefs);

CREATE TABLE brief_dates (
    brief_id    INTEGER NOT NULL REFERENCES briefs (id) ON DELETE CASCADE,
    digest_date TEXT NOT NULL,
    PRIMARY KEY (brief_id, digest_date)
) WITHOUT ROWID;

INSERT INTO brief_dates (brief_id, digest_date)
SELECT DISTINCT x.brief_id, d.digest_date
FROM delivery_briefs x JOIN deliveries d ON d.id = x.delivery_id;

DROP TABLE delivery_briefs;

CREATE VIEW delivery_briefs (delivery_id, position, brief_id) AS
SELECT d.id, j.key, j.value FROM deliveries d, json_each(d.brief_ids) j;

CREATE TRIGGER delivery_briefs_insert INSTEAD OF INSERT ON delivery_briefs
BEGIN
    SELECT RAISE(ABORT, 'delivery_briefs: insert each delivery''s briefs in position order, from 0')
    WHERE NEW.position IS NOT (
        SELECT json_array_length(brief_ids) FROM deliveries WHERE id = NEW.delivery_id);
    SELECT RAISE(ABORT, 'delivery_briefs: a delivery carries a brief once')
    WHERE EXISTS (
        SELECT 1 FROM deliveries d, json_each(d.brief_ids) j
        WHERE d.id = NEW.delivery_id AND j.value = NEW.brief_id);
    UPDATE deliveries SET brief_ids = json_insert(brief_ids, '$[#]', NEW.brief_id)
    WHERE id = NEW.delivery_id;
    INSERT INTO brief_dates (brief_id, digest_date)
    SELECT NEW.brief_id, digest_date FROM deliveries WHERE id = NEW.delivery_id
    ON CONFLICT DO NOTHING;
END;
