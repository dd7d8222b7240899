-- What the public tracking page reads: unguessable tokens for submissions (stored hashed, so a
-- copy of this table opens no case), and a small projection of case and deadline events with
-- only what a resident may see. Organisations come from the organisation topic, for the form.

CREATE TABLE IF NOT EXISTS tracking_tokens (
    token_hash    text PRIMARY KEY,
    submission_id uuid        NOT NULL REFERENCES submissions (submission_id),
    issued_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tracking_tokens_submission ON tracking_tokens (submission_id);

CREATE TABLE IF NOT EXISTS tracked_cases (
    case_id       uuid PRIMARY KEY,
    submission_id uuid        NOT NULL,
    reference     text        NOT NULL,
    stage         integer     NOT NULL,
    status        text        NOT NULL,
    ending        text,
    opened_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tracked_cases_submission ON tracked_cases (submission_id);

CREATE TABLE IF NOT EXISTS tracked_deadlines (
    deadline_id uuid PRIMARY KEY,
    case_id     uuid    NOT NULL,
    kind        text    NOT NULL,
    stage       integer NOT NULL,
    state       text    NOT NULL,
    due_on      date
);
CREATE INDEX IF NOT EXISTS tracked_deadlines_case ON tracked_deadlines (case_id);

CREATE TABLE IF NOT EXISTS organisations (
    organisation_id text PRIMARY KEY,
    name            text  NOT NULL,
    service_areas   jsonb NOT NULL DEFAULT '[]'
);
