//! The trial itself: phase 1 (head, plus `phase1.unfreeze`) then phase 2
//! (`phase2.unfreeze` + head), each with a fresh AdamW and its schedule; val
//! after every epoch, the best-val weights kept in memory, and those weights
//! evaluated on test at the end, with val's confusion and reliability kept
//! too and a temperature fitted on val and reported on test.
//!
//! Divergence: a training batch whose loss is not finite, or a validation
//! loss that is not finite, ends the trial at once (nothing more is trained
//! or evaluated). The result is still a [`TrialResult`], with its `diverged`
//! set: the epochs so far, the one that diverged last (its missing values
//! NaN), the best finite epoch before it, and no test metrics (NaN).

use super::augment_exact::TrainAugment;
use super::calibration::fit_temperature;
use super::data::{prepare_data, TrialData};
use super::metrics::{
    evaluate, evaluate_with, expected_calibration_error, reliability_bins, Predictions, ECE_BINS,
};
use super::net::{Head, Layout, Net, Snapshot};
use super::optim::PhaseOptimizer;
use super::rng::{position, stream, stream_at, Stream, StreamRng};
use super::schedule::Schedule;
use super::shared::phase1::{Phase1Cache, Phase1Key, Phase1State};
use super::shared::prefix::{EpochOutputs, PhaseStart, PrefixCache, PrefixKey};
use super::shared::{phase1_dir, prefix_dir};
use super::transform::eval_transform;
use super::weights::{check_weights_exist, read_state_dict, write_state_dict};
use super::{TrialError, TrialObserver};
use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use sweep_proto::trial::{
    batch_ranges, Calibration, DivergedLoss, Divergence, EpochMetrics, PhaseConfig, PhaseTiming,
    TestMetrics, TrialConfig, TrialResult,
};
use tch::{Reduction, Tensor};

/// MNIST's digits.
pub const CLASSES: i64 = 10;
/// Batch size of evaluation passes (does not change results, only speed).
const EVAL_BATCH: usize = 256;

/// Extras of a standalone run.
#[derive(Debug, Clone, Default)]
pub struct TrialOptions {
    /// Write the best-val weights here (safetensors, torchvision names);
    /// nothing is written for a trial that diverged.
    pub save_best: Option<PathBuf>,
    /// Share what trials compute alike through this folder
    /// ([`super::shared`]): resume from the phase-1 snapshot, and use the
    /// frozen-prefix outputs, that earlier trials left there, or leave them
    /// for later trials. None: the trial computes everything itself.
    pub shared_dir: Option<PathBuf>,
}

/// Sets libtorch's intra-op threads (process-global!) and returns the count:
/// `requested`, or every available core for 0. A daemon running several
/// trials side by side in one process cannot give them different counts; it
/// must split cores across processes (one trial per process).
pub fn apply_threads(requested: u32) -> u32 {
    let n = if requested == 0 {
        sweep_runtime::cores::available()
    } else {
        requested
    };
    tch::set_num_threads(n as i32);
    n
}

/// The best epoch so far: its number, val metrics and weights.
struct Best {
    epoch: u32,
    val: Predictions,
    weights: Snapshot,
}

/// Everything an epoch needs that lives for the whole trial.
struct Run<'a> {
    cfg: &'a TrialConfig,
    data: &'a TrialData,
    model: Net,
    augmenter: Option<TrainAugment>,
    shuffle_rng: StreamRng,
    augment_rng: StreamRng,
    observer: &'a mut dyn TrialObserver,
    cancel: &'a AtomicBool,
    epoch: u32,
    epochs: Vec<EpochMetrics>,
    best: Option<Best>,
    /// Set when a loss stopped being finite; the trial ends there.
    diverged: Option<Divergence>,
    /// Where frozen-prefix outputs are shared, if they are.
    prefix_cache: Option<PrefixCache>,
    /// Thread count applied (part of what a shared prefix is keyed by).
    threads: u32,
}

/// The current phase's shared frozen prefix: its key and how many stages.
struct SharedPrefix {
    key: PrefixKey,
    stages: usize,
}

