-- Every case event asks whether events wait parked for its case: find them by case, not by
-- reading the whole table.
CREATE INDEX IF NOT EXISTS parked_case_events_case ON parked_case_events (case_id);
