-- Deadlines as a projection of each case's deadline events, plus the case facts the rules
-- need, durable timers, and case events parked until their case is known.
ALTER TABLE deadlines DROP CONSTRAINT IF EXISTS deadlines_case_id_kind_stage_key;
ALTER TABLE deadlines ALTER COLUMN due_on DROP NOT NULL;
ALTER TABLE deadlines ALTER COLUMN due_at DROP NOT NULL;
ALTER TABLE deadlines ADD COLUMN IF NOT EXISTS organisation_id text;
ALTER TABLE deadlines ADD COLUMN IF NOT EXISTS part_id text;
ALTER TABLE deadlines ADD COLUMN IF NOT EXISTS paused_remaining integer;
ALTER TABLE deadlines ADD COLUMN IF NOT EXISTS extension_days integer NOT NULL DEFAULT 0;
ALTER TABLE deadlines ADD COLUMN IF NOT EXISTS met_on date;
ALTER TABLE deadlines ADD COLUMN IF NOT EXISTS updated_at timestamptz;
CREATE INDEX IF NOT EXISTS deadlines_case ON deadlines (case_id);
CREATE INDEX IF NOT EXISTS deadlines_org_open ON deadlines (organisation_id, due_on)
    WHERE state IN ('pending', 'missed');

CREATE TABLE IF NOT EXISTS deadline_cases (
    case_id         uuid PRIMARY KEY,
    organisation_id text        NOT NULL,
    procedure       text        NOT NULL,
    kind            text        NOT NULL,
    received_at     timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS timers (
    timer_id     bigserial PRIMARY KEY,
    deadline_id  uuid        NOT NULL,
    case_id      uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('approaching', 'missed')),
    due_on       date        NOT NULL,
    fire_at      timestamptz NOT NULL,
    fired_at     timestamptz,
    cancelled_at timestamptz,
    UNIQUE (deadline_id, kind, due_on)
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (fire_at)
    WHERE fired_at IS NULL AND cancelled_at IS NULL;

CREATE TABLE IF NOT EXISTS parked_case_events (
    id        bigserial PRIMARY KEY,
    case_id   uuid  NOT NULL,
    envelope  jsonb NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE organisation_calendars ADD COLUMN IF NOT EXISTS reminder_working_days integer
    NOT NULL DEFAULT 2;
ALTER TABLE organisation_calendars ADD COLUMN IF NOT EXISTS stricter_timescales jsonb
    NOT NULL DEFAULT '[]';
