//! Sweep file parsing and expansion: grid products, random draws (in range,
//! reproducible, unique), and every refusal with the place it names.

use serde_json::json;
use std::collections::HashSet;
use std::time::Instant;
use sweep_coordinator::sweepfile::{load, Goal, Method, Sweep, SweepFileError};
use sweep_proto::trial::{Stage, TrialConfig};

const SMALL_BASE: &str = "base:\n  input_size: 32\n  data: {train: 500, val: 200, test: 200}\n";

fn ok(yaml: &str) -> Sweep {
    load(yaml, "t.yaml", 10_000).unwrap_or_else(|e| panic!("refused: {e}"))
}

fn refused(yaml: &str) -> SweepFileError {
    match load(yaml, "t.yaml", 10_000) {
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
    assert!(e.message.contains("6 distinct"), "{e}");
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let e = refused("name: x\nmethod: grid\nbase:\n  phase2:\n    lr_bakbone: 0.1\n");
    assert!(e.message.contains("lr_bakbone"), "{e}");
    assert_eq!(e.location.map(|l| l.0), Some(5), "{e}");
    assert!(e.to_string().starts_with("t.yaml: "), "{e}");

    let e = refused("name: x\nmethod: grid\nparalelism: 2\n");
    assert!(
        e.message.contains("paralelism") && e.location.map(|l| l.0) == Some(3),
        "{e}"
    );

    let e = refused("name: x\nmethod: grid\nparameters:\n  seed: {values: [1], step: 2}\n");
    assert!(
        e.message.contains("step") && e.location.map(|l| l.0) == Some(4),
        "{e}"
    );

    let e = refused("name: x\nmethod: grid\nmetric: {name: val_acc, gaol: maximize}\n");
    assert!(e.message.contains("gaol"), "{e}");
}

#[test]
fn bad_values_name_the_field() {
    let e = refused("name: x\nmethod: grid\nbase: {input_size: 16}\n");
    assert!(e.message.contains("input_size"), "{e}");
    let e = refused(
        "name: x\nmethod: grid\nparameters:\n  loss.label_smoothing: {values: [0.0, 1.5]}\n",
    );
    assert!(
        e.message.contains("loss.label_smoothing") && e.message.contains("1.5"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nparameters:\n  batch_size: {values: [32, many]}\n");
    assert!(
        e.message.contains("batch_size") && e.message.contains("many"),
        "{e}"
    );
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  phase2.unfreeze: {values: [[layer5]]}\n");
    assert!(
        e.message.contains("phase2.unfreeze") && e.message.contains("layer5"),
        "{e}"
    );
    let e = refused(
        "name: x\nmethod: random\ncount: 3\nparameters:\n  batch_size: {uniform: [16, 64]}\n",
    );
    assert!(e.message.contains("batch_size"), "{e}");
    let e = refused("name: x\nmethod: grid\nmethod: random\n");
    assert!(e.location.is_some(), "{e}");
    let e = refused("name: x\nmethod: sideways\n");
    assert!(
        e.message.contains("sideways") && e.location.is_some(),
        "{e}"
    );
}

#[test]
fn nonexistent_paths_are_refused_with_close_valid_ones() {
    let e = refused("name: x\nmethod: grid\nparameters:\n  phase2.lr_bakbone: {values: [0.1]}\n");
    assert!(e.message.contains("phase2.lr_bakbone"), "{e}");
    assert!(e.message.contains("phase2.lr_backbone"), "{e}");
    let e = refused("name: x\nmethod: grid\nparameters:\n  label_smoothing: {values: [0.1]}\n");
    assert!(e.message.contains("loss.label_smoothing"), "{e}");
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  phase2.unfreeze.0: {values: [layer1]}\n");
    assert!(e.message.contains("phase2.unfreeze.0"), "{e}");
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
    assert!(e.message.contains("1000000000000000000000000000000"), "{e}");
    assert!(e.message.contains("max_grid = 10000"), "{e}");

    let e = load("name: g\nmethod: grid\nparameters:\n  seed: {values: [1, 2, 3]}\n  threads: {values: [1, 2]}\n", "g.yaml", 5)
        .unwrap_err();
    assert!(
        e.message.contains("6 points") && e.message.contains("max_grid = 5"),
        "{e}"
    );
    let e = load(
        "name: r\nmethod: random\ncount: 6\nparameters:\n  seed: {int_uniform: [0, 100]}\n",
        "r.yaml",
        5,
    )
    .unwrap_err();
    assert!(
        e.message.contains("count") && e.message.contains("max_grid = 5"),
        "{e}"
    );
}

#[test]
fn test_metrics_never_rank() {
    let e = refused("name: x\nmethod: grid\nmetric: {name: test_acc, goal: maximize}\n");
    assert!(
        e.message.contains("test_acc") && e.message.contains("test never ranks"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nmetric: {name: accuracy}\n");
    assert!(
        e.message.contains("accuracy") && e.message.contains("val_acc"),
        "{e}"
    );
}

#[test]
fn method_specific_keys_are_checked() {
    assert!(refused("name: x\nmethod: grid\ncount: 3\n")
        .message
        .contains("count"));
    assert!(refused("name: x\nmethod: grid\nrandom_seed: 3\n")
        .message
        .contains("random_seed"));
    assert!(refused("name: x\nmethod: random\n")
        .message
        .contains("count"));
    assert!(refused("name: x\nmethod: random\ncount: 0\n")
        .message
        .contains("count"));
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  phase2.lr_head: {uniform: [0.001, 0.01]}\n");
    assert!(
        e.message.contains("phase2.lr_head") && e.message.contains("method: random"),
        "{e}"
    );
    let e = refused("name: x\nmethod: random\ncount: 2\nparameters:\n  phase2.lr_head: {log_uniform: [0, 0.01]}\n");
    assert!(
        e.message.contains("phase2.lr_head") && e.message.contains("0 < a"),
        "{e}"
    );
    let e = refused("name: x\nmethod: grid\nparameters:\n  seed: {values: []}\n");
    assert!(
        e.message.contains("seed") && e.message.contains("empty"),
        "{e}"
    );
    let e =
        refused("name: x\nmethod: grid\nparameters:\n  seed: {values: [1], int_uniform: [1, 2]}\n");
    assert!(e.message.contains("exactly one"), "{e}");
    let e = refused("name: x\nmethod: grid\nparameters:\n  data: {values: [{train: 100}]}\n  data.train: {values: [200]}\n");
    assert!(e.message.contains("inside"), "{e}");
    assert!(refused("name: ''\nmethod: grid\n").message.contains("name"));
    assert!(refused("name: x\nmethod: grid\nmax_attempts: 0\n")
        .message
        .contains("max_attempts"));
    let e = refused(
        "name: x\nmethod: grid\nparameters:\n  seed: {values: [1]}\n  seed: {values: [2]}\n",
    );
    assert!(e.message.contains("seed") && e.location.is_some(), "{e}");
}

#[test]
fn whole_subtrees_can_be_swept() {
    let s = ok("name: x\nmethod: grid\nparameters:\n  data: {values: [{train: 100, val: 100, test: 100}]}\n");
    assert_eq!(s.points[0].config.data.train, 100);
    assert_eq!(s.points[0].config.data.dir, TrialConfig::default().data.dir);
}
