//! Property-based fuzzing of the sweep-file loader (parse under the YAML
//! budget, check, expand, validate every point), the coordinator's front door
//! for text from anyone holding a client token. Inputs: the shipped sweep
//! files with random edits spliced in (YAML syntax, anchors and aliases,
//! edge numbers, known keys), and files built from a small grammar of
//! parameters and domains. Nothing may panic; a file that loads must respect
//! its limits, and every point it yields must pass the pipeline's own checks.
//!
//! CI runs `SWEEP_FUZZ_CASES` cases per property (default 2,000); a longer run:
//! `SWEEP_FUZZ_CASES=200000 cargo test --release -p sweep-coordinator --test fuzz_sweepfile`.

use proptest::prelude::*;
use std::time::{Duration, Instant};
use sweep_coordinator::sweepfile::{self, LoadLimits};

const SHIPPED: [&str; 3] = [
    include_str!("../../sweeps/grid.yaml"),
    include_str!("../../sweeps/quick.yaml"),
    include_str!("../../sweeps/seed.yaml"),
];

/// Small enough that a fuzzed grid cannot make a case slow.
fn limits() -> LoadLimits {
    LoadLimits {
        max_grid: 500,
        ..LoadLimits::default()
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("SWEEP_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "&a ",
        "*a",
        "<<: *a",
        "[",
        "]",
        "{",
        "}",
        ", ",
        ": ",
        "\n",
        "\n  ",
        "\n    ",
        "- ",
        "'",
        "\"",
        "#",
        "? ",
        "!!binary ",
        "!!str ",
        "~",
        "\t",
        "0",
        "-1",
        "4294967295",
        "4294967296",
        "18446744073709551616",
        "1e999",
        "-1e999",
        ".nan",
        ".inf",
        "1.0e-5",
        "values: ",
        "uniform: ",
        "log_uniform: ",
        "int_uniform: ",
        "[0, 0]",
        "[1, -1]",
        "phase1.epochs",
        "phase2.unfreeze",
        "data.train",
        "data.dir",
        "backbone.weights",
        "count: ",
        "method: random",
        "method: grid",
        "parameters:",
        "base:",
        "max_attempts: ",
        "parallelism: ",
        "metric: ",
        "é",
        "\u{0}",
        "\u{feff}",
        "layer4",
        "all",
    ])
}

/// A shipped file with `edits` (position fraction, token) spliced in.
fn edited_file() -> impl Strategy<Value = String> {
    (
        0..SHIPPED.len(),
        prop::collection::vec((0.0f64..1.0, token(), any::<bool>()), 1..12),
    )
        .prop_map(|(which, edits)| {
            let mut text = SHIPPED[which].to_string();
            for (at, token, replace) in edits {
                let mut i = ((text.len() as f64) * at) as usize;
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                if replace {
                    let mut end = (i + token.len()).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(i..end, token);
                } else {
                    text.insert_str(i, token);
                }
            }
            text
        })
}

/// Mostly values a sweep could use, sometimes hostile ones.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (1u32..8).prop_map(|n| n.to_string()),
        6 => prop::sample::select(vec!["1.0e-5", "1.0e-4", "0.001", "0.01", "0.1", "0.5"])
            .prop_map(str::to_string),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u32>().prop_map(|n| n.to_string()),
        1 => (-1e6f64..1e6).prop_map(|f| format!("{f:e}")),
        1 => prop::sample::select(vec![
            "0", "-0.0", "1e-320", "1e308", ".nan", "-.inf", "18446744073709551615"
        ])
        .prop_map(str::to_string),
    ]
}

/// A count: mostly small, sometimes hostile.
fn count() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (1u32..30).prop_map(|n| n.to_string()),
        1 => number(),
    ]
}

fn list() -> impl Strategy<Value = String> {
    prop::collection::vec(number(), 0..5).prop_map(|v| v.join(", "))
}

