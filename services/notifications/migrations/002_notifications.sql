-- What notifications knows of each case, gathered from casework's and deadlines' events.
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS organisation_id text;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS procedure text;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS officer text;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS phone text;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS received_at timestamptz;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS adjustments text[] NOT NULL DEFAULT '{}';
-- the unreasonable-behaviour policy: channels allowed (NULL: no restriction) and a named contact
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS allowed_channels text[];
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS contact_via text;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS restriction_flag text;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS stages jsonb NOT NULL DEFAULT '{}';
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS remedies jsonb NOT NULL DEFAULT '[]';
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS learning jsonb NOT NULL DEFAULT '[]';
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS parts jsonb NOT NULL DEFAULT '{}';
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS deadlines jsonb NOT NULL DEFAULT '{}';

CREATE TABLE IF NOT EXISTS organisations (
    organisation_id text PRIMARY KEY,
    name            text NOT NULL
);

-- Every notification once: the id comes from (case, what caused it, template, recipient).
CREATE TABLE IF NOT EXISTS notifications (
    notification_id uuid PRIMARY KEY,
    case_id         uuid        NOT NULL,
    template        text        NOT NULL,
    channel         text        NOT NULL,
    recipient       text        NOT NULL,
    audience        text        NOT NULL,  -- resident or staff
    subject         text        NOT NULL,
    html            text        NOT NULL,
    text_body       text        NOT NULL,
    pdf             bytea,
    status          text        NOT NULL,  -- queued, sent, failed, suppressed
    note            text,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_case ON notifications (case_id, created_at);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at)
    WHERE status = 'queued';

CREATE TABLE IF NOT EXISTS delivery_attempts (
    notification_id uuid        NOT NULL,
    attempt         integer     NOT NULL,
    attempted_at    timestamptz NOT NULL,
    outcome         text        NOT NULL,
    error           text,
    PRIMARY KEY (notification_id, attempt)
);
