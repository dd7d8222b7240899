-- Letters and messages that notifications sent, or gave up on, for each case: a projection of
-- the notification topic for the case page, not part of the Case aggregate. Keyed by the
-- notification and not tied to the cases table, because a NotificationSent can arrive before
-- casework has opened the case (the topics are consumed independently). Every column comes
-- from the event, never from the clock, so a rebuild from the log gives the same rows.
CREATE TABLE IF NOT EXISTS case_letters (
    notification_id uuid PRIMARY KEY,
    case_id uuid NOT NULL,
    template text NOT NULL,
    channel text NOT NULL,
    recipient text NOT NULL,
    status text NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts integer,   -- known for a failure; a NotificationSent does not say
    error text,
    happened_at timestamptz NOT NULL,
    event_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS case_letters_case ON case_letters (case_id, happened_at);