/// One epoch's training outcome.
struct TrainStats {
    loss: f64,
    acc: f64,
    images: usize,
    seconds: f64,
    /// (backbone, head) learning rates of the epoch's last batch.
    lrs: (f64, f64),
    /// The batch (1-based) whose loss was not finite, and that loss; the
    /// epoch stopped there (`loss` is that value, `acc` NaN).
    diverged: Option<(u32, f64)>,
    /// With a shared prefix: the epoch's outputs to keep once validation
    /// has added its own (computed here), or the validation outputs the
    /// cache had (used here).
    pending: Option<EpochOutputs>,
    cached_val: Option<Tensor>,
    /// The epoch's training batches went through the shared prefix outputs.
    prefix_from_cache: bool,
}

impl Run<'_> {
    fn batches(&self) -> usize {
        batch_ranges(self.data.split.train.len(), self.cfg.batch_size as usize).len()
    }

    /// One training epoch (`epoch`: 1-based within `phase`). With `shared`,
    /// the frozen prefix's outputs come from the cache when an earlier trial
    /// left this epoch there (then the prefix's BatchNorm state and the
    /// augmentation stream are set to where that epoch left them), and are
    /// left there otherwise.
    fn train_epoch(
        &mut self,
        phase: u32,
        epoch: u32,
        shared: Option<&SharedPrefix>,
        opt: &mut PhaseOptimizer,
        sched: &mut Schedule,
    ) -> Result<TrainStats, TrialError> {
        let start = Instant::now();
        let n = self.data.split.train.len();
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut self.shuffle_rng);
        let cached = match (shared, &self.prefix_cache) {
            (Some(s), Some(cache)) => {
                cache.load(&s.key, phase, epoch, &self.model, s.stages, n as i64)
            }
            _ => None,
        };
        let mut kept: Option<Vec<Tensor>> = (shared.is_some() && cached.is_none()).then(Vec::new);
        let batches = self.batches();
        let bs = self.cfg.batch_size as usize;
        let size = self.cfg.input_size as i64;
        let smoothing = self.cfg.loss.label_smoothing;
        let (mut loss_sum, mut right) = (0.0, 0i64);
        let mut lrs = opt.lrs();
        for (b, range) in batch_ranges(n, bs).into_iter().enumerate() {
            let chunk = &order[range.clone()];
            if self.cancel.load(Ordering::Relaxed) {
                return Err(TrialError::Cancelled);
            }
            let idx = Tensor::from_slice(chunk);
            let y = self.data.train_labels.index_select(0, &idx);
            let h = match &cached {
                Some(c) => c.train.narrow(0, range.start as i64, chunk.len() as i64),
                None => {
                    let unit = self.data.train_unit.index_select(0, &idx);
                    let x = match &self.augmenter {
                        Some(a) => a.augment(&unit, &mut self.augment_rng),
                        None => tch::no_grad(|| eval_transform(&unit, size)),
                    };
                    let h = self.model.prefix_forward_train(&x);
                    if let Some(k) = kept.as_mut() {
                        k.push(h.shallow_clone());
                    }
                    if b == 0 && !fits_cache(&h, chunk.len(), n) {
                        kept = None;
                    }
                    h
                }
            };
            let logits = self.model.suffix_forward_train(&h);
            let loss =
                logits.cross_entropy_loss(&y, None::<Tensor>, Reduction::Mean, -100, smoothing);
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                return Ok(TrainStats {
                    loss: loss_value,
                    acc: f64::NAN,
                    images: range.start,
                    seconds: start.elapsed().as_secs_f64(),
                    lrs,
                    diverged: Some((b as u32 + 1, loss_value)),
                    pending: None,
                    cached_val: None,
                    prefix_from_cache: false,
                });
            }
            // What is reported: cross-entropy against the true labels, without
            // the smoothing the optimised loss has (the same when it has none).
            let ce = if smoothing > 0.0 {
                tch::no_grad(|| {
                    logits
                        .cross_entropy_loss(&y, None::<Tensor>, Reduction::Mean, -100, 0.0)
                        .double_value(&[])
                })
            } else {
                loss_value
            };
            opt.zero_grad()?;
            loss.backward();
            opt.step()?;
            lrs = opt.lrs();
            loss_sum += ce * chunk.len() as f64;
            right += tch::no_grad(|| {
                logits
                    .argmax(1, false)
                    .eq_tensor(&y)
                    .sum(tch::Kind::Int64)
                    .int64_value(&[])
            });
            if sched.after_batch() {
                opt.set_factor(sched.factor())?;
            }
            self.observer.on_batch(phase, self.epoch, b + 1, batches);
        }
        let (mut pending, mut cached_val) = (None, None);
        let prefix_from_cache = cached.is_some();
        match (cached, kept, shared) {
            (Some(c), _, Some(s)) => {
                self.model
                    .restore_prefix_statistics(s.stages, &c.statistics);
                self.augment_rng = stream_at(self.cfg.seed, Stream::Augment, c.augment_position);
                cached_val = c.val;
            }
            (None, Some(kept), Some(s)) => {
                pending = Some(EpochOutputs {
                    train: Tensor::cat(&kept, 0),
                    val: None,
                    statistics: self.model.prefix_statistics(s.stages),
                    shuffle_position: position(&self.shuffle_rng),
                    augment_position: position(&self.augment_rng),
                });
            }
            _ => {}
        }
        Ok(TrainStats {
            loss: loss_sum / n as f64,
            acc: right as f64 / n as f64,
            images: n,
            seconds: start.elapsed().as_secs_f64(),
            lrs,
            diverged: None,
            pending,
            cached_val,
            prefix_from_cache,
        })
    }

    /// Runs one phase; returns its timing (None for a phase of 0 epochs). It
    /// ends early, with `self.diverged` set, when a loss is not finite.
    fn phase(&mut self, phase: u32, pc: &PhaseConfig) -> Result<Option<PhaseTiming>, TrialError> {
        if pc.epochs == 0 {
            return Ok(None);
        }
        let start = Instant::now();
        let stages = pc.unfrozen_stages(self.cfg.model);
        self.model.set_trainable(&stages);
        let shared = self.shared_prefix(phase);
        let mut opt = PhaseOptimizer::new(
            &self.model,
            &stages,
            pc.lr_backbone,
            pc.lr_head,
            &self.cfg.optimizer,
        )?;
        let scheduled = phase == 2 || self.cfg.scheduler.phase1;
        let mut sched = Schedule::new(&self.cfg.scheduler, scheduled, pc.epochs, self.batches());
        let (mut images, mut train_s, mut epochs) = (0usize, 0.0, 0);
        let mut prefix_shared_epochs = 0;
        while epochs < pc.epochs && self.diverged.is_none() {
            if self.epoch > 0 {
                self.observer.between_epochs();
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(TrialError::Cancelled);
                }
            }
            epochs += 1;
            self.epoch += 1;
            let epoch_start = Instant::now();
            let t = self.train_epoch(phase, epochs, shared.as_ref(), &mut opt, &mut sched)?;
            images += t.images;
            train_s += t.seconds;
            if let Some((batch, value)) = t.diverged {
                self.diverge(phase, DivergedLoss::Train, batch, value);
                let m = EpochMetrics {
                    epoch: self.epoch,
                    phase,
                    train_loss: t.loss,
                    train_acc: t.acc,
                    val_loss: f64::NAN,
                    val_acc: f64::NAN,
                    val_ece: f64::NAN,
                    lr_backbone: t.lrs.0,
                    lr_head: t.lrs.1,
                    wall_s: epoch_start.elapsed().as_secs_f64(),
                };
                self.observer.on_epoch(&m);
                self.epochs.push(m);
                break;
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Err(TrialError::Cancelled);
            }
            if t.cached_val.is_some() || t.prefix_from_cache {
                prefix_shared_epochs += 1;
            }
            let (val, val_outputs) = self.validate(shared.as_ref(), t.cached_val.as_ref());
            if let (Some(mut pending), Some(s), Some(cache)) =
                (t.pending, shared.as_ref(), &self.prefix_cache)
            {
                pending.val = val_outputs;
                cache.store(&s.key, phase, epochs, &pending);
            }
            let val_loss = val.loss();
            if !val_loss.is_finite() {
                self.diverge(phase, DivergedLoss::Val, 0, val_loss);
            } else if sched.after_epoch(val_loss) {
                opt.set_factor(sched.factor())?;
            }
            let m = EpochMetrics {
                epoch: self.epoch,
                phase,
                train_loss: t.loss,
                train_acc: t.acc,
                val_loss: val.loss(),
                val_acc: val.accuracy(),
                val_ece: val.ece(),
                lr_backbone: t.lrs.0,
                lr_head: t.lrs.1,
                wall_s: epoch_start.elapsed().as_secs_f64(),
            };
            if self.diverged.is_none()
                && self
                    .best
                    .as_ref()
                    .is_none_or(|b| m.val_acc > b.val.accuracy())
            {
                self.best = Some(Best {
                    epoch: self.epoch,
                    val,
                    weights: self.model.snapshot(),
                });
            }
            self.observer.on_epoch(&m);
            self.epochs.push(m);
        }
        Ok(Some(PhaseTiming {
            phase,
            epochs,
            wall_s: start.elapsed().as_secs_f64(),
            train_images_per_s: images as f64 / train_s.max(1e-9),
            shared: false,
            prefix_shared_epochs,
        }))
    }

    /// The validation pass after an epoch. With a shared prefix, the
    /// prefix's outputs come from `cached` (then only the suffix and head
    /// run), or are returned to be kept.
    fn validate(
        &self,
        shared: Option<&SharedPrefix>,
        cached: Option<&Tensor>,
    ) -> (Predictions, Option<Tensor>) {
        let (inputs, labels) = (&self.data.val_inputs, &self.data.val_labels);
        let Some(s) = shared else {
            return (evaluate(&self.model, inputs, labels, EVAL_BATCH), None);
        };
        if let Some(h) = cached.filter(|h| h.size().first() == labels.size().first()) {
            let val = evaluate_with(labels, EVAL_BATCH, |start, len| {
                self.model
                    .suffix_forward_eval(s.stages, &h.narrow(0, start, len))
            });
            return (val, None);
        }
        let mut kept = Vec::new();
        let val = evaluate_with(labels, EVAL_BATCH, |start, len| {
            let h = self
                .model
                .prefix_forward_eval(s.stages, &inputs.inputs(start, len));
            kept.push(h.shallow_clone());
            self.model.suffix_forward_eval(s.stages, &h)
        });
        (val, Some(Tensor::cat(&kept, 0)))
    }

    /// The frozen prefix `phase` shares from its start (now), if outputs
    /// are shared and the phase has a frozen prefix.
    fn shared_prefix(&self, phase: u32) -> Option<SharedPrefix> {
        self.prefix_cache.as_ref()?;
        let stages = self.model.frozen_prefix();
        if stages == 0 {
            return None;
        }
        let digest = self.model.prefix_digest(stages);
        let start = PhaseStart {
            phase,
            stages,
            prefix_digest: &digest,
            shuffle_position: position(&self.shuffle_rng),
            augment_position: position(&self.augment_rng),
        };
        Some(SharedPrefix {
            key: PrefixKey::new(
                self.cfg,
                &self.data.phase1_data_sha256,
                self.threads,
                &start,
            ),
            stages,
        })
    }

    /// Continues from `state` as if phase 1 had run here: the model, the
    /// epochs (each reported to the observer again), the best epoch, and
    /// the random streams where phase 1 left them. Returns phase 1's timing,
    /// marked shared.
    fn resume(&mut self, state: Phase1State) -> PhaseTiming {
        self.model.restore(&state.model);
        self.epoch = state.epoch;
        for m in &state.epochs {
            self.observer.on_epoch(m);
        }
        self.epochs = state.epochs;
        self.best = Some(Best {
            epoch: state.best_epoch,
            val: state.best_val,
            weights: state.best_weights,
        });
        self.shuffle_rng = stream_at(self.cfg.seed, Stream::Shuffle, state.shuffle_position);
        self.augment_rng = stream_at(self.cfg.seed, Stream::Augment, state.augment_position);
        self.model
            .seed_dropout(self.cfg.seed, state.dropout_position);
        PhaseTiming {
            shared: true,
            ..state.timing
        }
    }

    /// The state phase 1 just left (`timing`: its timing), for later trials.
    fn phase1_state(&self, timing: &PhaseTiming) -> Option<Phase1State> {
        let best = self.best.as_ref()?;
        Some(Phase1State {
            model: self.model.snapshot(),
            epoch: self.epoch,
            epochs: self.epochs.clone(),
            timing: timing.clone(),
            best_epoch: best.epoch,
            best_val: best.val.clone(),
            best_weights: best.weights.share(),
            shuffle_position: position(&self.shuffle_rng),
            augment_position: position(&self.augment_rng),
            dropout_position: self.model.dropout_position(),
        })
    }

    /// Records that `loss` stopped being finite in the current epoch.
    fn diverge(&mut self, phase: u32, loss: DivergedLoss, batch: u32, value: f64) {
        let d = Divergence {
            epoch: self.epoch,
            phase,
            loss,
            batch,
            value,
        };
        tracing::warn!("trial stopped: {d}");
        self.diverged = Some(d);
    }
}

