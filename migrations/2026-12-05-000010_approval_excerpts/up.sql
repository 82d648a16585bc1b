-- What a human sees of the body (HTTP) or stdin (SSH) of a held request: its beginning, as text
-- (or a note that it is binary). Not part of what the approval binds (the digest is); shown only
-- on the dashboard, never sent to notifiers.
ALTER TABLE approvals ADD COLUMN body_excerpt TEXT
    CONSTRAINT approvals_body_excerpt_check CHECK (length(body_excerpt) <= 4200);
