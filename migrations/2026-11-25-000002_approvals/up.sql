-- Approvals: server-side objects a human decides, bound to one exact request (its hash),
-- single-use and expiring. Tokens get an approval policy; targets may be marked as query APIs
-- (SQL or GraphQL in the JSON body) for the guard.

ALTER TABLE tokens ADD COLUMN approval_policy TEXT NOT NULL DEFAULT 'human'
    CHECK (approval_policy IN ('human', 'agent_confirm'));
ALTER TABLE targets ADD COLUMN query_api TEXT CHECK (query_api IN ('sql', 'graphql'));

CREATE TABLE approvals (
    id UUID PRIMARY KEY,
    token_id UUID NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    target_id UUID NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('http', 'ssh')),
    request JSONB NOT NULL,
    request_hash TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    matched TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'used')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    decided_by TEXT,
    decision_comment TEXT,
    used_at TIMESTAMPTZ
);
CREATE INDEX approvals_status_idx ON approvals (status, created_at DESC);
CREATE INDEX approvals_pending_expiry_idx ON approvals (expires_at) WHERE status = 'pending';
CREATE INDEX approvals_token_idx ON approvals (token_id, created_at DESC);

-- Guard rules an admin adds or overrides (by rule id) on top of the built-in pack: global
-- (target_id NULL) or for one target; a target's rule overrides a global one with the same id.
CREATE TABLE guard_rules (
    id UUID PRIMARY KEY,
    target_id UUID REFERENCES targets (id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL CHECK (length(rule_id) BETWEEN 1 AND 200),
    rule JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX guard_rules_global_uniq ON guard_rules (rule_id) WHERE target_id IS NULL;
CREATE UNIQUE INDEX guard_rules_target_uniq ON guard_rules (target_id, rule_id) WHERE target_id IS NOT NULL;
