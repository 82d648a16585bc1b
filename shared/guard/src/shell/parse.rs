//! Pre-scan and parsing: input the parser cannot take safely (too long, nested too deeply for its
//! recursion, digit runs it panics on) is rejected before it gets there, and every parser call
//! runs under `catch_unwind`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use brush_parser::ParserOptions;
use brush_parser::ast;
use brush_parser::word::{self as bword, WordPiece, WordPieceWithSource};

use super::{MAX_LEN, MAX_NESTING, MAX_TEST_OPERATORS};
use crate::rule::Signal;

/// Runs a brush-parser call, turning a panic into an error.
pub(super) fn guarded<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the shell parser failed on this input".into()),
    }
}

/// Why a program was not parsed.
#[derive(Debug)]
pub(super) enum Unparsed {
    /// A syntax error (or a parser panic), described.
    Syntax(String),
    /// Compound commands nest deeper than `MAX_NESTING`.
    TooDeep,
}

/// Tokenizes, checks how deep compound commands nest, then parses: the parser recurses per
/// level of nesting, and deep enough input overflows the thread's stack, which aborts the process
/// (no `catch_unwind` helps).
pub(super) fn parse_program(text: &str, opts: &ParserOptions) -> Result<ast::Program, Unparsed> {
    let tokens =
        guarded(|| brush_parser::uncached_tokenize_str(text, &opts.tokenizer_options())).map_err(Unparsed::Syntax)?;
    if !nesting_ok(&tokens) {
        return Err(Unparsed::TooDeep);
    }
    guarded(|| brush_parser::parse_tokens(&tokens, opts)).map_err(Unparsed::Syntax)
}

/// Whether compound commands (`if`, loops, `case`, `[[ … ]]`, `( … )`, `{ … }`, `coproc`)
/// nest at most `MAX_NESTING` deep, and a `[[ … ]]` holds at most `MAX_TEST_OPERATORS` of
/// `!`, `(`, `&&` and `||` (its expression is a tree as deep as that), reading the tokens as bash
/// does: reserved words count only in command position, and a closing word only closes the
/// construct it belongs to, so a `fi)` case pattern cannot undo an `if`. Quotes, here-document
/// bodies and `$(…)` are inside word tokens (a substitution is checked when it is analysed).
fn nesting_ok(tokens: &[brush_parser::Token]) -> bool {
    use brush_parser::Token as T;
    #[derive(PartialEq, Eq, Clone, Copy)]
    enum Open {
        If,
        Loop,
        Case,
        Test,
        Paren,
        Brace,
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut command_position = true;
    // Words that belong to a redirection: its target; for a here-document also the body and the
    // end tag, which the tokenizer puts right after the tag (`<<fi` ends with a word `fi` that
    // closes nothing).
    let mut redirect_words = 0usize;
    let mut function_name = false;
    let mut after_time = false;
    let mut coprocs = 0usize;
    let mut test_operators = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        let testing = stack.contains(&Open::Test);
        let word = match t {
            T::Operator(op, _) => {
                let redirect = op.contains(['<', '>']) && !matches!(op.as_str(), "<(" | ">(");
                redirect_words = match op.as_str() {
                    "<<" | "<<-" => 3,
                    _ if redirect => 1,
                    _ => 0,
                };
                if !redirect {
                    command_position = true;
                }
                after_time = false;
                if testing && matches!(op.as_str(), "(" | "&&" | "||") {
                    test_operators += 1;
                }
                match op.as_str() {
                    "(" => stack.push(Open::Paren),
                    ")" if stack.last() == Some(&Open::Paren) => {
                        stack.pop();
                    }
                    _ => {}
                }
                if stack.len() > MAX_NESTING || test_operators > MAX_TEST_OPERATORS {
                    return false;
                }
                continue;
            }
            T::Word(w, _) => w.as_str(),
        };
        if redirect_words > 0 {
            redirect_words -= 1;
            continue;
        }
        if std::mem::take(&mut function_name) {
            // `function NAME` is followed by the body, a compound command.
            command_position = true;
            continue;
        }
        if std::mem::take(&mut after_time) && word == "-p" {
            // `time -p` times the pipeline that follows.
            continue;
        }
        if testing && word == "!" {
            test_operators += 1;
            if test_operators > MAX_TEST_OPERATORS {
                return false;
            }
        }
        if command_position && word == "coproc" {
            // Each `coproc` is a level of the parser's recursion, and closes with its command.
            coprocs += 1;
            if coprocs > MAX_NESTING {
                return false;
            }
        }
        let opens = match word {
            _ if !command_position => None,
            "if" => Some(Open::If),
            "while" | "until" | "for" | "select" => Some(Open::Loop),
            "case" => Some(Open::Case),
            "[[" => Some(Open::Test),
            "{" => Some(Open::Brace),
            _ => None,
        };
        // `esac)` or `esac|` is a case pattern to brush-parser, not the end of the `case`.
        let pattern = matches!(tokens.get(i + 1), Some(T::Operator(op, _)) if op == ")" || op == "|");
        let closes = match word {
            "fi" if command_position => Some(Open::If),
            "done" if command_position => Some(Open::Loop),
            "esac" if command_position && !pattern => Some(Open::Case),
            "}" if command_position => Some(Open::Brace),
            "]]" => Some(Open::Test),
            _ => None,
        };
        if let Some(open) = opens {
            stack.push(open);
            if stack.len() > MAX_NESTING {
                return false;
            }
        } else if closes.is_some() && stack.last().copied() == closes {
            stack.pop();
            if closes == Some(Open::Test) && !stack.contains(&Open::Test) {
                test_operators = 0;
            }
        }
        function_name = command_position && word == "function";
        after_time = command_position && word == "time";
        command_position = (command_position || word == "!" && testing)
            && matches!(
                word,
                "if" | "while" | "until" | "then" | "do" | "else" | "elif" | "!" | "{" | "}" | "time" | "coproc"
            );
    }
    true
}

