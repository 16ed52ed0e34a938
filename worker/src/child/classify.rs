//! Who is to blame when a trial fails inside its process: the worker's
//! environment (data or weights missing or unreadable, memory exhausted,
//! a folder that cannot be written) or the trial itself (bad values, a
//! split the data cannot give, a backbone that does not fit the config).

use crate::daemon::cause::Cause;
use crate::error_chain::error_chain;
use crate::pipeline::data::DataError;
use crate::pipeline::TrialError;

/// The blame for `error`.
pub fn cause_of(error: &TrialError) -> Cause {
    if mentions_out_of_memory(&error_chain(error)) {
        return Cause::Environment;
    }
    match error {
        TrialError::Data(DataError::Mnist(_))
        | TrialError::Weights(_)
        | TrialError::SaveBestDir { .. } => Cause::Environment,
        TrialError::Data(DataError::Split(_))
        | TrialError::Invalid(_)
        | TrialError::Backbone { .. }
        | TrialError::Optimizer(_)
        | TrialError::Cancelled
        | TrialError::Other(_) => Cause::Trial,
    }
}

/// The blame for a panic with `message` (libtorch errors that tch turns
/// into panics, e.g. an allocation that failed).
pub fn cause_of_panic(message: &str) -> Cause {
    if mentions_out_of_memory(message) {
        Cause::Environment
    } else {
        Cause::Trial
    }
}

/// Whether `text` says memory ran out (libtorch's and the C++ runtime's
/// wordings).
fn mentions_out_of_memory(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "out of memory",
        "can't allocate memory",
        "cannot allocate memory",
        "not enough memory",
        "bad_alloc",
        "memory allocation of",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::mnist::load_mnist;
    use crate::pipeline::weights::check_weights_exist;

    #[test]
    fn missing_data_and_weights_are_the_environment_s_fault() {
        let missing = load_mnist(std::path::Path::new("/nonexistent/mnist")).unwrap_err();
        assert_eq!(
            cause_of(&TrialError::Data(missing.into())),
            Cause::Environment
        );
        let weights = check_weights_exist(std::path::Path::new("/nonexistent/w.safetensors"), 32)
            .unwrap_err();
        assert_eq!(cause_of(&TrialError::Weights(weights)), Cause::Environment);
    }

    #[test]
    fn bad_values_are_the_trial_s_and_memory_the_environment_s() {
        let mut cfg = sweep_proto::trial::TrialConfig::default();
        cfg.phase2.lr_backbone = 0.0;
        let invalid = TrialError::Invalid(cfg.validate().unwrap_err());
        assert_eq!(cause_of(&invalid), Cause::Trial);
        let other = TrialError::Other("simulated failure".into());
        assert_eq!(cause_of(&other), Cause::Trial);
        let oom = TrialError::Other(
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB".into(),
        );
        assert_eq!(cause_of(&oom), Cause::Environment);
        assert_eq!(cause_of_panic("std::bad_alloc"), Cause::Environment);
        assert_eq!(cause_of_panic("index out of bounds"), Cause::Trial);
    }
}
