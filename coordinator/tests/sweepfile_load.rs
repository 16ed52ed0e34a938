//! Sweep file parsing and expansion: grid products, random draws (in range,
//! reproducible, unique), and every refusal with the place it names.

use serde_json::json;
use std::collections::HashSet;
use std::time::Instant;
use sweep_coordinator::sweepfile::{load, Goal, LoadLimits, Method, Sweep, SweepFileError};
use sweep_proto::trial::{Stage, TrialConfig};

const SMALL_BASE: &str = "base:\n  input_size: 32\n  data: {train: 500, val: 200, test: 200}\n";

fn ok(yaml: &str) -> Sweep {
    load(yaml, "t.yaml", &LoadLimits::default()).unwrap_or_else(|e| panic!("refused: {e}"))
}

/// Limits with `max_grid` and the defaults for the rest.
fn max_grid(max_grid: u64) -> LoadLimits {
    LoadLimits {
        max_grid,
        ..LoadLimits::default()
    }
}

fn refused(yaml: &str) -> SweepFileError {
    match load(yaml, "t.yaml", &LoadLimits::default()) {
        Ok(s) => panic!("accepted {} points of:\n{yaml}", s.points.len()),
        Err(e) => {
            println!("{e}");
            e
        }
    }
}

#[test]
fn brief_example_grid_is_the_product_in_file_order() {
    let yaml = format!(
        "name: lr-unfreeze-grid\nmetric: {{name: val_acc, goal: maximize}}\nmethod: grid\nparallelism: 4\nmax_attempts: 3\n{SMALL_BASE}\
parameters:\n  phase2.lr_backbone: {{values: [1.0e-5, 1.0e-4, 1.0e-3]}}\n  phase2.unfreeze: {{values: [[layer4], [layer3, layer4], [all]]}}\n  \
loss.label_smoothing: {{values: [0.0, 0.1]}}\n  scheduler.kind: {{values: [none, cosine]}}\n"
    );
    let s = ok(&yaml);
    assert_eq!(s.name, "lr-unfreeze-grid");
    assert_eq!(
        (s.metric_name.as_str(), s.goal, s.method),
        ("val_acc", Goal::Maximize, Method::Grid)
    );
    assert_eq!((s.parallelism, s.max_attempts), (4, 3));
    assert_eq!(s.points.len(), 3 * 3 * 2 * 2);
    let first = &s.points[0];
    assert_eq!(first.config.phase2.lr_backbone, 1e-5);
    assert_eq!(first.config.phase2.unfreeze, vec![Stage::Layer4]);
    assert_eq!(
        first.config.input_size, 32,
        "base is applied under the point"
    );
    assert_eq!(first.config.data.train, 500);
    // Last parameter fastest, first slowest.
    assert_eq!(
        s.points[1].params[3],
        ("scheduler.kind".to_string(), json!("cosine"))
    );
    assert_eq!(s.points[12].config.phase2.lr_backbone, 1e-4);
    assert_eq!(s.points[35].config.phase2.unfreeze, vec![Stage::All]);
    let ids: HashSet<_> = s.points.iter().map(|p| p.trial_id.clone()).collect();
    assert_eq!(ids.len(), 36);
    for p in &s.points {
        assert_eq!(p.trial_id, p.config.content_id());
        p.config.validate().unwrap();
    }
    let params: serde_json::Value = serde_json::from_str(&s.points[0].params_json()).unwrap();
    assert_eq!(params["phase2.unfreeze"], json!(["layer4"]));
}

#[test]
fn no_parameters_is_one_point_the_base() {
    let s = ok(&format!("name: one\nmethod: grid\n{SMALL_BASE}"));
    assert_eq!(s.points.len(), 1);
    assert!(s.points[0].params.is_empty());
    assert_eq!(s.max_attempts, 3, "default max_attempts");
    assert_eq!(s.parallelism, 0, "default: no cap");
    assert_eq!(
        (s.metric_name.as_str(), s.goal),
        ("val_acc", Goal::Maximize)
    );
}

