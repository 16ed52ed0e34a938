//! `sweep-worker`: runs trials. `train` runs one trial on its own, `pretrain`
//! makes the stand-in backbone, `run` is the daemon that serves a coordinator.

fn main() -> std::process::ExitCode {
    sweep_worker::commands::main()
}
