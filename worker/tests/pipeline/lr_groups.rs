//! Each optimizer group runs at its own learning rate, read off the
//! parameters themselves: with weight decay 0 and a constant gradient of 1,
//! every AdamW step moves each element by exactly its group's LR. Checked for
//! the head and two backbone stages, before and after scheduler steps.

use sweep_proto::trial::{OptimizerConfig, SchedulerConfig, SchedulerKind, Stage, StepUnit};
use sweep_worker::pipeline::net::Net;
use sweep_worker::pipeline::optim::PhaseOptimizer;
use sweep_worker::pipeline::schedule::Schedule;
use tch::Tensor;

fn snapshot(ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter().map(|t| t.detach().copy()).collect()
}

/// Largest and smallest |Δ| over a group's elements.
fn moved(before: &[Tensor], after: &[Tensor]) -> (f64, f64) {
    let d: Vec<Tensor> = before
        .iter()
        .zip(after)
        .map(|(b, a)| (a.detach() - b).abs().flatten(0, -1))
        .collect();
    let d = Tensor::cat(&d, 0);
    (d.max().double_value(&[]), d.min().double_value(&[]))
}

/// One step with gradient 1 on every trainable element.
fn unit_step(model: &Net, opt: &mut PhaseOptimizer, stages: &[Stage]) {
    let mut loss = model.head.weight.sum(tch::Kind::Float) + model.head.bias.sum(tch::Kind::Float);
    for &s in stages {
        for p in model.stage(s).parameters() {
            loss += p.sum(tch::Kind::Float);
        }
    }
    opt.zero_grad().unwrap();
    loss.backward();
    opt.step().unwrap();
}

fn check(model: &Net, opt: &mut PhaseOptimizer, stages: &[Stage], head_lr: f64, backbone_lr: f64) {
    let head = snapshot(&model.head_parameters());
    let l3 = snapshot(&model.stage(Stage::Layer3).parameters());
    let l4 = snapshot(&model.stage(Stage::Layer4).parameters());
    let l2 = snapshot(&model.stage(Stage::Layer2).parameters());
    unit_step(model, opt, stages);
    let near = |(hi, lo): (f64, f64), lr: f64, what: &str| {
        // f32 parameters: allow rounding of the subtraction.
        let tol = lr * 1e-3 + 1e-6 * lr.max(1e-3);
        assert!(
            (hi - lr).abs() < tol && (lo - lr).abs() < tol,
            "{what}: moved {lo}..{hi}, want {lr}"
        );
    };
    near(moved(&head, &model.head_parameters()), head_lr, "fc");
    near(
        moved(&l3, &model.stage(Stage::Layer3).parameters()),
        backbone_lr,
        "layer3",
    );
    near(
        moved(&l4, &model.stage(Stage::Layer4).parameters()),
        backbone_lr,
        "layer4",
    );
    assert_eq!(
        moved(&l2, &model.stage(Stage::Layer2).parameters()),
        (0.0, 0.0),
        "layer2 is frozen"
    );
}

#[test]
fn groups_follow_config_and_scheduler() {
    tch::manual_seed(0);
    let model = Net::random(sweep_proto::trial::Model::Resnet18, 10, 0);
    let stages = [Stage::Layer3, Stage::Layer4];
    model.set_trainable(&stages);
    let no_decay = OptimizerConfig {
        weight_decay: 0.0,
        ..Default::default()
    };
    let (lr_b, lr_h) = (1e-3, 2e-2);
    let mut opt = PhaseOptimizer::new(&model, &stages, lr_b, lr_h, &no_decay).unwrap();
    let labels: Vec<_> = opt.groups().iter().map(|g| (g.label, g.lr)).collect();
    assert_eq!(
        labels,
        vec![("fc", lr_h), ("layer3", lr_b), ("layer4", lr_b)]
    );
    check(&model, &mut opt, &stages, lr_h, lr_b);

    // A step schedule halving every batch: both groups halve, each from its own base.
    let cfg = SchedulerConfig {
        kind: SchedulerKind::Step,
        step_per: StepUnit::Batch,
        step_size: 1,
        gamma: 0.5,
        ..Default::default()
    };
    let mut sched = Schedule::new(&cfg, true, 1, 10);
    assert!(sched.after_batch());
    opt.set_factor(sched.factor()).unwrap();
    assert_eq!(opt.lrs(), (lr_b * 0.5, lr_h * 0.5));
    let held: Vec<f64> = (0..3).map(|i| opt.optimizer_lr(i)).collect();
    assert_eq!(held, vec![lr_h * 0.5, lr_b * 0.5, lr_b * 0.5]);
    check(&model, &mut opt, &stages, lr_h * 0.5, lr_b * 0.5);

    // Cosine per epoch over 4 epochs, floor 0.1: after 2 epochs, factor 0.55.
    let cfg = SchedulerConfig {
        kind: SchedulerKind::Cosine,
        step_per: StepUnit::Epoch,
        min_lr_factor: 0.1,
        ..Default::default()
    };
    let mut sched = Schedule::new(&cfg, true, 4, 10);
    sched.after_epoch(0.0);
    sched.after_epoch(0.0);
    opt.set_factor(sched.factor()).unwrap();
    check(&model, &mut opt, &stages, lr_h * 0.55, lr_b * 0.55);
}
