ALTER TABLE organisations ADD COLUMN IF NOT EXISTS reminder_working_days integer NOT NULL DEFAULT 2;
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS stricter_timescales jsonb NOT NULL DEFAULT '[]';
