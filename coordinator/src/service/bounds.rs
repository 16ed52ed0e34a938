//! The caps on every string a client or worker sends, applied at the
//! service boundary before anything reaches the store.
//!
//! - Names and ids (`sweep_id`, `trial_id`, `worker_id`, `request_id`,
//!   `worker_secret`, `source_name`) longer than their cap are refused with
//!   `INVALID_ARGUMENT` naming the field: they are looked up or stored as
//!   keys, and a cut one would name something else.
//! - A worker's `hostname` and `version` are only shown to people: over
//!   their cap they are cut (on a character boundary, ending in `…`) and the
//!   registration goes on, so an odd machine can still work.
//! - A failure's `error` text is cut to [`MAX_ERROR_BYTES`] with a visible
//!   marker (`… [truncated 12345 bytes]`): the failure is still recorded.
//! - `result_json` and each `epoch_json` over their cap, and more
//!   `epoch_json` entries than a trial can have, are refused
//!   (`INVALID_ARGUMENT` naming the field): nothing is stored.
//!
//! Epoch numbers are checked against the trial's own config by the store.

use sweep_proto::trial::limits::MAX_TRIAL_EPOCHS;
use sweep_proto::v1;
use tonic::Status;

/// Longest id or secret: sweep ids are `sw-` + 8 hex, trial ids 64 hex,
/// worker ids under 30 characters, request ids 32 hex.
pub const MAX_ID_BYTES: usize = 128;
/// Longest `source_name` (how errors name a submitted file: a path).
pub const MAX_SOURCE_NAME_BYTES: usize = 1024;
/// Longest hostname kept (DNS names have at most 253 characters).
pub const MAX_HOSTNAME_BYTES: usize = 255;
/// Longest worker version kept.
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest failure text kept (before the truncation marker).
pub const MAX_ERROR_BYTES: usize = 4 * 1024;
/// Largest `result_json`: a `TrialResult` with `MAX_TRIAL_EPOCHS` epochs is
/// about 300 KB.
pub const MAX_RESULT_JSON_BYTES: usize = 1024 * 1024;
/// Largest `epoch_json` entry: one `EpochMetrics` is about 250 bytes.
pub const MAX_EPOCH_JSON_BYTES: usize = 4 * 1024;
/// Most `epoch_json` entries in one heartbeat: no trial has more epochs.
pub const MAX_EPOCHS_PER_HEARTBEAT: usize = MAX_TRIAL_EPOCHS as usize;

/// Most entries of `SubmitSweep`'s `input_sha256` (distinct weights files
/// and data folders a sweep's trials name).
pub const MAX_INPUT_FINGERPRINTS: usize = 1024;
/// Longest path in `input_sha256`.
pub const MAX_INPUT_PATH_BYTES: usize = 4096;

/// Refuses `value` longer than `max` bytes, naming `field`.
fn at_most(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(Status::invalid_argument(format!(
            "`{field}` is {} bytes, more than the {max} allowed",
            value.len()
        )));
    }
    Ok(())
}

