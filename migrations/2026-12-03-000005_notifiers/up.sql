-- Approval notifiers an admin manages through the API (besides the ones the settings configure).
-- The URL and the signing secret are sealed together with the approver's notifier key (a Slack
-- URL is itself a secret, and webhook URLs often carry tokens); admins see only `url_hint`
-- (scheme, host and port).
CREATE TABLE notifiers (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url_hint TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    key_id TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT true,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
