-- 0004: removing briefs. A brief that no delivery record references is
-- deleted outright; one that a delivery carried (sent, failed, expired...)
-- must stay, or delivery_briefs would point at nothing and the ledger would
-- no longer say what a reader received. Such a brief is marked removed
-- instead: no later digest carries it and listings hide it. Re-adding a
-- brief with the same slug clears the mark.

ALTER TABLE briefs ADD COLUMN removed_at TEXT;
