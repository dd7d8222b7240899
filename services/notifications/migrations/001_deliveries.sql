-- What notifications knows about each case's recipient, gathered from case and deadline events
-- that may arrive in either order.
CREATE TABLE IF NOT EXISTS case_contacts (
    case_id           uuid PRIMARY KEY,
    reference         text,
    kind              text,
    recipient_name    text,
    email             text,
    address           text,
    preferred_contact text,
    response_due_on   date
);

-- Every notification, once: the id is derived from (case, template, recipient), so a
-- redelivered event or a restarted service cannot make a second one.
CREATE TABLE IF NOT EXISTS deliveries (
    notification_id uuid PRIMARY KEY,
    case_id         uuid        NOT NULL,
    template        text        NOT NULL,
    channel         text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_case ON deliveries (case_id);