fn domain() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => list().prop_map(|l| format!("{{values: [{l}]}}")),
        1 => (number(), number()).prop_map(|(a, b)| format!("{{uniform: [{a}, {b}]}}")),
        1 => (number(), number()).prop_map(|(a, b)| format!("{{log_uniform: [{a}, {b}]}}")),
        1 => (number(), number()).prop_map(|(a, b)| format!("{{int_uniform: [{a}, {b}]}}")),
        1 => Just("{values: [[layer4], [all], [layer1, layer1], []]}".to_string()),
        1 => Just("{values: [none, cosine, step, plateau, bogus]}".to_string()),
        1 => list().prop_map(|l| format!("{{values: [{l}], uniform: [0, 1]}}")),
    ]
}

/// A sweep file from the grammar: header, optional count, parameters.
fn grammar_file() -> impl Strategy<Value = String> {
    let path = prop::sample::select(vec![
        "phase1.epochs",
        "phase2.epochs",
        "phase2.lr_backbone",
        "phase2.lr_head",
        "phase2.unfreeze",
        "loss.label_smoothing",
        "scheduler.kind",
        "data.train",
        "data.val",
        "batch_size",
        "input_size",
        "seed",
        "threads",
        "optimizer.eps",
        "data",
        "nope.nope",
        "phase2",
    ]);
    (
        // A method and, mostly, the count it needs (only random takes one).
        prop_oneof![
            6 => Just(("grid", None)),
            6 => count().prop_map(|c| ("random", Some(c))),
            1 => prop::option::of(count()).prop_map(|c| ("grid", c)),
            1 => prop::option::of(count()).prop_map(|c| ("random", c)),
            1 => Just(("bayes", None)),
        ],
        prop::option::of(count()),
        prop::collection::vec((path, domain()), 0..5),
    )
        .prop_map(|((method, count), attempts, params)| {
            let mut text = format!(
                "name: fuzz\nmetric: {{name: val_acc, goal: maximize}}\nmethod: {method}\n\
                 base:\n  input_size: 32\n  data: {{train: 100, val: 100, test: 100}}\n"
            );
            if let Some(c) = count {
                text.push_str(&format!("count: {c}\n"));
            }
            if let Some(a) = attempts {
                text.push_str(&format!("max_attempts: {a}\n"));
            }
            text.push_str("parameters:\n");
            for (p, d) in params {
                text.push_str(&format!("  {p}: {d}\n"));
            }
            text
        })
}

/// Loads `text`; checks what a loaded sweep must satisfy.
fn load_and_check(text: &str) -> Result<(), TestCaseError> {
    let limits = limits();
    let started = Instant::now();
    let loaded = sweepfile::load(text, "fuzz.yaml", &limits);
    let took = started.elapsed();
    prop_assert!(took < Duration::from_secs(5), "{took:?} for:\n{text}");
    match loaded {
        Ok(sweep) => {
            prop_assert!(!sweep.points.is_empty());
            prop_assert!(sweep.points.len() as u64 <= limits.max_grid);
            prop_assert!(sweep.max_attempts >= 1);
            for p in &sweep.points {
                prop_assert!(p.config.validate().is_ok(), "{:?}", p.config.validate());
                prop_assert_eq!(&p.trial_id, &p.config.content_id());
            }
        }
        Err(e) => {
            // One line, naming the file.
            let message = e.to_string();
            prop_assert!(message.starts_with("fuzz.yaml"), "{message}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_shipped_files_never_panic(text in edited_file()) {
        load_and_check(&text)?;
    }

    #[test]
    fn grammar_files_never_panic(text in grammar_file()) {
        load_and_check(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n\t]{0,300}") {
        load_and_check(&text)?;
    }
}

/// The grammar must reach past the parser: a fuzzer whose every case is
/// refused at the first check tests only that check.
#[test]
fn the_grammar_reaches_the_expander() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = grammar_file();
    let (mut loaded, mut refused_later) = (0, 0);
    for _ in 0..500 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        match sweepfile::load(&text, "fuzz.yaml", &limits()) {
            Ok(_) => loaded += 1,
            Err(e) if !e.to_string().contains("line") => refused_later += 1,
            Err(_) => {}
        }
    }
    assert!(loaded >= 25, "only {loaded} of 500 grammar files loaded");
    assert!(
        refused_later >= 25,
        "only {refused_later} of 500 refused after parsing"
    );
}
