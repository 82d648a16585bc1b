//! The SSH corpus's commands, for the fuzz test and the guard benchmark (which includes this
//! file by path).

pub fn ssh_commands() -> Vec<String> {
    let path = format!("{}/tests/guard_corpus/ssh.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("command").and_then(|c| c.as_str()).map(str::to_string))
        .collect()
}
