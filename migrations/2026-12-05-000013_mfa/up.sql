-- Second factor for dashboard users (docs/dashboard.md): TOTP, one-time recovery codes, the
-- step-up ("sudo mode") that deciding approvals can require, and admin-key scopes.

-- The TOTP secret, sealed (AES-256-GCM under a key derived from SHELLGATE_SESSION_SECRET, bound
-- to the user's id). Set while enrolling; `totp_enabled_at` once a first code confirmed it.
-- `totp_last_step`: the time step of the last code accepted — a code is never accepted twice.
ALTER TABLE users
    ADD COLUMN totp_secret BYTEA,
    ADD COLUMN totp_enabled_at TIMESTAMPTZ,
    ADD COLUMN totp_last_step BIGINT;

-- One-time recovery codes (their SHA-256 only); a used code keeps its row with `used_at`.
CREATE TABLE user_recovery_codes (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- A session whose password was right but whose second factor is still to come signs in nobody;
-- `stepped_up_at`: when the session last gave a fresh code (decisions may need a recent one).
ALTER TABLE user_sessions
    ADD COLUMN second_factor_pending BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN stepped_up_at TIMESTAMPTZ;

-- What an admin key may do beyond managing: `approvals` lets it decide approvals when
-- SHELLGATE_REQUIRE_MFA_FOR_APPROVALS is set.
ALTER TABLE admin_api_keys
    ADD COLUMN scopes TEXT[] NOT NULL DEFAULT '{}';
