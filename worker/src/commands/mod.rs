//! The `sweep-worker` subcommands, one module each; this file only parses the
//! command line and turns an error into one line on stderr and a non-zero exit.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod gradcam;
pub mod pretrain;
mod progress;
pub mod run;
pub mod train;
pub mod trial_child;

#[derive(Parser)]
#[command(
    name = "sweep-worker",
    version,
    about = "Runs sweep trials (ResNet18 transfer learning on reduced MNIST)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one trial on its own and print its result as JSON.
    Train(train::Args),
    /// Draw Grad-CAM heat-maps of trained weights on test images (PNG).
    Gradcam(gradcam::Args),
    /// Train the stand-in backbone (ResNet18 on Fashion-MNIST) and write it as safetensors.
    Pretrain(pretrain::Args),
    /// Serve a coordinator: lease trials, run them, report results.
    Run(Box<run::Args>),
    /// One attempt for the daemon, in a process of its own (internal).
    #[command(hide = true)]
    TrialChild(trial_child::Args),
}

/// Entry point of the `sweep-worker` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every command but the daemon runs tensors in this process.
    if !matches!(cli.command, Command::Run(_)) {
        crate::allocator::keep_freed_memory();
    }
    let outcome = match cli.command {
        Command::Train(a) => train::execute(a),
        Command::Gradcam(a) => gradcam::execute(a),
        Command::Pretrain(a) => pretrain::execute(a),
        Command::Run(a) => run::execute(*a),
        Command::TrialChild(a) => trial_child::execute(a),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep-worker: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
