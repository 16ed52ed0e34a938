//! Our hand-written ResNet18 against torchvision: random weights (BatchNorm
//! statistics randomised too) from scripts/make_parity_fixture.py, the same
//! input, eval-mode logits within 1e-4; and the state dict round-trips.

use super::common::{python, repo_root};
use std::collections::HashMap;
use std::process::Command;
use sweep_worker::pipeline::resnet::{Head, ResNet18};
use tch::{Kind, Tensor};

fn read(path: &std::path::Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

/// A deep copy (tch tensors are not `Clone`).
fn copy(sd: &HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    sd.iter().map(|(k, v)| (k.clone(), v.copy())).collect()
}

#[test]
fn forward_matches_torchvision_and_state_dict_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(python())
        .arg(repo_root().join("scripts/make_parity_fixture.py"))
        .arg(dir.path())
        .status()
        .expect("run make_parity_fixture.py");
    assert!(status.success(), "make_parity_fixture.py failed");
    let weights = read(&dir.path().join("weights.safetensors"));
    let io = read(&dir.path().join("io.safetensors"));

    let model = ResNet18::from_state_dict(copy(&weights), Head::Keep)
        .expect("torchvision's state dict loads");
    let ours = model.forward_eval(&io["input"]);
    let theirs = &io["logits"];
    assert_eq!(ours.size(), theirs.size());
    let diff = (&ours - theirs).abs().max().double_value(&[]);
    let scale = theirs.abs().max().double_value(&[]);
    assert!(
        diff < 1e-4,
        "max |ours - torchvision| = {diff} (logits up to {scale})"
    );
    assert!(
        scale > 0.1,
        "the fixture's logits should not be trivially small"
    );

    // The state dict we write is torchvision's: same names, same values.
    let ours_sd: HashMap<String, Tensor> = model.state_dict().into_iter().collect();
    assert_eq!(ours_sd.len(), weights.len());
    for (name, t) in &weights {
        let o = ours_sd
            .get(name)
            .unwrap_or_else(|| panic!("we lack {name}"));
        assert_eq!(o.size(), t.size(), "{name}");
        let same = o.to_kind(Kind::Double).equal(&t.to_kind(Kind::Double));
        assert!(same, "{name} differs after the round trip");
    }
}

#[test]
fn a_fresh_head_replaces_a_thousand_class_fc() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(python())
        .arg(repo_root().join("scripts/make_parity_fixture.py"))
        .args([dir.path().to_str().unwrap(), "--size", "32", "--seed", "3"])
        .status()
        .unwrap();
    assert!(status.success());
    let mut weights = read(&dir.path().join("weights.safetensors"));
    // num_batches_tracked may be absent.
    weights.retain(|k, _| !k.ends_with("num_batches_tracked"));
    let model = ResNet18::from_state_dict(
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 7,
        },
    )
    .unwrap();
    assert_eq!(model.fc.weight.size(), vec![10, 512]);
    let bound = 1.0 / 512f64.sqrt();
    assert!(model.fc.weight.abs().max().double_value(&[]) <= bound);
    // The same seed makes the same head; another seed another one.
    let again = ResNet18::from_state_dict(
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 7,
        },
    )
    .unwrap();
    assert!(again.fc.weight.equal(&model.fc.weight));
    let other = ResNet18::from_state_dict(
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 8,
        },
    )
    .unwrap();
    assert!(!other.fc.weight.equal(&model.fc.weight));
    // A tensor of the wrong shape, or a missing one, is refused by name.
    let mut bad = copy(&weights);
    bad.insert(
        "layer3.1.bn2.running_var".into(),
        Tensor::ones([7], (Kind::Float, tch::Device::Cpu)),
    );
    let err = ResNet18::from_state_dict(bad, Head::Keep)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("layer3.1.bn2.running_var"), "{err}");
    let mut missing = weights;
    missing.remove("layer2.0.downsample.0.weight");
    let err = ResNet18::from_state_dict(missing, Head::Keep)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("layer2.0.downsample.0.weight"), "{err}");
}