/// Runs one trial (see the module docs); every check happens before training.
pub fn run(
    cfg: &TrialConfig,
    observer: &mut dyn TrialObserver,
    cancel: &AtomicBool,
    opts: &TrialOptions,
) -> Result<TrialResult, TrialError> {
    let start = Instant::now();
    cfg.validate()?;
    check_weights_exist(&cfg.backbone.weights, cfg.input_size)?;
    if let Some(p) = &opts.save_best {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| TrialError::SaveBestDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    let threads = apply_threads(cfg.threads);
    tch::manual_seed(cfg.seed as i64);
    let data = prepare_data(cfg)?;
    let (sd, backbone) = read_state_dict(&cfg.backbone.weights, cfg.input_size)?;
    let mut model = Net::from_state_dict(
        cfg.model,
        sd,
        Head::Fresh {
            classes: CLASSES,
            seed: cfg.seed,
        },
    )
    .map_err(|source| TrialError::Backbone {
        path: cfg.backbone.weights.clone(),
        source,
    })?;
    model.hold_frozen_bn = cfg.backbone.hold_frozen_bn;
    model.set_layout(Layout::for_input_size(i64::from(cfg.input_size)));
    model.seed_dropout(cfg.seed, 0);
    let augmenter = TrainAugment::new(&cfg.augment, cfg.input_size as i64);
    let mut run = Run {
        cfg,
        data: &data,
        model,
        augmenter,
        shuffle_rng: stream(cfg.seed, Stream::Shuffle),
        augment_rng: stream(cfg.seed, Stream::Augment),
        observer,
        cancel,
        epoch: 0,
        epochs: Vec::new(),
        best: None,
        diverged: None,
        prefix_cache: opts
            .shared_dir
            .as_deref()
            .map(|d| PrefixCache::new(prefix_dir(d))),
        threads,
    };
    let shared = opts
        .shared_dir
        .as_ref()
        .filter(|_| cfg.phase1.epochs > 0)
        .map(|dir| {
            let key = Phase1Key::new(cfg, &backbone.sha256, &data.phase1_data_sha256, threads);
            (Phase1Cache::new(phase1_dir(dir)), key)
        });
    let mut phases = Vec::new();
    if let Some(state) = shared.as_ref().and_then(|(c, k)| c.load(k, &run.model)) {
        tracing::info!("phase 1 resumed from a snapshot of the same phase-1 config");
        phases.push(run.resume(state));
        if cancel.load(Ordering::Relaxed) {
            return Err(TrialError::Cancelled);
        }
    } else {
        let timing = run.phase(1, &cfg.phase1)?;
        if let (Some((cache, key)), Some(t), None) = (&shared, &timing, &run.diverged) {
            if let Some(state) = run.phase1_state(t) {
                cache.store(key, &state);
            }
        }
        phases.extend(timing);
    }
    if run.diverged.is_none() {
        phases.extend(run.phase(2, &cfg.phase2)?);
    }
    if let Some(diverged) = run.diverged.take() {
        return Ok(diverged_result(
            run, backbone, phases, diverged, start, threads,
        ));
    }
    let best = run
        .best
        .take()
        .expect("validation guarantees at least one epoch");
    run.model.restore(&best.weights);
    if let Some(p) = &opts.save_best {
        write_state_dict(&run.model, p)?;
    }
    let test = evaluate(&run.model, &data.test_inputs, &data.test_labels, EVAL_BATCH);
    let classes = CLASSES as usize;
    let calibration = calibrate(&best.val, &test, classes);
    Ok(TrialResult {
        backbone,
        epochs: run.epochs,
        best_epoch: best.epoch,
        best_val_acc: best.val.accuracy(),
        best_val_loss: best.val.loss(),
        best_val_ece: best.val.ece(),
        test: test.split_metrics(classes),
        val: Some(best.val.split_metrics(classes)),
        calibration: Some(calibration),
        phases,
        wall_s: start.elapsed().as_secs_f64(),
        turn_wait_s: 0.0,
        threads,
        host: crate::host::hostname(),
        diverged: None,
        simulated: false,
    })
}

/// Whether an epoch of `n` images whose first batch of `batch` images gave
/// prefix outputs `h` is small enough to keep.
fn fits_cache(h: &Tensor, batch: usize, n: usize) -> bool {
    let per_image = h.numel() as u64 * h.kind().elt_size_in_bytes() as u64 / batch.max(1) as u64;
    per_image * n as u64 <= super::shared::prefix::MAX_EPOCH_BYTES
}

/// Temperature scaling of the kept weights: T fitted on `val`'s logits,
/// NLL and ECE before and after on val and test.
fn calibrate(val: &Predictions, test: &Predictions, classes: usize) -> Calibration {
    let (v, t) = (val.logits(classes), test.logits(classes));
    let temperature = fit_temperature(&v);
    let beta = 1.0 / temperature;
    let correct = t.correct();
    let scaled = t.confidence(beta);
    Calibration {
        temperature,
        val_nll_before: v.nll(1.0),
        val_nll_after: v.nll(beta),
        test_nll_before: t.nll(1.0),
        test_nll_after: t.nll(beta),
        test_ece_before: expected_calibration_error(&t.confidence(1.0), &correct, ECE_BINS),
        test_ece_after: expected_calibration_error(&scaled, &correct, ECE_BINS),
        test_reliability_after: reliability_bins(&scaled, &correct, ECE_BINS),
    }
}

/// The result of a trial that diverged: its epochs, the best finite epoch
/// before the divergence (0 and NaN when none), no test metrics.
fn diverged_result(
    run: Run<'_>,
    backbone: sweep_proto::trial::BackboneInfo,
    phases: Vec<PhaseTiming>,
    diverged: Divergence,
    start: Instant,
    threads: u32,
) -> TrialResult {
    let best = run.best.as_ref();
    let val = |f: fn(&Predictions) -> f64| best.map_or(f64::NAN, |b| f(&b.val));
    TrialResult {
        backbone,
        best_epoch: best.map_or(0, |b| b.epoch),
        best_val_acc: val(Predictions::accuracy),
        best_val_loss: val(Predictions::loss),
        best_val_ece: val(Predictions::ece),
        epochs: run.epochs,
        test: TestMetrics {
            acc: f64::NAN,
            loss: f64::NAN,
            ece: f64::NAN,
            per_class_acc: Vec::new(),
            confusion: Vec::new(),
            reliability: Vec::new(),
        },
        val: None,
        calibration: None,
        phases,
        wall_s: start.elapsed().as_secs_f64(),
        turn_wait_s: 0.0,
        threads,
        host: crate::host::hostname(),
        diverged: Some(diverged),
        simulated: false,
    }
}
