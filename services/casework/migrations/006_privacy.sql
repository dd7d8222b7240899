-- Personal data (issue 8): whose case it is, when it closed (for retention), and when its
-- person was erased; each organisation's retention period.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS person_id uuid;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS closed_at timestamptz;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS erased_at timestamptz;
CREATE INDEX IF NOT EXISTS cases_person ON cases (person_id);
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS retention_years integer NOT NULL DEFAULT 6;
