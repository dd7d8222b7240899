-- A letter's PDF is made when it is posted or asked for, not for every email: what it takes to
-- make it later is kept with the letter (its text is already there).
--   printable:   a letter to a resident that has a PDF (made at queueing for post, on request
--                for email); false for staff alerts, text messages, suppressed, unrendered and
--                erased letters
--   large_print: the type size its PDF is made in
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS printable boolean NOT NULL DEFAULT false;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS large_print boolean NOT NULL DEFAULT false;
UPDATE notifications SET printable = true WHERE pdf IS NOT NULL AND NOT printable;
