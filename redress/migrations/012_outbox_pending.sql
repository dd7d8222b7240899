-- What the relay has still to publish, one row per outbox row, deleted once the broker has it.
-- Marking the outbox row itself (its published_at, in the predicate of a partial index) was
-- never a HOT update: each published event wrote a second copy of its ~1 KB row, two more
-- index entries and a dead tuple for vacuum, about 1.2 KB of WAL per event. Inserting and
-- deleting a position here costs a small fraction of that, and the outbox is never updated.
CREATE TABLE IF NOT EXISTS outbox_pending (
    position bigint PRIMARY KEY
);
INSERT INTO outbox_pending (position)
SELECT position FROM outbox WHERE published_at IS NULL
ON CONFLICT DO NOTHING;
ALTER TABLE outbox DROP COLUMN IF EXISTS published_at;
