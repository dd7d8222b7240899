-- When the case's resident was erased: no more letters to them, and what was kept is scrubbed.
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS erased_at timestamptz;
