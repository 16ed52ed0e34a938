//! Search that spends less: early stopping decided by the coordinator from
//! the epochs heartbeats bring ([`early_stop`]: ASHA and median stopping),
//! and model-based proposals ([`tpe`]: the tree-structured Parzen
//! estimator). Pure functions over curves and observations: the store
//! reads the data in its transaction, calls these, and writes the decision.

pub mod asha;
pub mod early_stop;
pub mod epoch_count;
pub mod median;
pub mod metric;
pub mod tpe;

pub use early_stop::{Decision, EarlyStop};
pub use epoch_count::EpochCount;
pub use metric::Curve;
