//! docs/guard.md documents every rule of the built-in pack.

use shellgate_guard::Guard;

#[test]
fn every_builtin_rule_is_documented() {
    let path = format!("{}/../../docs/guard.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let missing: Vec<&str> = Guard::builtin_rules()
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !doc.contains(&format!("| `{id}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "rules missing from the default pack table in docs/guard.md: {missing:?}"
    );
}