#[test]
fn metric_goal_defaults_to_the_natural_one() {
    let s = ok("name: m\nmethod: grid\nmetric: {name: val_loss}\n");
    assert_eq!(s.goal, Goal::Minimize);
    let s = ok("name: m\nmethod: grid\nmetric: {name: val_loss, goal: maximize}\n");
    assert_eq!(s.goal, Goal::Maximize);
}

#[test]
fn repeated_grid_points_are_kept_once() {
    let s = ok("name: d\nmethod: grid\nparameters:\n  seed: {values: [1, 2, 1]}\n  loss.label_smoothing: {values: [0.1, 1.0e-1]}\n");
    assert_eq!(s.points.len(), 2);
    assert_eq!(s.points[0].config.seed, 1);
    assert_eq!(s.points[1].config.seed, 2);
}

#[test]
fn random_draws_are_in_range_unique_and_reproducible() {
    let yaml = "name: r\nmethod: random\ncount: 50\nrandom_seed: 7\nparameters:\n  phase2.lr_backbone: {log_uniform: [1.0e-6, 1.0e-2]}\n  \
augment.rotation_deg: {uniform: [0, 30]}\n  phase2.epochs: {int_uniform: [1, 4]}\n  scheduler.kind: {values: [none, cosine, step]}\n";
    let a = ok(yaml);
    assert_eq!(a.points.len(), 50);
    let mut epochs_seen = HashSet::new();
    for p in &a.points {
        let c = &p.config;
        assert!(
            (1e-6..=1e-2).contains(&c.phase2.lr_backbone),
            "{}",
            c.phase2.lr_backbone
        );
        assert!((0.0..30.0).contains(&c.augment.rotation_deg));
        assert!((1..=4).contains(&c.phase2.epochs));
        epochs_seen.insert(c.phase2.epochs);
    }
    assert_eq!(epochs_seen.len(), 4, "int_uniform includes both ends");
    let ids: HashSet<_> = a.points.iter().map(|p| &p.trial_id).collect();
    assert_eq!(ids.len(), 50);
    // Log-uniform: about half the draws below the geometric middle 1e-4.
    let low = a
        .points
        .iter()
        .filter(|p| p.config.phase2.lr_backbone < 1e-4)
        .count();
    assert!((10..=40).contains(&low), "{low} of 50 below 1e-4");

    let b = ok(yaml);
    assert_eq!(a.points, b.points, "same seed, same points");
    let c = ok(&yaml.replace("random_seed: 7", "random_seed: 8"));
    assert_ne!(a.points[0].trial_id, c.points[0].trial_id);
    let unseeded = ok(&yaml.replace("random_seed: 7\n", ""));
    let seed0 = ok(&yaml.replace("random_seed: 7", "random_seed: 0"));
    assert_eq!(unseeded.points, seed0.points, "random_seed defaults to 0");
}

#[test]
fn random_over_a_small_discrete_space_finds_every_point_or_refuses() {
    let s = ok("name: r\nmethod: random\ncount: 6\nparameters:\n  seed: {int_uniform: [0, 2]}\n  scheduler.kind: {values: [none, cosine]}\n");
    assert_eq!(s.points.len(), 6);
    let e = refused("name: r\nmethod: random\ncount: 7\nparameters:\n  seed: {int_uniform: [0, 2]}\n  scheduler.kind: {values: [none, cosine]}\n");
    assert!(e.message().contains("6 distinct"), "{e}");
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let e = refused("name: x\nmethod: grid\nbase:\n  phase2:\n    lr_bakbone: 0.1\n");
    assert!(e.message().contains("lr_bakbone"), "{e}");
    assert_eq!(e.location().map(|l| l.0), Some(5), "{e}");
    assert!(e.to_string().starts_with("t.yaml: "), "{e}");

    let e = refused("name: x\nmethod: grid\nparalelism: 2\n");
    assert!(
        e.message().contains("paralelism") && e.location().map(|l| l.0) == Some(3),
        "{e}"
    );

    let e = refused("name: x\nmethod: grid\nparameters:\n  seed: {values: [1], step: 2}\n");
    assert!(
        e.message().contains("step") && e.location().map(|l| l.0) == Some(4),
        "{e}"
    );

    let e = refused("name: x\nmethod: grid\nmetric: {name: val_acc, gaol: maximize}\n");
    assert!(e.message().contains("gaol"), "{e}");
}

