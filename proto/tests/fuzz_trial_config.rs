//! Property-based fuzzing of what a worker or the coordinator accepts as a
//! trial: TrialConfig JSON with hostile values at every field (edge integers,
//! huge and tiny floats, wrong types, long strings), the YAML entry point
//! under its budget, and TrialResult JSON with non-finite metrics. Nothing
//! may panic; a config `validate` accepts must be one the pipeline can run
//! without overflow.
//!
//! CI runs `SWEEP_FUZZ_CASES` cases per property (default 2,000); a longer run:
//! `SWEEP_FUZZ_CASES=200000 cargo test --release -p sweep-proto --test fuzz_trial_config`.

use proptest::prelude::*;
use serde_json::{json, Value};
use sweep_proto::trial::limits::{MAX_BATCH_SIZE, MAX_INPUT_SIZE, MAX_TRIAL_EPOCHS};
use sweep_proto::trial::{TrialConfig, TrialResult};
use sweep_proto::yaml::{self, YamlBudget};

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

/// Every leaf path of the default config ("phase2.lr_backbone", ...).
fn leaf_paths() -> Vec<Vec<String>> {
    fn walk(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    at.push(k.clone());
                    walk(child, at, out);
                    at.pop();
                }
            }
            _ => out.push(at.clone()),
        }
    }
    let mut out = Vec::new();
    walk(
        &serde_json::to_value(TrialConfig::default()).unwrap(),
        &mut Vec::new(),
        &mut out,
    );
    out
}

/// Values a hostile submitter would try.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(u32::MAX)),
        Just(json!(u64::from(u32::MAX) + 1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(5e-324)),
        Just(json!(-0.0)),
        Just(json!("NaN")),
        Just(json!("inf")),
        Just(json!("")),
        Just(json!("../../../../etc/passwd")),
        Just(json!("x".repeat(10_000))),
        Just(json!(null)),
        Just(json!(true)),
        Just(json!([])),
        Just(json!(["layer4", "layer4", "fc", "all"])),
        Just(json!({})),
        any::<u32>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z0-9_./]{0,12}".prop_map(|s| json!(s)),
    ]
}

fn set(v: &mut Value, path: &[String], to: Value) {
    let mut at = v;
    for key in &path[..path.len() - 1] {
        at = &mut at[key.as_str()];
    }
    at[path[path.len() - 1].as_str()] = to;
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_fields_never_panic_and_accepted_configs_are_runnable(
        edits in prop::collection::vec((any::<prop::sample::Index>(), hostile_value()), 1..6)
    ) {
        let paths = leaf_paths();
        let mut v = serde_json::to_value(TrialConfig::default()).unwrap();
        for (which, value) in edits {
            let path: &Vec<String> = which.get(&paths);
            set(&mut v, path, value);
        }
        let Ok(config) = serde_json::from_value::<TrialConfig>(v) else {
            return Ok(());
        };
        if config.validate().is_ok() {
            // What the pipeline computes from an accepted config must not overflow.
            let epochs = config.phase1.epochs.checked_add(config.phase2.epochs);
            prop_assert!(epochs.is_some_and(|e| e <= MAX_TRIAL_EPOCHS));
            prop_assert_eq!(config.total_epochs(), epochs.unwrap());
            let d = &config.data;
            prop_assert!(d.train.checked_add(d.val).is_some());
            prop_assert!(config.batch_size >= 1 && config.batch_size <= MAX_BATCH_SIZE);
            prop_assert!(config.input_size <= MAX_INPUT_SIZE);
            prop_assert!(config.phase1.lr_head.is_finite() && config.phase2.lr_backbone.is_finite());
            // Round trip: what is stored is what is run.
            let again: TrialConfig = serde_json::from_str(&config.canonical_json()).unwrap();
            prop_assert_eq!(again.content_id(), config.content_id());
        }
    }

    #[test]
    fn arbitrary_yaml_text_never_panics(text in "[ -~\n\t]{0,400}") {
        let _ = yaml::from_str::<TrialConfig>(&text, &YamlBudget::default());
    }

    #[test]
    fn yaml_built_from_config_tokens_never_panics(
        tokens in prop::collection::vec(prop_oneof![
            Just("phase1:"), Just("phase2:"), Just(" epochs: "), Just(" unfreeze: "),
            Just("data:"), Just(" train: "), Just("&a "), Just("*a"), Just("<<: *a"),
            Just("["), Just("]"), Just("{"), Just("}"), Just(", "), Just("\n"), Just("\n  "),
            Just("- "), Just("4294967295"), Just("-1"), Just(".nan"), Just(".inf"), Just("1e999"),
            Just("!!binary "), Just("~"), Just("'"), Just("\""), Just("? "), Just("layer4"),
            Just("lr_head: "), Just("input_size: "), Just("batch_size: "), Just("seed: "),
        ], 0..80)
    ) {
        let text: String = tokens.concat();
        if let Ok(config) = yaml::from_str::<TrialConfig>(&text, &YamlBudget::default()) {
            let _ = config.validate();
        }
    }

    #[test]
    fn result_json_with_odd_numbers_never_panics(
        acc in prop_oneof![Just(json!("NaN")), Just(json!("inf")), Just(json!(null)), Just(json!(1e308)), any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f))],
        epoch in prop_oneof![Just(json!(0)), Just(json!(u32::MAX)), Just(json!(-1)), Just(json!(u64::MAX))],
    ) {
        let text = json!({
            "backbone": {"name": "b", "sha256": "0"},
            "epochs": [{"epoch": epoch, "phase": 1, "train_loss": acc, "train_acc": acc,
                        "val_loss": acc, "val_acc": acc, "val_ece": acc,
                        "lr_backbone": 0.1, "lr_head": 0.1, "wall_s": 1.0}],
            "best_epoch": epoch, "best_val_acc": acc, "best_val_loss": acc, "best_val_ece": acc,
            "test": {"acc": acc, "loss": acc, "ece": acc, "per_class_acc": [], "confusion": []},
            "phases": [], "wall_s": 1.0, "threads": 1, "host": "h"
        })
        .to_string();
        if let Ok(result) = serde_json::from_str::<TrialResult>(&text) {
            // What was read writes back and reads again.
            let back = serde_json::to_string(&result).unwrap();
            prop_assert!(serde_json::from_str::<TrialResult>(&back).is_ok(), "{}", back);
        }
    }
}
