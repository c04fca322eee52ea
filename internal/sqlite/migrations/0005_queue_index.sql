-- 0005: the send queue in claim order. Workers take queued deliveries by
-- (due_at, id); with a million queued, the general claim index would make
-- each claim sort the whole queue. This partial index holds only the queued
-- rows, already in claim order, so a claim reads just the rows it takes.

CREATE INDEX deliveries_queued ON deliveries (due_at, id) WHERE status = 'queued';
