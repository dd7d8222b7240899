-- Timers are claimed one at a time in (fire_at, timer_id) order, and many share a fire_at (every
-- deadline due on a day breaches at the end of that day): an index in exactly that order lets
-- each claim stop at the first row instead of sorting every timer due at the same moment.
CREATE INDEX IF NOT EXISTS timers_due_in_order ON timers (fire_at, timer_id)
    WHERE fired_at IS NULL AND cancelled_at IS NULL;
DROP INDEX IF EXISTS timers_due;
