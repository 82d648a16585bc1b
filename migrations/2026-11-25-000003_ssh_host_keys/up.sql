-- SSH host keys per target. Executors record what a server presents (`pending`) when it is
-- not pinned; only an admin makes a key `accepted`. A target with accepted keys refuses any
-- other key (host_key_mismatch): there is no switch that turns verification off.
CREATE TABLE ssh_host_keys (
    id UUID PRIMARY KEY,
    target_id UUID NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted')),
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at TIMESTAMPTZ,
    decided_by TEXT,
    UNIQUE (target_id, fingerprint)
);
CREATE INDEX ssh_host_keys_target_idx ON ssh_host_keys (target_id, status);
