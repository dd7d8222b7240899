-- The officers' view of each case, projected from casework's own events (and the due dates
-- deadlines sends back). The event store is the record; this is for reading.
CREATE TABLE IF NOT EXISTS cases (
    case_id         uuid PRIMARY KEY,
    reference       text        NOT NULL UNIQUE,
    submission_id   uuid        NOT NULL UNIQUE,
    kind            text        NOT NULL,
    channel         text        NOT NULL,
    organisation_id text        NOT NULL,
    service_area    text,
    procedure       text        NOT NULL,
    stage           integer     NOT NULL,
    status          text        NOT NULL,
    received_at     timestamptz NOT NULL,
    opened_at       timestamptz NOT NULL,
    complainant_name text       NOT NULL,
    summary         text        NOT NULL,
    version         integer     NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_opened ON cases (opened_at DESC);

CREATE TABLE IF NOT EXISTS case_deadlines (
    case_id      uuid    NOT NULL,
    kind         text    NOT NULL,
    stage        integer NOT NULL,
    deadline_id  uuid    NOT NULL,
    due_on       date    NOT NULL,
    provisional  boolean NOT NULL,
    clause       text    NOT NULL,
    explanation  text    NOT NULL,
    PRIMARY KEY (case_id, kind, stage)
);

-- one counter per reference prefix and year, bumped in the transaction that opens the case,
-- so numbers have no gaps and no duplicates across replicas
CREATE TABLE IF NOT EXISTS reference_counters (
    prefix text    NOT NULL,
    year   integer NOT NULL,
    last   integer NOT NULL,
    PRIMARY KEY (prefix, year)
);
