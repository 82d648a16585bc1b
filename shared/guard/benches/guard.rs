//! Decision time of `Guard::check_command` over the SSH corpus (plus a few large synthetic
//! scripts), many rounds: prints p50/p99/max per command for commands under 8 KiB. Run with
//! `bench/guard.sh` (release profile). Target: p99 under 100 µs.

use std::time::{Duration, Instant};

use brush_parser::{Parser, ParserOptions};
use shellgate_guard::Guard;

const ROUNDS: usize = 50;
const MAX_LEN: usize = 8 * 1024;

#[path = "../tests/support/corpus.rs"]
mod support;

fn corpus() -> Vec<String> {
    support::ssh_commands()
}

/// Large but realistic inputs near the 8 KiB bound.
fn synthetic() -> Vec<String> {
    let mut script = String::from("set -euo pipefail\n");
    let mut i = 0;
    while script.len() < 7 * 1024 {
        script.push_str(&format!(
            "if [ -d /srv/app{i} ]; then cd /srv/app{i} && git pull --rebase && docker compose up -d; fi\n\
             curl -fsS http://localhost:80{i:02}/health | jq -r .status >> /tmp/health.log\n"
        ));
        i += 1;
    }
    let heredoc = format!(
        "psql -d app <<'SQL'\n{}SQL",
        "select id, name from users where created_at > now() - interval '1 day';\n".repeat(90)
    );
    let pipeline = (0..120)
        .map(|i| format!("grep -v pattern{i}"))
        .collect::<Vec<_>>()
        .join(" | ");
    let long_args = format!("echo {}", "argument ".repeat(800));
    let nested = format!("bash -c \"{}\"", "$(echo $(echo ls)) ; ".repeat(60));
    vec![
        script,
        heredoc,
        format!("cat access.log | {pipeline}"),
        long_args,
        nested,
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Times `decide` over `commands` (those under 8 KiB), `ROUNDS` rounds after one warm-up.
fn time(commands: &[&String], decide: impl Fn(&str)) -> Vec<Duration> {
    for c in commands {
        decide(c);
    }
    let mut times = Vec::with_capacity(commands.len() * ROUNDS);
    for _ in 0..ROUNDS {
        for c in commands {
            let start = Instant::now();
            decide(std::hint::black_box(c));
            times.push(start.elapsed());
        }
    }
    times.sort_unstable();
    times
}

fn mean(times: &[Duration]) -> Duration {
    times.iter().sum::<Duration>() / times.len().max(1) as u32
}

/// Prints the guard's p50/p99/max/mean over `commands`, and the same for brush-parser alone
/// parsing them (the baseline: the least any parsing guard pays), with the ratio of the means.
fn report(label: &str, guard: &Guard, commands: &[String]) {
    let commands: Vec<&String> = commands.iter().filter(|c| c.len() < MAX_LEN).collect();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let guarded = time(&commands, |c| {
        std::hint::black_box(guard.check_command(c));
    });
    let opts = ParserOptions::default();
    let parsed = time(&commands, |c| {
        std::hint::black_box(Parser::new(c.as_bytes(), &opts).parse_program().ok());
    });
    println!(
        "{label}: {} commands × {ROUNDS} rounds: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, mean {:.1} µs \
         | parse only: p50 {:.1} µs, p99 {:.1} µs, mean {:.1} µs | guard/parse {:.2}×",
        commands.len(),
        us(percentile(&guarded, 0.50)),
        us(percentile(&guarded, 0.99)),
        us(guarded.last().copied().unwrap_or_default()),
        us(mean(&guarded)),
        us(percentile(&parsed, 0.50)),
        us(percentile(&parsed, 0.99)),
        us(mean(&parsed)),
        mean(&guarded).as_secs_f64() / mean(&parsed).as_secs_f64().max(1e-12),
    );
}

fn main() {
    let guard = Guard::builtin();
    if let Ok(only) = std::env::var("GUARD_BENCH_ONLY") {
        // Profiling aid: time just the corpus or one synthetic script, many rounds.
        if only == "corpus" {
            let corpus = corpus();
            for _ in 0..10 {
                report("corpus", &guard, &corpus);
            }
            return;
        }
        let i: usize = only.parse().unwrap_or(0);
        let s = &synthetic()[i];
        for _ in 0..20 {
            report(&format!("synthetic #{i}"), &guard, std::slice::from_ref(s));
        }
        return;
    }
    let corpus = corpus();
    let synthetic = synthetic();
    let mut all = corpus.clone();
    all.extend(synthetic.iter().cloned());
    report("corpus", &guard, &corpus);
    report("synthetic (near 8 KiB)", &guard, &synthetic);
    report("all", &guard, &all);
    for (i, s) in synthetic.iter().enumerate() {
        report(
            &format!("synthetic #{i} ({} B)", s.len()),
            &guard,
            std::slice::from_ref(s),
        );
    }
}
