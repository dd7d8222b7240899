-- One row per deadline (services' parts share a kind and stage), with its state.
ALTER TABLE case_deadlines DROP CONSTRAINT IF EXISTS case_deadlines_pkey;
ALTER TABLE case_deadlines ADD PRIMARY KEY (deadline_id);
ALTER TABLE case_deadlines ALTER COLUMN due_on DROP NOT NULL;
ALTER TABLE case_deadlines ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'pending';
ALTER TABLE case_deadlines ADD COLUMN IF NOT EXISTS part_id text;
CREATE INDEX IF NOT EXISTS case_deadlines_case ON case_deadlines (case_id);
