//! The pipe between the daemon and a trial process (`sweep-worker
//! trial-child`), one JSON value per line.
//!
//! - Daemon → child, on its stdin: the [`TrialConfig`] as the first line,
//!   then [`CANCEL`] when the trial must stop. The stdin closing (the daemon
//!   is gone) cancels too. A child of a lockstep bundle (`--turns`, see
//!   [`super::turns`]) also gets a [`GO`] line each time the turn is its: it
//!   waits for the first before it starts.
//! - Child → daemon, on its stdout: a [`ChildMessage::Epoch`] as each epoch
//!   finishes; with `--turns`, [`ChildMessage::TurnOver`] before each epoch
//!   after its first (it then waits for the next [`GO`]); then one final
//!   message (`Result`, `Failed` or `Cancelled`),
//!   then the child exits. A child that ends without a final message crashed
//!   (a signal, an OOM kill, an exit from deep inside libtorch): the daemon
//!   reports that as an environment failure.
//!
//! Lines are capped ([`MAX_CONFIG_LINE`], [`MAX_MESSAGE_LINE`]) so neither
//! side can make the other buffer without bound.

use super::cause::Cause;
use serde::{Deserialize, Serialize};
use sweep_proto::trial::{EpochMetrics, TrialResult};

/// The line that asks the child to stop (at its next batch).
pub const CANCEL: &str = "cancel";

/// The line that gives a `--turns` child its turn.
pub const GO: &str = "go";

/// The longest config line a child reads.
pub const MAX_CONFIG_LINE: usize = 1 << 20;

/// The longest message line the daemon reads (a result with its epochs and
/// confusion matrix is a few KiB).
pub const MAX_MESSAGE_LINE: usize = 8 << 20;

/// What a trial process tells the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildMessage {
    /// An epoch finished.
    Epoch(EpochMetrics),
    /// The child (`--turns`) gave its turn up and waits for the next [`GO`].
    TurnOver,
    /// The trial finished (possibly diverged): final.
    Result(Box<TrialResult>),
    /// The trial failed, and who is to blame: final.
    Failed { error: String, cause: Cause },
    /// The trial stopped because it was asked to: final.
    Cancelled,
}

impl ChildMessage {
    /// This message as one line (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("child messages always serialise")
    }

    /// Whether the child says nothing after this.
    pub fn is_final(&self) -> bool {
        !matches!(self, ChildMessage::Epoch(_) | ChildMessage::TurnOver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_non_finite_metrics() {
        let m = ChildMessage::Epoch(EpochMetrics {
            epoch: 2,
            phase: 1,
            train_loss: f64::NAN,
            train_acc: 0.5,
            val_loss: f64::INFINITY,
            val_acc: 0.5,
            val_ece: 0.1,
            lr_backbone: 1e-4,
            lr_head: 1e-3,
            wall_s: 1.0,
        });
        let line = m.to_line();
        assert!(
            !line.contains('\n') && line.contains(r#""train_loss":"NaN""#),
            "{line}"
        );
        let back: ChildMessage = serde_json::from_str(&line).unwrap();
        let ChildMessage::Epoch(e) = &back else {
            panic!("{back:?}")
        };
        assert!(e.train_loss.is_nan() && e.val_loss.is_infinite());
        assert!(!back.is_final());
        let f = ChildMessage::Failed {
            error: "data folder missing".into(),
            cause: Cause::Environment,
        };
        assert_eq!(
            f.to_line(),
            r#"{"failed":{"error":"data folder missing","cause":"environment"}}"#
        );
        assert_eq!(ChildMessage::Cancelled.to_line(), r#""cancelled""#);
        assert!(f.is_final());
        assert_eq!(ChildMessage::TurnOver.to_line(), r#""turn_over""#);
        assert!(!ChildMessage::TurnOver.is_final());
    }
}
