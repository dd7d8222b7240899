-- Events by the case or submission they are about, whatever the stream: what a subject access
-- export reads (redress/privacy.py) from every service's event store.
CREATE INDEX IF NOT EXISTS events_by_case ON events ((payload ->> 'case_id'));
CREATE INDEX IF NOT EXISTS events_by_submission ON events ((payload ->> 'submission_id'));
