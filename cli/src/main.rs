//! `sweep`: the command line of the sweep cluster (see `sweep_coordinator::cli`).

fn main() -> std::process::ExitCode {
    sweep_coordinator::cli::main()
}
