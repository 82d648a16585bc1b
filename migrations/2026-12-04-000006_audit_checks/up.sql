-- Audit kind and outcome are closed sets (`states::AuditKind`, `audit::Outcome`), checked here
-- like every other state column. The e2e test `states::db_checks_match_the_enums` keeps the lists
-- equal to the Rust enums.
ALTER TABLE audit_events
    ADD CONSTRAINT audit_events_kind_check CHECK (kind IN ('http', 'ssh', 'approval', 'admin')),
    ADD CONSTRAINT audit_events_outcome_check CHECK (outcome IN (
        'allowed', 'refused', 'failed', 'cancelled', 'approval_required', 'blocked',
        'approved', 'denied', 'expired'));
