-- Reporting's read models: one row per case, one per case stage, and the remedies, learning
-- actions and Ombudsman cases behind the figures. Rebuilt from the log at any time.
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS service_area text;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS category text;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS ward text;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS postcode_district text;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS received_on date;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS resolution text;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS closed_on date;
ALTER TABLE case_facts ADD COLUMN IF NOT EXISTS stage integer NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS case_facts_received ON case_facts (organisation_id, received_on);

CREATE TABLE IF NOT EXISTS stage_facts (
    case_id             uuid    NOT NULL,
    stage               integer NOT NULL,
    started_on          date,           -- receipt (stage 1) or the escalation request
    acknowledged_on     date,
    acknowledgement_due date,
    acknowledgement_state text,
    response_due        date,
    response_state      text,           -- pending, met, met_late, missed, cancelled
    responded_on        date,
    overall             text,           -- upheld, partly_upheld, not_upheld
    working_days_taken  integer,
    extension_days      integer NOT NULL DEFAULT 0,
    paused_working_days integer NOT NULL DEFAULT 0,
    PRIMARY KEY (case_id, stage)
);
CREATE INDEX IF NOT EXISTS stage_facts_responded ON stage_facts (responded_on);

CREATE TABLE IF NOT EXISTS remedy_facts (
    case_id     uuid    NOT NULL,
    remedy_id   text    NOT NULL,
    remedy_type text    NOT NULL,
    amount      numeric(12, 2),
    recorded_on date    NOT NULL,
    approved    boolean NOT NULL DEFAULT false,
    paid_on     date,
    completed_on date,
    PRIMARY KEY (case_id, remedy_id)
);

CREATE TABLE IF NOT EXISTS learning_facts (
    case_id      uuid NOT NULL,
    action_id    text NOT NULL,
    description  text NOT NULL,
    owner        text NOT NULL,
    due_on       date NOT NULL,
    completed_on date,
    PRIMARY KEY (case_id, action_id)
);

CREATE TABLE IF NOT EXISTS ombudsman_facts (
    case_id           uuid NOT NULL,
    reference         text NOT NULL,
    body              text NOT NULL,
    stage             text NOT NULL,
    received_on       date NOT NULL,
    decided_on        date,
    finding           text,
    compliance_due_on date,
    complied_on       date,
    PRIMARY KEY (case_id, reference)
);
