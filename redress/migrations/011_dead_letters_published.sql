-- when a dead letter reached its topic: a poll retried after an infrastructure error hands the
-- same bad message to the sink again, and one already published must not be published twice
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS published_at timestamptz;
UPDATE dead_letters SET published_at = dead_lettered_at WHERE published_at IS NULL;
