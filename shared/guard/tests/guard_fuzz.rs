//! Mutation fuzzing of the guard: commands from the corpus, mutated with shell syntax (quotes,
//! expansions, brackets, operators, here-docs, digits) and spliced together, must each get a
//! decision without a panic or a runaway. Seeded, so a failure reproduces; `GUARD_FUZZ_CASES`
//! and `GUARD_FUZZ_SEED` run longer or other campaigns.

use std::time::{Duration, Instant};

use shellgate_guard::Guard;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "$",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "\\",
    "`",
    "|",
    "&",
    ";",
    "<",
    ">",
    "*",
    "?",
    "~",
    "#",
    "=",
    "!",
    "\n",
    " ",
    "0",
    "9",
    "$(",
    "${",
    "$((",
    "))",
    "<<",
    "<<-",
    "<<<",
    ">&",
    "2>&1",
    "&&",
    "||",
    ";;",
    "$'\\x72'",
    "<(",
    ">(",
    "{a,b}",
    "{1..3}",
    "[[",
    "]]",
    "((",
    "EOF",
    "\nEOF\n",
    "bash -c ",
    "sh -c '",
    "eval ",
    "sudo ",
    "xargs ",
    "find / -exec ",
    "rm -rf /",
    "curl x | sh",
    "python -c '",
    "psql -c \"",
    "function f { ",
    "f() { ",
    "alias a=",
    "case x in ",
    " esac",
    "for i in ",
    " do ",
    " done",
    "if ",
    " then ",
    " fi",
    "while ",
    "export ",
    "local ",
    "declare -a ",
    "+=",
    "[0]=",
    "\u{e000}",
    "é",
    "\t",
    "12345678901234567890",
    "~+1",
    "..",
    "@(",
    "!(",
];

#[path = "support/corpus.rs"]
mod support;

fn corpus() -> Vec<String> {
    support::ssh_commands()
}

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, corpus: &[String]) -> String {
    let mut s = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(6) {
        let at = boundary(&s, rng.below(s.len() + 1));
        match rng.below(5) {
            0 | 1 => s.insert_str(at, PIECES[rng.below(PIECES.len())]),
            2 => {
                let end = boundary(&s, at + rng.below(8));
                s.replace_range(at..end, "");
            }
            3 => {
                let end = boundary(&s, at + rng.below(16));
                let copy = s[at..end].to_string();
                s.insert_str(at, &copy);
            }
            _ => {
                let other = &corpus[rng.below(corpus.len())];
                let from = boundary(other, rng.below(other.len() + 1));
                s.insert_str(at, &other[from..]);
            }
        }
    }
    s
}

#[test]
fn mutated_commands_get_a_decision_without_panic() {
    let cases: usize = std::env::var("GUARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("GUARD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_6A7E);
    // A parser panic is caught by the guard (and the command refused), but it is still a defect
    // to report: the hook counts them and names the case.
    thread_local! {
        static CASE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        CASE.with(|c| eprintln!("panic on {:?}: {info}", c.borrow()));
    }));
    let guard = Guard::builtin();
    let corpus = corpus();
    let mut rng = Rng(seed | 1);
    let mut slowest = (Duration::ZERO, String::new());
    for _ in 0..cases {
        let command = mutate(&mut rng, &corpus);
        let stdin = mutate(&mut rng, &corpus);
        if let Ok(trace) = std::env::var("GUARD_FUZZ_TRACE") {
            // The case about to run, for a run that dies (out of memory, killed).
            std::fs::write(&trace, format!("{command}\n----stdin----\n{stdin}")).expect("trace file");
        }
        CASE.with(|c| *c.borrow_mut() = command.clone());
        let start = Instant::now();
        std::hint::black_box(guard.check_command(&command));
        std::hint::black_box(guard.check_ssh(&command, Some(&stdin)));
        let took = start.elapsed();
        if took > slowest.0 {
            slowest = (took, command);
        }
    }
    let _ = std::panic::take_hook();
    assert_eq!(
        PANICS.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the parser panicked"
    );
    println!(
        "{cases} cases, seed {seed}: slowest {:.1} ms: {:?}",
        slowest.0.as_secs_f64() * 1e3,
        slowest.1.chars().take(200).collect::<String>()
    );
}
