-- Free-text search over what an agent did: the HTTP path or the SSH command. A trigram index
-- (pg_trgm, a trusted extension shipped with PostgreSQL) serves `ILIKE '%…%'` on the same
-- expression the queries use (`queries::audit::SEARCH_TEXT`).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX audit_events_search_idx ON audit_events
    USING gin ((coalesce(path, '') || ' ' || coalesce(detail ->> 'command', '')) gin_trgm_ops);
