-- Dashboard accounts (docs/dashboard.md). Usernames are stored lower-case.
CREATE TABLE users (
    id UUID PRIMARY KEY,
    username TEXT NOT NULL UNIQUE
        CONSTRAINT users_username_check CHECK (username ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CONSTRAINT users_role_check CHECK (role IN ('admin', 'approver', 'viewer')),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Server-side sessions: the cookie holds a random id, the table only its SHA-256. Idle and
-- absolute expiry are judged from last_seen_at and created_at.
CREATE TABLE user_sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    client_ip TEXT
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id);

-- The one-time code that creates the first admin (one row at most; its SHA-256 only).
CREATE TABLE setup_codes (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CONSTRAINT setup_codes_singleton CHECK (singleton),
    code_hash BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Failed logins per account name (known or not, so the limit reveals nothing), shared by every
-- approver replica.
CREATE TABLE login_failures (
    account TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at TIMESTAMPTZ NOT NULL
);
