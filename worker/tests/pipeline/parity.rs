//! Our hand-written ResNet18 and MobileNetV2 against torchvision: random
//! weights (BatchNorm statistics randomised too) from
//! scripts/make_parity_fixture.py, the same input, eval-mode logits within
//! 1e-4; and the state dict round-trips.

use super::common::{python, repo_root};
use std::collections::HashMap;
use std::process::Command;
use sweep_worker::pipeline::net::{Head, Layout, Net};
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

/// Runs scripts/make_parity_fixture.py with `args`; (weights, io).
fn fixture(args: &[&str]) -> (HashMap<String, Tensor>, HashMap<String, Tensor>) {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(python())
        .arg(repo_root().join("scripts/make_parity_fixture.py"))
        .arg(dir.path())
        .args(args)
        .status()
        .expect("run make_parity_fixture.py");
    assert!(status.success(), "make_parity_fixture.py failed");
    (
        read(&dir.path().join("weights.safetensors")),
        read(&dir.path().join("io.safetensors")),
    )
}

/// Loads torchvision's `weights` as `model`, checks its eval-mode logits
/// against torchvision's within 1e-4 and that the state dict it writes is
/// torchvision's (same names, same values); returns the model.
fn assert_parity(
    model: sweep_proto::trial::Model,
    weights: &HashMap<String, Tensor>,
    io: &HashMap<String, Tensor>,
) -> Net {
    let net = Net::from_state_dict(model, copy(weights), Head::Keep)
        .unwrap_or_else(|e| panic!("torchvision's {model} state dict does not load: {e}"));
    let ours = net.forward_eval(&io["input"]);
    let theirs = &io["logits"];
    assert_eq!(ours.size(), theirs.size());
    let diff = (&ours - theirs).abs().max().double_value(&[]);
    let scale = theirs.abs().max().double_value(&[]);
    assert!(
        diff < 1e-4,
        "{model}: max |ours - torchvision| = {diff} (logits up to {scale})"
    );
    assert!(
        scale > 0.1,
        "the fixture's logits should not be trivially small"
    );
    // A gray image in [0, 1], as the pipeline feeds it (replication and
    // normalisation folded into the first conv), in both layouts.
    for layout in [Layout::Nchw, Layout::ChannelsLast] {
        let mut net = Net::from_state_dict(model, copy(weights), Head::Keep).unwrap();
        net.set_layout(layout);
        let ours = net.forward_eval(&io["gray"]);
        let theirs = &io["gray_logits"];
        let diff = (&ours - theirs).abs().max().double_value(&[]);
        assert!(
            diff < 1e-4,
            "{model}, gray input, {layout:?}: max |ours - torchvision| = {diff}"
        );
    }
    let ours_sd: HashMap<String, Tensor> = net.state_dict().into_iter().collect();
    assert_eq!(ours_sd.len(), weights.len());
    for (name, t) in weights {
        let o = ours_sd
            .get(name)
            .unwrap_or_else(|| panic!("we lack {name}"));
        assert_eq!(o.size(), t.size(), "{name}");
        let same = o.to_kind(Kind::Double).equal(&t.to_kind(Kind::Double));
        assert!(same, "{name} differs after the round trip");
    }
    net
}

#[test]
fn forward_matches_torchvision_and_state_dict_round_trips() {
    let (weights, io) = fixture(&[]);
    assert_parity(sweep_proto::trial::Model::Resnet18, &weights, &io);
}

#[test]
fn a_fresh_head_replaces_a_thousand_class_fc() {
    let (mut weights, _) = fixture(&["--size", "32", "--seed", "3"]);
    // num_batches_tracked may be absent.
    weights.retain(|k, _| !k.ends_with("num_batches_tracked"));
    let model = Net::from_state_dict(
        sweep_proto::trial::Model::Resnet18,
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 7,
        },
    )
    .unwrap();
    assert_eq!(model.head.weight.size(), vec![10, 512]);
    let bound = 1.0 / 512f64.sqrt();
    assert!(model.head.weight.abs().max().double_value(&[]) <= bound);
    // The same seed makes the same head; another seed another one.
    let again = Net::from_state_dict(
        sweep_proto::trial::Model::Resnet18,
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 7,
        },
    )
    .unwrap();
    assert!(again.head.weight.equal(&model.head.weight));
    let other = Net::from_state_dict(
        sweep_proto::trial::Model::Resnet18,
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 8,
        },
    )
    .unwrap();
    assert!(!other.head.weight.equal(&model.head.weight));
    // A tensor of the wrong shape, or a missing one, is refused by name.
    let mut bad = copy(&weights);
    bad.insert(
        "layer3.1.bn2.running_var".into(),
        Tensor::ones([7], (Kind::Float, tch::Device::Cpu)),
    );
    let err = Net::from_state_dict(sweep_proto::trial::Model::Resnet18, bad, Head::Keep)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("layer3.1.bn2.running_var"), "{err}");
    let mut missing = weights;
    missing.remove("layer2.0.downsample.0.weight");
    let err = Net::from_state_dict(sweep_proto::trial::Model::Resnet18, missing, Head::Keep)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("layer2.0.downsample.0.weight"), "{err}");
}

/// MobileNetV2 against torchvision's `mobilenet_v2()`, as the ResNet above:
/// eval-mode logits within 1e-4 (depthwise convs and ReLU6 included), the
/// state dict round-trips in torchvision's names, and a ResNet file is
/// refused with a hint.
#[test]
fn mobilenet_v2_matches_torchvision_and_round_trips() {
    use sweep_proto::trial::{Model, Stage};
    let (weights, io) = fixture(&["--model", "mobilenet_v2", "--size", "64", "--seed", "5"]);
    let model = assert_parity(Model::MobilenetV2, &weights, &io);

    // Every named block owns parameters, and `features.17` is what freezing
    // it names: its parameters are exactly torchvision's `features.17.*`.
    let mut blocks = 0;
    for &s in Model::MobilenetV2.stages() {
        assert!(
            !model.stage(s).parameters().is_empty(),
            "{s} has no parameters"
        );
        blocks += 1;
    }
    assert_eq!(blocks, 19);
    let in_17 = weights
        .iter()
        .filter(|(k, v)| k.starts_with("features.17.") && v.is_floating_point())
        .filter(|(k, _)| !k.contains("running_"))
        .count();
    assert_eq!(model.stage(Stage::Features(17)).parameters().len(), in_17);

    // A fresh 10-class head on 1280 features.
    let fresh = Net::from_state_dict(
        Model::MobilenetV2,
        copy(&weights),
        Head::Fresh {
            classes: 10,
            seed: 1,
        },
    )
    .unwrap();
    assert_eq!(fresh.head.weight.size(), vec![10, 1280]);

    // The wrong architecture is refused, naming what is missing and why.
    let err = Net::from_state_dict(Model::Resnet18, weights, Head::Keep)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("mobilenet") || err.contains("features"),
        "{err}"
    );
}
