//! `sweep`: the command line of the sweep cluster (see the `sweep_cli` library).
//! Parses the arguments (clap reports usage errors itself, exit 2), runs the
//! command, prints a failure as one line on stderr with its exit code.

use clap::Parser;
use std::process::ExitCode;
use sweep_cli::{execute, Cli, EXIT_FAILURE};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sweep: cannot start the tokio runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(execute(cli));
    // Do not wait for stray blocking tasks (a stdin read, a DNS lookup).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
