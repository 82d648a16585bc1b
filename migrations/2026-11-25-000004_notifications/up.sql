-- Approval notifications that could not be delivered after every retry: kept for an admin to
-- see (and replay by hand); the event itself stays in JetStream for its retention.
CREATE TABLE notification_dead_letters (
    id UUID PRIMARY KEY,
    notifier TEXT NOT NULL,
    approval_id UUID NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notification_dead_letters_created_idx ON notification_dead_letters (created_at DESC);
