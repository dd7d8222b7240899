CREATE TABLE IF NOT EXISTS submission_facts (
    submission_id   uuid PRIMARY KEY,
    kind            text        NOT NULL,
    channel         text        NOT NULL,
    organisation_id text        NOT NULL,
    received_at     timestamptz NOT NULL
);

-- one row per case, filled in as its events arrive from different topics in any order
CREATE TABLE IF NOT EXISTS case_facts (
    case_id                 uuid PRIMARY KEY,
    reference               text,
    kind                    text,
    channel                 text,
    organisation_id         text,
    procedure               text,
    received_at             timestamptz,
    opened_at               timestamptz,
    acknowledgement_due_on  date,
    response_due_on         date,
    acknowledgement_sent_at timestamptz,
    notifications_sent      integer NOT NULL DEFAULT 0
);
