//! Freezing: after an optimizer step, frozen stages' parameters are exactly
//! unchanged and got no gradient; held BatchNorm statistics are unchanged;
//! BatchNorm statistics of trainable (or frozen, not held) stages move.

use std::collections::HashMap;
use sweep_proto::trial::{Model, OptimizerConfig, Stage};
use sweep_worker::pipeline::net::Net;
use sweep_worker::pipeline::optim::PhaseOptimizer;
use tch::{Kind, Reduction, Tensor};

fn params(m: &Net, s: Stage) -> Vec<Tensor> {
    m.stage(s)
        .parameters()
        .iter()
        .map(|t| t.detach().copy())
        .collect()
}

fn stats(m: &Net, s: Stage) -> Vec<Tensor> {
    m.bn_stats(s)
        .into_iter()
        .map(|(_, statistic)| statistic.copy())
        .collect()
}

fn same(a: &[Tensor], b: &[Tensor]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.equal(y))
}

/// One training step on a random batch, returns nothing; the model changes.
fn step(model: &Net, stages: &[Stage]) {
    let mut opt =
        PhaseOptimizer::new(model, stages, 1e-2, 1e-2, &OptimizerConfig::default()).unwrap();
    tch::manual_seed(3);
    let x = Tensor::randn([16, 3, 32, 32], (Kind::Float, tch::Device::Cpu));
    let y = Tensor::randint(10, [16], (Kind::Int64, tch::Device::Cpu));
    let loss =
        model
            .forward_train(&x)
            .cross_entropy_loss(&y, None::<Tensor>, Reduction::Mean, -100, 0.0);
    opt.zero_grad().unwrap();
    loss.backward();
    opt.step().unwrap();
}

#[test]
fn frozen_stages_and_held_batchnorm_do_not_move() {
    tch::manual_seed(0);
    let mut model = Net::random(sweep_proto::trial::Model::Resnet18, 10, 0);
    model.set_trainable(&[Stage::Layer4]);
    model.hold_frozen_bn = true;
    let before_p: HashMap<Stage, Vec<Tensor>> = Model::Resnet18
        .stages()
        .iter()
        .map(|&s| (s, params(&model, s)))
        .collect();
    let before_s: HashMap<Stage, Vec<Tensor>> = Model::Resnet18
        .stages()
        .iter()
        .map(|&s| (s, stats(&model, s)))
        .collect();
    let fc_before = model.head.weight.detach().copy();
    step(&model, &[Stage::Layer4]);
    for s in [Stage::Stem, Stage::Layer1, Stage::Layer2, Stage::Layer3] {
        assert!(
            same(&before_p[&s], &params(&model, s)),
            "frozen {} changed",
            s.name()
        );
        assert!(
            same(&before_s[&s], &stats(&model, s)),
            "held BatchNorm of {} changed",
            s.name()
        );
        assert!(
            model
                .stage(s)
                .parameters()
                .iter()
                .all(|p| !p.grad().defined()),
            "frozen {} got a gradient",
            s.name()
        );
    }
    assert!(
        !same(&before_p[&Stage::Layer4], &params(&model, Stage::Layer4)),
        "layer4 should train"
    );
    assert!(
        !same(&before_s[&Stage::Layer4], &stats(&model, Stage::Layer4)),
        "layer4's BN stats should update"
    );
    assert!(
        !fc_before.equal(&model.head.weight),
        "the head should train"
    );

    // Not held: frozen stages' BatchNorm statistics follow the batches (as
    // torch's model.train()), while their weights still do not move.
    model.hold_frozen_bn = false;
    let p2 = params(&model, Stage::Layer2);
    let s2 = stats(&model, Stage::Layer2);
    step(&model, &[Stage::Layer4]);
    assert!(
        same(&p2, &params(&model, Stage::Layer2)),
        "frozen layer2 weights changed"
    );
    assert!(
        !same(&s2, &stats(&model, Stage::Layer2)),
        "unheld BN stats of layer2 should update"
    );
}

#[test]
fn unfreezing_all_trains_every_stage() {
    tch::manual_seed(1);
    let model = Net::random(sweep_proto::trial::Model::Resnet18, 10, 1);
    model.set_trainable(&[Stage::All]);
    let before: Vec<Vec<Tensor>> = Model::Resnet18
        .stages()
        .iter()
        .map(|&s| params(&model, s))
        .collect();
    step(&model, Model::Resnet18.stages());
    for (i, &s) in Model::Resnet18.stages().iter().enumerate() {
        assert!(model.is_trainable(s));
        assert!(
            !same(&before[i], &params(&model, s)),
            "{} should train",
            s.name()
        );
    }
    // Freezing again stops it.
    model.set_trainable(&[]);
    let frozen: Vec<Vec<Tensor>> = Model::Resnet18
        .stages()
        .iter()
        .map(|&s| params(&model, s))
        .collect();
    step(&model, &[]);
    for (i, &s) in Model::Resnet18.stages().iter().enumerate() {
        assert!(
            same(&frozen[i], &params(&model, s)),
            "{} should be frozen",
            s.name()
        );
    }
}

/// MobileNetV2 freezes by torchvision's block names: unfreezing
/// `features.17` and `features.18` trains exactly those (and the head);
/// every other block, with its held BatchNorm statistics, stays put.
#[test]
fn mobilenet_v2_freezes_by_named_blocks() {
    use sweep_proto::trial::Model;
    tch::manual_seed(2);
    let mut model = Net::random(Model::MobilenetV2, 10, 2);
    let train = [Stage::Features(17), Stage::Features(18)];
    model.set_trainable(&train);
    model.hold_frozen_bn = true;
    let blocks = Model::MobilenetV2.stages();
    let before: Vec<(Vec<Tensor>, Vec<Tensor>)> = blocks
        .iter()
        .map(|&s| (params(&model, s), stats(&model, s)))
        .collect();
    let head_before = model.head.weight.detach().copy();
    step(&model, &train);
    for (i, &s) in blocks.iter().enumerate() {
        let moved = !same(&before[i].0, &params(&model, s));
        assert_eq!(moved, train.contains(&s), "{s}: moved = {moved}");
        if !train.contains(&s) {
            assert!(
                same(&before[i].1, &stats(&model, s)),
                "{s}'s held statistics moved"
            );
        }
    }
    assert!(
        !head_before.equal(&model.head.weight),
        "the head should train"
    );
}
