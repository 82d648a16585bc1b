//! Shell analysis: parses a command with brush-parser and walks everything that can execute,
//! resolving words the way bash would (quote removal, `$'…'`, parameters with the constant
//! values the command itself assigns, aliases and functions it defines, brace expansion,
//! command substitutions whose output is known) and handing every resulting invocation, SQL
//! statement and inline program to the rules. Anything it cannot resolve is reported as a
//! signal (`unresolved`, `parse_error`, `too_complex`) instead of being skipped, so the verdict
//! fails safe.
//!
//! brush-parser leaves words raw: each word is split with `brush_parser::word::parse`, and
//! command substitutions come back as text to parse again. It also panics on some overlong
//! numbers and overflows its stack on deep nesting, so input is pre-scanned and parsing runs
//! under `catch_unwind`.
//!
//! The analysis is split by concern: `parse` (pre-scan and parsing, bounded against the parser's
//! panics and recursion), `walk` (the syntax tree: lists, pipelines, compound and simple
//! commands), `invoke` (one resolved command: aliases, functions, redirections, downloads),
//! `vars` (assignments and parameter expansion), `expand` (words: quote removal, splitting,
//! brace expansion), `programs` (what the programs the guard knows do with their arguments) and
//! `analyzer` (the analyser's state and how it reports).

mod analyzer;
mod expand;
mod invoke;
mod parse;
mod programs;
mod vars;
mod walk;

use super::Decision;
use super::rule::RuleSet;

use analyzer::{Analyzer, Ctx, Output};

/// Longest command analysed; longer ones need approval.
const MAX_LEN: usize = 256 * 1024;
/// Deepest bracket nesting handed to the parser (it recurses per level).
const MAX_NESTING: usize = 64;
/// Most expansions (`$(`, `${`, …) in an expanded here-document body: each may nest in the
/// next, and the word parser recurses per level.
const MAX_HEREDOC_EXPANSIONS: usize = 128;
/// Most `!`, `(`, `&&` and `||` in one `[[ … ]]` (its expression tree can be as deep).
const MAX_TEST_OPERATORS: usize = 64;
/// Deepest re-parsing (`bash -c` in `$(…)` in `ssh …`).
const MAX_DEPTH: usize = 12;
/// Most compound commands analysed inside one another, across nested scripts.
const MAX_COMPOUND_DEPTH: usize = 128;
/// Most invocations analysed inside one another (`sudo env nice …`).
const MAX_INVOKE_DEPTH: usize = 64;
/// Most commands evaluated for one request.
const MAX_STEPS: usize = 4000;
/// Most alternatives a command name may resolve to.
const MAX_ALTS: usize = 16;
/// Most alternatives one word may resolve to (beyond: one more, unknown).
const MAX_WORD_ALTS: usize = 64;
/// Most values a variable may hold (assigned in branches or loops).
const MAX_VALUES: usize = 32;

/// Longest standard input the guard reads as text; a longer one is treated as unknown.
const MAX_STDIN: usize = 64 * 1024;

/// Analyses `command` run with `stdin` as its standard input (`None`: none, the command reads
/// end of file, as the executor closes stdin at once).
pub(crate) fn analyze(rules: &RuleSet, command: &str, stdin: Option<&str>) -> Option<Decision> {
    let mut a = Analyzer::new(rules);
    let stdin = match stdin {
        None => Output::empty(),
        Some(s) if s.len() <= MAX_STDIN => Output::Known(s.to_string()),
        Some(_) => Output::dynamic(),
    };
    a.script(command, stdin);
    a.evidence.best
}