/// An id as a log field: at most [`MAX_ID_BYTES`] of it (a span is opened
/// before the request's bounds are checked, and must not carry megabytes).
pub fn shown(value: &str) -> &str {
    let mut end = value.len().min(MAX_ID_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Refuses an id field over [`MAX_ID_BYTES`].
pub fn id(field: &str, value: &str) -> Result<(), Status> {
    at_most(field, value, MAX_ID_BYTES)
}

/// Refuses an artifact name that is not a plain file name
/// (`sweep_proto::artifacts::check_name`), naming the field.
pub fn artifact_name(name: &str) -> Result<(), Status> {
    sweep_proto::artifacts::check_name(name)
        .map_err(|e| Status::invalid_argument(format!("`name` {:?}: {e}", shown(name))))
}

/// `text` cut to at most `max` bytes on a character boundary, then
/// `… [truncated N bytes]` (N: the bytes cut); as it is when it fits.
pub fn truncate_marked(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let cut = floor_char_boundary(&text, max);
    format!("{}… [truncated {} bytes]", &text[..cut], text.len() - cut)
}

/// `text` cut to at most `max` bytes on a character boundary, ending in `…`
/// (within `max`); as it is when it fits.
pub fn truncate_short(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    const ELLIPSIS: &str = "…";
    let cut = floor_char_boundary(&text, max.saturating_sub(ELLIPSIS.len()));
    format!("{}{ELLIPSIS}", &text[..cut])
}

/// The largest character boundary of `text` at or below `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// `SubmitSweep`: the source name (the file's own size is the loader's) and
/// the input fingerprints (count, path length, each a SHA-256 in hex).
pub fn submit(r: &v1::SubmitSweepRequest) -> Result<(), Status> {
    at_most("source_name", &r.source_name, MAX_SOURCE_NAME_BYTES)?;
    if r.input_sha256.len() > MAX_INPUT_FINGERPRINTS {
        return Err(Status::invalid_argument(format!(
            "`input_sha256` has {} entries, more than the {MAX_INPUT_FINGERPRINTS} allowed",
            r.input_sha256.len()
        )));
    }
    for (path, sha256) in &r.input_sha256 {
        at_most("input_sha256", path, MAX_INPUT_PATH_BYTES)?;
        let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            return Err(Status::invalid_argument(format!(
                "`input_sha256` of {:?}: not a SHA-256 in hex",
                shown(path)
            )));
        }
    }
    Ok(())
}

/// `Register`: hostname and version are cut to their caps.
pub fn register(r: &mut v1::RegisterRequest) {
    r.hostname = truncate_short(std::mem::take(&mut r.hostname), MAX_HOSTNAME_BYTES);
    r.version = truncate_short(std::mem::take(&mut r.version), MAX_VERSION_BYTES);
}

/// `LeaseTrial`: the ids.
pub fn lease(r: &v1::LeaseTrialRequest) -> Result<(), Status> {
    id("worker_id", &r.worker_id)?;
    id("request_id", &r.request_id)?;
    id("worker_secret", &r.worker_secret)
}

/// `Heartbeat`: the ids, the number of epochs and each one's size.
pub fn heartbeat(r: &v1::HeartbeatRequest) -> Result<(), Status> {
    id("sweep_id", &r.sweep_id)?;
    id("trial_id", &r.trial_id)?;
    id("worker_id", &r.worker_id)?;
    id("worker_secret", &r.worker_secret)?;
    if r.epoch_json.len() > MAX_EPOCHS_PER_HEARTBEAT {
        return Err(Status::invalid_argument(format!(
            "`epoch_json` has {} entries, more than the {MAX_EPOCHS_PER_HEARTBEAT} allowed",
            r.epoch_json.len()
        )));
    }
    for (i, epoch) in r.epoch_json.iter().enumerate() {
        at_most(&format!("epoch_json[{i}]"), epoch, MAX_EPOCH_JSON_BYTES)?;
    }
    Ok(())
}

/// `CompleteTrial`: the ids and the result's size.
pub fn complete(r: &v1::CompleteTrialRequest) -> Result<(), Status> {
    id("sweep_id", &r.sweep_id)?;
    id("trial_id", &r.trial_id)?;
    id("worker_id", &r.worker_id)?;
    id("worker_secret", &r.worker_secret)?;
    at_most("result_json", &r.result_json, MAX_RESULT_JSON_BYTES)
}

/// `FailTrial`: the ids; the error text is cut to [`MAX_ERROR_BYTES`].
pub fn fail(r: &mut v1::FailTrialRequest) -> Result<(), Status> {
    id("sweep_id", &r.sweep_id)?;
    id("trial_id", &r.trial_id)?;
    id("worker_id", &r.worker_id)?;
    id("worker_secret", &r.worker_secret)?;
    r.error = truncate_marked(std::mem::take(&mut r.error), MAX_ERROR_BYTES);
    Ok(())
}

/// `Drain`: the ids.
pub fn drain(r: &v1::DrainRequest) -> Result<(), Status> {
    id("worker_id", &r.worker_id)?;
    id("worker_secret", &r.worker_secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_cut_on_a_char_boundary_with_a_marker() {
        // 'é' is two bytes: a cut at an odd byte would split one.
        let text = "é".repeat(3000);
        let cut = truncate_marked(text.clone(), 4095);
        let (kept, marker) = cut.split_once('…').unwrap();
        assert_eq!(kept.len(), 4094);
        assert_eq!(marker, " [truncated 1906 bytes]");
        assert!(text.starts_with(kept));
        assert_eq!(truncate_marked("short".into(), 4096), "short");
        let exact = "x".repeat(4096);
        assert_eq!(truncate_marked(exact.clone(), 4096), exact);
    }

    #[test]
    fn a_long_hostname_is_cut_within_its_cap() {
        let mut r = v1::RegisterRequest {
            hostname: "h".repeat(10_000),
            version: "ü".repeat(100),
            ..Default::default()
        };
        register(&mut r);
        assert!(r.hostname.len() <= MAX_HOSTNAME_BYTES && r.hostname.ends_with('…'));
        assert!(r.version.len() <= MAX_VERSION_BYTES && r.version.ends_with('…'));
        assert!(r.version.starts_with("üü"));
    }

    #[test]
    fn refusals_name_the_field() {
        let long = "x".repeat(MAX_ID_BYTES + 1);
        let e = heartbeat(&v1::HeartbeatRequest {
            trial_id: long.clone(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().starts_with("`trial_id` is 129 bytes"),
            "{}",
            e.message()
        );
        let ok = v1::HeartbeatRequest {
            trial_id: "x".repeat(MAX_ID_BYTES),
            epoch_json: vec!["{}".into(); MAX_EPOCHS_PER_HEARTBEAT],
            ..Default::default()
        };
        assert!(heartbeat(&ok).is_ok());
        let e = heartbeat(&v1::HeartbeatRequest {
            epoch_json: vec!["{}".into(), "x".repeat(MAX_EPOCH_JSON_BYTES + 1)],
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.message().starts_with("`epoch_json[1]`"),
            "{}",
            e.message()
        );
        let e = lease(&v1::LeaseTrialRequest {
            request_id: long,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.message().starts_with("`request_id`"), "{}", e.message());
    }
}
