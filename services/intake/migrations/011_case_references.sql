-- A reply to the mailbox quoting a case reference finds its case in the tracking projection.
CREATE INDEX IF NOT EXISTS tracked_cases_reference ON tracked_cases (reference);
