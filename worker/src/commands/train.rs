//! `sweep-worker train TRIAL.yaml [--out FILE] [--save-best PATH]`: one trial on
//! its own. The config is parsed and checked before anything else; progress
//! goes to stderr, the result as pretty JSON to stdout or `--out`.

use super::progress::Progress;
use crate::pipeline::{run_trial_with_options, TrialObserver, TrialOptions};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use sweep_proto::trial::{parse_trial_yaml, EpochMetrics, TrialConfig};

/// Command-line arguments of `sweep-worker train`.
#[derive(clap::Args)]
pub struct Args {
    /// The trial config (YAML; see sweep_proto::trial::TrialConfig, every key optional).
    pub config: PathBuf,
    /// Write the result JSON here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the best-validation weights here (safetensors, torchvision names).
    #[arg(long)]
    pub save_best: Option<PathBuf>,
    /// Share what trials compute alike through this folder (phase 1, frozen
    /// stages' outputs): use what earlier runs left there, or leave it.
    #[arg(long, value_name = "DIR")]
    pub shared_dir: Option<PathBuf>,
}

/// Reads and validates a trial file; errors name the file and the field.
pub fn load_config(path: &Path) -> Result<TrialConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_trial_yaml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

struct Observer {
    progress: Progress,
    total_epochs: u32,
}

impl TrialObserver for Observer {
    fn on_batch(&mut self, phase: u32, epoch: u32, batch: usize, batches: usize) {
        let label = format!("epoch {epoch}/{} (phase {phase})", self.total_epochs);
        self.progress.batch(batch, batches, &label);
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        self.progress.line(&format!(
            "epoch {}/{} phase {}: train loss {:.4} acc {:.4} | val loss {:.4} acc {:.4} ece {:.4} | lr {:.2e}/{:.2e} | {:.1}s",
            m.epoch, self.total_epochs, m.phase, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.val_ece,
            m.lr_backbone, m.lr_head, m.wall_s
        ));
    }
}

fn ensure_parent(path: &Path, flag: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{flag}: cannot create {}", dir.display()))?;
    }
    Ok(())
}

pub fn execute(args: Args) -> Result<()> {
    let cfg = load_config(&args.config)?;
    if let Some(out) = &args.out {
        ensure_parent(out, "--out")?;
    }
    let batches = (cfg.data.train as u64).div_ceil(cfg.batch_size as u64);
    let mut observer = Observer {
        progress: Progress::new(batches * cfg.total_epochs() as u64),
        total_epochs: cfg.total_epochs(),
    };
    let options = TrialOptions {
        save_best: args.save_best.clone(),
        shared_dir: args.shared_dir.clone(),
    };
    let result = run_trial_with_options(&cfg, &mut observer, &AtomicBool::new(false), &options);
    observer.progress.finish();
    let result = result?;
    if let Some(d) = &result.diverged {
        eprintln!("{d}; no test metrics, no weights saved");
    }
    eprintln!(
        "best epoch {}: val acc {:.4}; test acc {:.4}, loss {:.4}, ece {:.4}; {:.1}s on {} threads",
        result.best_epoch,
        result.best_val_acc,
        result.test.acc,
        result.test.loss,
        result.test.ece,
        result.wall_s,
        result.threads
    );
    let json = serde_json::to_string_pretty(&result)?;
    match &args.out {
        Some(out) => std::fs::write(out, json + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}
