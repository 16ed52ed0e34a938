//! What one coordinator lets its callers spend, from its settings
//! ([`crate::config::Settings`]): the largest gRPC message either way, the
//! largest sweep file (checked before parsing) and how many `WatchSweep`
//! streams may be open at once, and the largest artifact upload. The fixed caps on each field of a request
//! are in `bounds`.

/// The default cap on one gRPC message (either way): a sweep file at its
/// cap, a result with every epoch, or a page of trials fits with room to spare.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// The default cap on one uploaded artifact: the ResNet18 best weights are
/// about 45 MB; room for a larger model.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 256 * 1024 * 1024;
/// The default number of `WatchSweep` streams open at once.
pub const DEFAULT_MAX_WATCHERS: usize = 256;

/// The limits a coordinator serves under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLimits {
    /// Largest gRPC message decoded or encoded, bytes; a larger request is
    /// refused (`RESOURCE_EXHAUSTED`) before it reaches a service.
    pub max_message_bytes: usize,
    /// Largest sweep file accepted, bytes; checked before parsing.
    pub max_sweep_file_bytes: usize,
    /// Most `WatchSweep` streams open at once; one more is refused
    /// (`RESOURCE_EXHAUSTED`) until one closes.
    pub max_watchers: usize,
    /// Largest artifact a worker may upload, bytes: a larger declared size
    /// is refused before a byte is written, a stream longer than its header
    /// as soon as it is (`UploadArtifact`).
    pub max_artifact_bytes: u64,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_sweep_file_bytes: crate::sweepfile::DEFAULT_MAX_FILE_BYTES,
            max_watchers: DEFAULT_MAX_WATCHERS,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
        }
    }
}

impl ServiceLimits {
    /// How many bytes of trials one `ListTrials` page may carry: the message
    /// cap less room for the response's other fields.
    pub fn page_bytes(&self) -> usize {
        self.max_message_bytes
            .saturating_sub(self.max_message_bytes / 8 + 1024)
            .max(1)
    }
}
