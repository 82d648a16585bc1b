//! Domain states: every `CHECK (col IN (…))` the migrations create lists exactly the values of the
//! Rust enum that column holds, so neither side can grow a state the other refuses.

use shellgate_shared::approval::ApprovalStatus;
use shellgate_shared::audit::Outcome;
use shellgate_shared::states::{
    ApprovalPolicy, AuditKind, HostKeyStatus, NotifierKind, QueryApi, TargetKind, UserRole,
};
use shellgate_tests::db::TestDb;
use shellgate_tests::process::binary;

fn strings<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
    all.iter().map(|v| as_str(*v).to_string()).collect()
}

/// The quoted values of a `CHECK ((col = ANY (ARRAY['a'::text, …])))` as Postgres prints it.
fn listed(def: &str) -> Vec<String> {
    def.split('\'').skip(1).step_by(2).map(str::to_string).collect()
}

#[actix_web::test]
async fn db_checks_match_the_enums() {
    let db = TestDb::create().await;
    let out = std::process::Command::new(binary())
        .arg("migrate")
        .env_clear()
        .env("SHELLGATE_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let expected: Vec<(&str, Vec<String>)> = vec![
        ("targets_kind_check", strings(TargetKind::ALL, TargetKind::as_str)),
        ("targets_query_api_check", strings(QueryApi::ALL, QueryApi::as_str)),
        (
            "tokens_approval_policy_check",
            strings(ApprovalPolicy::ALL, ApprovalPolicy::as_str),
        ),
        ("approvals_kind_check", strings(TargetKind::ALL, TargetKind::as_str)),
        (
            "approvals_status_check",
            strings(ApprovalStatus::ALL, ApprovalStatus::as_str),
        ),
        ("audit_events_kind_check", strings(AuditKind::ALL, AuditKind::as_str)),
        ("audit_events_outcome_check", strings(Outcome::ALL, Outcome::as_str)),
        (
            "ssh_host_keys_status_check",
            strings(HostKeyStatus::ALL, HostKeyStatus::as_str),
        ),
        ("notifiers_kind_check", strings(NotifierKind::ALL, NotifierKind::as_str)),
        ("users_role_check", strings(UserRole::ALL, UserRole::as_str)),
    ];
    for (name, values) in expected {
        let rows = db
            .query(&format!(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = '{name}'"
            ))
            .await;
        assert_eq!(rows.len(), 1, "constraint {name} is missing");
        let def: String = rows[0].get(0);
        assert_eq!(listed(&def), values, "{name}: {def}");
    }
}
