-- Why a complaint was not accepted, for the returns that count refusals by reason.
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS not_accepted_reason text;