pub(super) fn parse_word(raw: &str, opts: &ParserOptions) -> Result<Vec<WordPieceWithSource>, String> {
    // Plain words (most of them) need no parser: one unquoted text piece.
    if !raw.is_empty() && !raw.contains(['$', '\'', '"', '`', '\\', '~', '{']) {
        return Ok(vec![WordPieceWithSource {
            piece: WordPiece::Text(raw.to_string()),
            start_index: 0,
            end_index: raw.len(),
        }]);
    }
    if expansion_openers(raw) > MAX_NESTING {
        return Err("the word nests expansions too deeply to analyse".into());
    }
    guarded(|| bword::parse(raw, opts))
}

/// How many expansions (`$(`, `${`, `$[`, backquotes, `<(`, `>(`) a text opens: an upper bound
/// on how deep the word parser recurses into it, which no quoting can fool (nothing is
/// subtracted for closers).
pub(super) fn expansion_openers(text: &str) -> usize {
    let b = text.as_bytes();
    b.iter().filter(|&&c| c == b'`').count()
        + b.windows(2)
            .filter(|w| matches!(w, [b'$', b'(' | b'{' | b'['] | [b'<' | b'>', b'(']))
            .count()
}

/// Rejects input the parser cannot take safely: too long, nested too deeply (its recursion
/// overflows the stack), or with digit runs its integer parsing panics on.
pub(super) fn prescan(text: &str) -> Result<(), (Signal, &'static str)> {
    if text.len() > MAX_LEN {
        return Err((Signal::TooComplex, "the command is too long to analyse"));
    }
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err((Signal::TooComplex, "the command nests too deeply to analyse"));
                }
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let run = i - start;
                let before = if start > 0 { b[start - 1] } else { b' ' };
                let before2 = if start > 1 { b[start - 2] } else { b' ' };
                let after = b.get(i).copied().unwrap_or(b' ');
                let tilde = before == b'~' || (matches!(before, b'+' | b'-') && before2 == b'~');
                let signed = matches!(before, b'+' | b'-');
                let range = after == b'.' || before == b'.' || (signed && before2 == b'.');
                if (run >= 10 && matches!(after, b'<' | b'>')) || (run >= 18 && (tilde || range)) {
                    return Err((Signal::ParseError, "the command has a number the parser cannot read"));
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Backquotes are not counted: nesting them needs exponentially many escapes.
    Ok(())
}
