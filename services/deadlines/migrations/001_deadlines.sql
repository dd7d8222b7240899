-- Durable deadlines: a timer is a row, so a restart loses none.
CREATE TABLE IF NOT EXISTS deadlines (
    deadline_id  uuid PRIMARY KEY,
    case_id      uuid        NOT NULL,
    kind         text        NOT NULL,
    stage        integer     NOT NULL,
    procedure    text        NOT NULL,
    counts_from  date        NOT NULL,
    working_days integer     NOT NULL,
    due_on       date        NOT NULL,
    -- end of the due day in Europe/London: what a scheduler compares the clock with
    due_at       timestamptz NOT NULL,
    state        text        NOT NULL DEFAULT 'pending',
    provisional  boolean     NOT NULL,
    clause       text        NOT NULL,
    explanation  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (case_id, kind, stage)
);
CREATE INDEX IF NOT EXISTS deadlines_pending_due ON deadlines (due_at) WHERE state = 'pending';
