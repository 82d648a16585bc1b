-- The organisation's policy text, which every agent receives with its bootstrap (at most one
-- row; no row means none is set).
CREATE TABLE org_policy (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CONSTRAINT org_policy_singleton CHECK (singleton),
    text TEXT NOT NULL CONSTRAINT org_policy_text_check CHECK (length(text) BETWEEN 1 AND 16384),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
