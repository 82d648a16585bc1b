-- What a token may use (`states::Capability`) and where its requests may come from. Existing
-- tokens get the default set: the agent paths, and shared knowledge to read (memories also to
-- write) but not to rewrite for every other agent. An empty allow-list means any address.
ALTER TABLE tokens
    ADD COLUMN capabilities TEXT[] NOT NULL
        DEFAULT ARRAY['http', 'ssh', 'memory:read', 'memory:write', 'skills:read', 'wiki:read']
        CONSTRAINT tokens_capabilities_check CHECK (capabilities <@ ARRAY[
            'http', 'ssh', 'webhooks', 'vault', 'memory:read', 'memory:write',
            'skills:read', 'skills:write', 'wiki:read', 'wiki:write']),
    ADD COLUMN allowed_cidrs TEXT[] NOT NULL DEFAULT '{}'
        CONSTRAINT tokens_allowed_cidrs_check CHECK (cardinality(allowed_cidrs) <= 64);
