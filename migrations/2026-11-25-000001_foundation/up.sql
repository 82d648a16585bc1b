-- Foundation: admin keys, agent tokens, targets, sealed credentials, permissions, audit.
-- Secrets are never stored in clear: tokens and admin keys as SHA-256 hashes, credentials
-- sealed to the vault public key (only executors hold the secret key).

CREATE TABLE admin_api_keys (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    key_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE TABLE tokens (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash BYTEA NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);

CREATE TABLE targets (
    id UUID PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind TEXT NOT NULL CHECK (kind IN ('http', 'ssh')),
    base_url TEXT,
    ssh_host TEXT,
    ssh_port INTEGER CHECK (ssh_port BETWEEN 1 AND 65535),
    ssh_username TEXT,
    pool TEXT NOT NULL DEFAULT 'default' CHECK (pool ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((kind = 'http' AND base_url IS NOT NULL)
        OR (kind = 'ssh' AND ssh_host IS NOT NULL AND ssh_port IS NOT NULL AND ssh_username IS NOT NULL))
);

CREATE TABLE target_credentials (
    target_id UUID PRIMARY KEY REFERENCES targets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    key_id TEXT NOT NULL,
    hint TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE token_permissions (
    token_id UUID NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    target_id UUID NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, target_id)
);
CREATE INDEX token_permissions_target_idx ON token_permissions (target_id);

-- Audit rows are written by the approver from JetStream; `id` is the event id, so a
-- redelivered event is inserted at most once. No foreign keys: the record outlives what it names.
CREATE TABLE audit_events (
    id UUID PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    request_id UUID NOT NULL,
    kind TEXT NOT NULL,
    token_id UUID,
    target_id UUID,
    target_slug TEXT,
    method TEXT,
    path TEXT,
    status INTEGER,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    client_ip TEXT,
    executor TEXT,
    outcome TEXT NOT NULL,
    error_code TEXT,
    detail JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_token_idx ON audit_events (token_id, occurred_at DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, occurred_at DESC);