#[test]
fn bad_values_name_the_field() {
    let e = refused("name: x\nmethod: grid\nbase: {input_size: 16}\n");
    assert!(e.message().contains("input_size"), "{e}");
    let e = refused(
        "name: x\nmethod: grid\nparameters:\n  loss.label_smoothing: {values: [0.0, 1.5]}\n",
    );
    assert!(
        e.message().contains("loss.label_smoothing") && e.message().contains("1.5"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nparameters:\n  batch_size: {values: [32, many]}\n");
    assert!(
        e.message().contains("batch_size") && e.message().contains("many"),
        "{e}"
    );
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  phase2.unfreeze: {values: [[layer5]]}\n");
    assert!(
        e.message().contains("phase2.unfreeze") && e.message().contains("layer5"),
        "{e}"
    );
    let e = refused(
        "name: x\nmethod: random\ncount: 3\nparameters:\n  batch_size: {uniform: [16, 64]}\n",
    );
    assert!(e.message().contains("batch_size"), "{e}");
    let e = refused("name: x\nmethod: grid\nmethod: random\n");
    assert!(e.location().is_some(), "{e}");
    let e = refused("name: x\nmethod: sideways\n");
    assert!(
        e.message().contains("sideways") && e.location().is_some(),
        "{e}"
    );
}

#[test]
fn nonexistent_paths_are_refused_with_close_valid_ones() {
    let e = refused("name: x\nmethod: grid\nparameters:\n  phase2.lr_bakbone: {values: [0.1]}\n");
    assert!(e.message().contains("phase2.lr_bakbone"), "{e}");
    assert!(e.message().contains("phase2.lr_backbone"), "{e}");
    let e = refused("name: x\nmethod: grid\nparameters:\n  label_smoothing: {values: [0.1]}\n");
    assert!(e.message().contains("loss.label_smoothing"), "{e}");
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  phase2.unfreeze.0: {values: [layer1]}\n");
    assert!(e.message().contains("phase2.unfreeze.0"), "{e}");
}

#[test]
fn a_huge_grid_is_refused_instantly_with_size_and_cap() {
    let mut yaml = String::from("name: huge\nmethod: grid\nparameters:\n");
    // 10^30 points: 30 parameters of 10 values each (all valid fields).
    let fields = [
        "seed",
        "batch_size",
        "threads",
        "phase1.epochs",
        "phase2.epochs",
        "scheduler.step_size",
        "scheduler.patience",
        "data.split_seed",
        "input_size",
    ];
    let floats = [
        "phase1.lr_backbone",
        "phase1.lr_head",
        "phase2.lr_backbone",
        "phase2.lr_head",
        "optimizer.weight_decay",
        "optimizer.beta1",
        "optimizer.beta2",
        "optimizer.eps",
        "loss.label_smoothing",
        "augment.rotation_deg",
        "augment.translate",
        "scheduler.gamma",
        "scheduler.factor",
        "scheduler.min_lr_factor",
    ];
    for f in fields {
        yaml += &format!("  {f}: {{values: [32, 33, 34, 35, 36, 37, 38, 39, 40, 41]}}\n");
    }
    for f in floats {
        yaml +=
            &format!("  {f}: {{values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.15]}}\n");
    }
    for f in [
        "augment.enabled",
        "backbone.hold_frozen_bn",
        "scheduler.phase1",
    ] {
        yaml += &format!("  {f}: {{values: [true, false, true, false, true, false, true, false, true, false]}}\n");
    }
    // 9 + 14 + 3 = 26 parameters; 4 more with 10 values each.
    yaml += "  data.train: {values: [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]}\n";
    yaml += "  data.val: {values: [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]}\n";
    yaml += "  data.test: {values: [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]}\n";
    yaml += "  data.dir: {values: [a, b, c, d, e, f, g, h, i, j]}\n";
    let started = Instant::now();
    let e = refused(&yaml);
    assert!(
        started.elapsed().as_millis() < 2000,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        e.message().contains("1000000000000000000000000000000"),
        "{e}"
    );
    assert!(e.message().contains("max_grid = 10000"), "{e}");

    let e = load("name: g\nmethod: grid\nparameters:\n  seed: {values: [1, 2, 3]}\n  threads: {values: [1, 2]}\n", "g.yaml", &max_grid(5))
        .unwrap_err();
    assert!(
        e.message().contains("6 points") && e.message().contains("max_grid = 5"),
        "{e}"
    );
    let e = load(
        "name: r\nmethod: random\ncount: 6\nparameters:\n  seed: {int_uniform: [0, 100]}\n",
        "r.yaml",
        &max_grid(5),
    )
    .unwrap_err();
    assert!(
        e.message().contains("count") && e.message().contains("max_grid = 5"),
        "{e}"
    );
}

#[test]
fn test_metrics_never_rank() {
    let e = refused("name: x\nmethod: grid\nmetric: {name: test_acc, goal: maximize}\n");
    assert!(
        e.message().contains("test_acc") && e.message().contains("test never ranks"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nmetric: {name: accuracy}\n");
    assert!(
        e.message().contains("accuracy") && e.message().contains("val_acc"),
        "{e}"
    );
}

#[test]
fn method_specific_keys_are_checked() {
    assert!(refused("name: x\nmethod: grid\ncount: 3\n")
        .message()
        .contains("count"));
    assert!(refused("name: x\nmethod: grid\nrandom_seed: 3\n")
        .message()
        .contains("random_seed"));
    assert!(refused("name: x\nmethod: random\n")
        .message()
        .contains("count"));
    assert!(refused("name: x\nmethod: random\ncount: 0\n")
        .message()
        .contains("count"));
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  phase2.lr_head: {uniform: [0.001, 0.01]}\n");
    assert!(
        e.message().contains("phase2.lr_head") && e.message().contains("method: random"),
        "{e}"
    );
    let e = refused("name: x\nmethod: random\ncount: 2\nparameters:\n  phase2.lr_head: {log_uniform: [0, 0.01]}\n");
    assert!(
        e.message().contains("phase2.lr_head") && e.message().contains("0 < a"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nparameters:\n  seed: {values: []}\n");
    assert!(
        e.message().contains("seed") && e.message().contains("empty"),
        "{e}"
    );
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  seed: {values: [1], int_uniform: [1, 2]}\n");
    assert!(e.message().contains("exactly one"), "{e}");
    let e = refused("name: x\nmethod: grid\nparameters:\n  data: {values: [{train: 100}]}\n  data.train: {values: [200]}\n");
    assert!(e.message().contains("inside"), "{e}");
    assert!(refused("name: ''\nmethod: grid\n")
        .message()
        .contains("name"));
    assert!(refused("name: x\nmethod: grid\nmax_attempts: 0\n")
        .message()
        .contains("max_attempts"));
    let e = refused(
        "name: x\nmethod: grid\nparameters:\n  seed: {values: [1]}\n  seed: {values: [2]}\n",
    );
    assert!(
        e.message().contains("seed") && e.location().is_some(),
        "{e}"
    );
}

#[test]
fn whole_subtrees_can_be_swept() {
    let s = ok("name: x\nmethod: grid\nparameters:\n  data: {values: [{train: 100, val: 100, test: 100}]}\n");
    assert_eq!(s.points[0].config.data.train, 100);
    assert_eq!(s.points[0].config.data.dir, TrialConfig::default().data.dir);
}

/// Loads `yaml` with the default limits, expecting a refusal within 1 s (a
/// generous bound for a noisy debug build; the target is under 100 ms, and
/// the measured time is printed). Returns the error's text.
fn refused_fast(what: &str, yaml: &str) -> String {
    let started = Instant::now();
    let result = load(yaml, "hostile.yaml", &LoadLimits::default());
    let took = started.elapsed();
    let e = match result {
        Ok(s) => panic!("{what}: accepted with {} points", s.points.len()),
        Err(e) => e.to_string(),
    };
    println!(
        "{what} ({} bytes): refused in {:.1} ms: {}",
        yaml.len(),
        took.as_secs_f64() * 1000.0,
        e.chars().take(300).collect::<String>()
    );
    assert!(took.as_millis() < 1000, "{what}: took {took:?}");
    assert!(
        e.starts_with("hostile.yaml: ") && !e.contains('\n'),
        "one line naming the file: {e}"
    );
    e
}

#[test]
fn an_alias_bomb_is_refused_fast() {
    // The file: one anchored list of 50,000 items replayed through
    // 50,000 aliases inside `parameters.phase2.unfreeze.values`.
    let items = vec!["layer4"; 50_000].join(", ");
    let aliases = vec!["*a"; 50_000].join(", ");
    let yaml = format!(
        "name: bomb\nmethod: grid\nparameters:\n  phase2.unfreeze:\n    values: [&a [{items}], {aliases}]\n"
    );
    assert!(yaml.len() > 500_000 && yaml.len() < 1024 * 1024);
    let e = refused_fast("alias bomb", &yaml);
    assert!(
        e.contains("alias budget") && e.contains("parameters.phase2.unfreeze.values"),
        "{e}"
    );
    assert!(e.contains("line 5, column"), "{e}");

    // A list small enough to anchor, replayed too often.
    let items = vec!["layer4"; 1_000].join(", ");
    let yaml = format!(
        "name: bomb\nmethod: grid\nparameters:\n  phase2.unfreeze:\n    values: [&a [{items}], {aliases}]\n"
    );
    let e = refused_fast("alias bomb, small anchor", &yaml);
    assert!(e.contains("alias budget") && e.contains("line 5"), "{e}");
}

#[test]
fn billion_laughs_is_refused_fast() {
    let mut lists = vec![format!("&l0 [{}]", ["lol"; 10].join(", "))];
    for i in 1..10 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        lists.push(format!("&l{i} [{refs}]"));
    }
    let yaml = format!(
        "name: lol\nmethod: grid\nparameters:\n  seed:\n    values: [{}]\n",
        lists.join(", ")
    );
    let e = refused_fast("billion laughs", &yaml);
    assert!(e.contains("alias budget") && e.contains("line 5"), "{e}");
}

#[test]
fn deep_nesting_is_refused_fast() {
    let n = 10_000;
    let flow = format!(
        "name: deep\nmethod: grid\nparameters:\n  seed: {{values: {}1{}}}\n",
        "[".repeat(n),
        "]".repeat(n)
    );
    let e = refused_fast("10,000-deep flow nesting", &flow);
    assert!(
        e.contains("nested deeper than 32") && e.contains("line 4"),
        "{e}"
    );
    let block = format!(
        "name: deep\nmethod: grid\nparameters:\n  seed:\n    values:\n      {}1\n",
        "- ".repeat(n)
    );
    let e = refused_fast("10,000-deep block nesting", &block);
    assert!(
        e.contains("nested deeper than 32") && e.contains("line 6"),
        "{e}"
    );
    let maps = format!(
        "name: deep\nmethod: grid\nparameters:\n  seed: {{values: [{}1{}]}}\n",
        "{a: ".repeat(n),
        "}".repeat(n)
    );
    let e = refused_fast("10,000-deep mappings", &maps);
    assert!(e.contains("nested deeper than 32"), "{e}");
}

#[test]
fn duplicate_keys_are_refused_with_their_line() {
    for (yaml, line) in [
        ("name: a\nmethod: grid\nname: b\n", 3),
        ("name: a\nmethod: grid\nbase:\n  seed: 1\n  seed: 2\n", 5),
        (
            "name: a\nmethod: grid\nbase: {phase2: {epochs: 1, epochs: 2}}\n",
            3,
        ),
        (
            "name: a\nmethod: grid\nparameters:\n  seed: {values: [1], values: [2]}\n",
            4,
        ),
    ] {
        let e = load(yaml, "dup.yaml", &LoadLimits::default()).unwrap_err();
        println!("{e}");
        assert!(e.message().contains("duplicate"), "{e}");
        assert_eq!(e.location().map(|l| l.0), Some(line), "{e}");
    }
    let e = refused_fast(
        "duplicate key",
        "name: a\nmethod: grid\nmetric: {name: val_acc, name: val_loss}\n",
    );
    assert!(e.contains("duplicate mapping key `name`"), "{e}");
}

#[test]
fn a_file_over_the_size_cap_is_refused_unread() {
    let mut yaml = String::from("name: big\nmethod: grid\nparameters:\n  seed: {values: [");
    while yaml.len() < 20 << 20 {
        yaml += "1, ";
    }
    yaml += "1]}\n";
    let e = refused_fast("20 MiB file", &yaml);
    assert!(
        e.contains(&yaml.len().to_string()) && e.contains("1048576"),
        "names its size and the cap: {e}"
    );

    // The cap is the caller's: one byte over it is refused, at it is parsed.
    let small = "name: s\nmethod: grid\n";
    let at = LoadLimits {
        max_file_bytes: small.len(),
        ..LoadLimits::default()
    };
    load(small, "s.yaml", &at).unwrap();
    let under = LoadLimits {
        max_file_bytes: small.len() - 1,
        ..LoadLimits::default()
    };
    let e = load(small, "s.yaml", &under).unwrap_err();
    match e {
        SweepFileError::TooLarge { size, max, .. } => assert_eq!((size, max), (21, 20)),
        other => panic!("{other}"),
    }
}

#[test]
fn a_values_list_over_max_grid_is_refused_before_any_value_is_checked() {
    let values = vec!["1"; 20_001].join(", ");
    let yaml =
        format!("name: v\nmethod: random\ncount: 5\nparameters:\n  seed: {{values: [{values}]}}\n");
    let e = refused_fast("20,001 values", &yaml);
    assert!(
        e.contains("parameter `seed`") && e.contains("20001 values, more than max_grid = 10000"),
        "{e}"
    );
}

#[test]
fn numbers_at_the_edges_are_refused_naming_the_field() {
    // `phase1.epochs: 4294967295` once wrapped the epochs sum.
    let e = refused("name: x\nmethod: grid\nbase: {phase1: {epochs: 4294967295}}\n");
    assert!(e.message().contains("`phase1.epochs`"), "{e}");
    let e = refused("name: x\nmethod: grid\nparameters:\n  phase1.epochs: {values: [4294967295]}\n  phase2.epochs: {values: [1]}\n");
    assert!(
        e.message().contains("phase1.epochs: 4294967295")
            && e.message().contains("`phase1.epochs`"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nbase: {phase1: {epochs: 4294967296}}\n");
    assert!(
        e.message().contains("phase1.epochs") && e.location().is_some(),
        "{e}"
    );
    for (yaml, field) in [
        ("base: {phase2: {epochs: 1001}}", "phase2.epochs"),
        (
            "base: {phase1: {epochs: 600}, phase2: {epochs: 600}}",
            "phase2.epochs",
        ),
        ("base: {batch_size: 65537}", "batch_size"),
        ("base: {input_size: 1025}", "input_size"),
        ("base: {data: {train: 4294967290, val: 10}}", "data.train"),
        ("base: {data: {train: 100, val: 4294967290}}", "data.val"),
        ("base: {data: {test: 4294967290}}", "data.test"),
    ] {
        let e = refused(&format!("name: x\nmethod: grid\n{yaml}\n"));
        assert!(e.message().contains(&format!("`{field}`")), "{yaml}: {e}");
    }
}

#[test]
fn distribution_bounds_are_finite_ordered_and_never_overflow() {
    let random =
        |param: &str| format!("name: x\nmethod: random\ncount: 2\nparameters:\n  {param}\n");
    for (param, needle) in [
        ("phase2.lr_head: {uniform: [0.01, 0.001]}", "a < b"),
        ("phase2.lr_head: {uniform: [.nan, 0.1]}", "finite"),
        ("phase2.lr_head: {uniform: [0, .inf]}", "finite"),
        (
            "augment.rotation_deg: {uniform: [-1.0e308, 1.0e308]}",
            "b - a finite",
        ),
        ("phase2.lr_head: {log_uniform: [0.1, 0.01]}", "0 < a < b"),
        ("phase2.lr_head: {log_uniform: [-1, 0.01]}", "0 < a < b"),
        ("seed: {int_uniform: [5, 4]}", "a ≤ b"),
    ] {
        let e = refused(&random(param));
        let name = param.split(':').next().unwrap();
        assert!(
            e.message().contains(&format!("parameter `{name}`")) && e.message().contains(needle),
            "{param}: {e}"
        );
    }
    // The whole i64 range: counted in i128, drawn without overflow; the
    // values that do not fit `seed` (u64) are refused by its type.
    let e = refused(&random(
        "seed: {int_uniform: [-9223372036854775808, 9223372036854775807]}",
    ));
    assert!(
        e.message()
            .contains("parameter `seed` = -9223372036854775808"),
        "{e}"
    );
    let s = ok(&random("seed: {int_uniform: [0, 9223372036854775807]}"));
    assert_eq!(s.points.len(), 2);
}

#[test]
fn names_are_capped_and_echoed_short() {
    let long = "n".repeat(201);
    let e = refused(&format!("name: {long}\nmethod: grid\n"));
    assert!(
        e.message()
            .contains("`name`: 201 characters, more than 200"),
        "{e}"
    );
    let e = refused(&format!(
        "name: x\nmethod: grid\nparameters:\n  {long}: {{values: [1]}}\n"
    ));
    assert!(
        e.message().contains("a name of 201 characters") && e.to_string().len() < 200,
        "{e}"
    );
    let e = refused(&format!(
        "name: x\nmethod: grid\nmetric: {{name: {}}}\n",
        "m".repeat(10_000)
    ));
    assert!(
        e.message().contains("unknown metric") && e.to_string().len() < 400,
        "{e}"
    );
    assert!(refused("name: x\nmethod: grid\nmax_attempts: 101\n")
        .message()
        .contains("`max_attempts`: must be within [1, 100], got 101"));
    // A huge value is shown cut short.
    let e = refused(&format!(
        "name: x\nmethod: grid\nparameters:\n  data.dir: {{values: [{}]}}\n",
        "d".repeat(5_000)
    ));
    assert!(
        e.message().contains("`data.dir`") && e.to_string().len() < 400,
        "{e}"
    );
}

#[test]
fn a_grid_whose_asha_judges_again_is_leased_dearest_first() {
    let grid = "name: g
method: grid
base: {input_size: 32}
parameters:
  phase2.unfreeze: {values: [[layer4], [layer3, layer4], [all]]}
  loss.label_smoothing: {values: [0.0, 0.1]}
  scheduler.kind: {values: [none, cosine]}
";
    let depth = |s: &Sweep| -> Vec<usize> {
        s.points
            .iter()
            .map(|p| p.config.phase2.unfreeze.len())
            .collect()
    };
    let again = ok(&format!(
        "{grid}early_stop: {{kind: asha, rejudge: true}}\n"
    ));
    // [all] (one name) first, then [layer3, layer4], then [layer4].
    assert_eq!(depth(&again), [[1; 4], [2; 4], [1; 4]].concat());
    assert!(again.points[..4]
        .iter()
        .all(|p| p.config.phase2.unfreeze == [sweep_proto::trial::Stage::All]));
    let costs: Vec<f64> = again
        .points
        .iter()
        .map(|p| p.config.relative_cost())
        .collect();
    assert!(costs.windows(2).all(|w| w[0] >= w[1]), "{costs:?}");
    // Judged once, ASHA keeps the seeded random order; without early
    // stopping, the file's.
    let once = ok(&format!("{grid}early_stop: {{kind: asha}}\n"));
    assert_ne!(depth(&once), depth(&again));
    let plain = ok(grid);
    assert_eq!(depth(&plain), [[1; 4], [2; 4], [1; 4]].concat());
    assert_eq!(
        plain.points[0].config.phase2.unfreeze,
        [sweep_proto::trial::Stage::Layer4]
    );
}
