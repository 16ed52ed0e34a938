//! One `UploadArtifact` stream into a temp file: the header's size is
//! checked against the cap before a byte is written, every chunk against
//! [`CHUNK_BYTES`] and the running total against the header's size (a
//! stream that sends more is refused at once, so the cap holds whatever the
//! header said), and at the end the length and SHA-256 must match the
//! header. The temp file is fsynced before [`receive`] returns; on any
//! error it is removed.

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use sweep_proto::artifacts::CHUNK_BYTES;
use sweep_proto::v1::ArtifactChunk;
use tokio::io::AsyncWriteExt;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

/// What the header promised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Refuses a header whose size is over `max_bytes` or whose SHA-256 is not
/// 64 lowercase hex digits.
pub fn check_header(expected: &Expected, max_bytes: u64) -> Result<(), Status> {
    if expected.size > max_bytes {
        return Err(Status::resource_exhausted(format!(
            "the artifact is {} bytes, more than the {max_bytes} this coordinator keeps (max_artifact_bytes)",
            expected.size
        )));
    }
    let hex_ok = expected.sha256.len() == 64
        && expected
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return Err(Status::invalid_argument(
            "`sha256` must be 64 lowercase hex digits",
        ));
    }
    Ok(())
}

/// Writes `first` (the header chunk's data) and then the rest of `stream`
/// to `file` at `path`; the file is removed on any error.
pub async fn receive<S>(
    path: PathBuf,
    file: std::fs::File,
    first: Vec<u8>,
    stream: &mut S,
    expected: &Expected,
) -> Result<(), Status>
where
    S: Stream<Item = Result<ArtifactChunk, Status>> + Unpin,
{
    let mut file = tokio::fs::File::from_std(file);
    let written = write_all(&mut file, first, stream, expected).await;
    drop(file);
    if written.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    written
}

async fn write_all(
    file: &mut tokio::fs::File,
    first: Vec<u8>,
    stream: &mut (impl Stream<Item = Result<ArtifactChunk, Status>> + Unpin),
    expected: &Expected,
) -> Result<(), Status> {
    let io = |e: std::io::Error| Status::internal(format!("cannot write the artifact: {e}"));
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut chunk = Some(first);
    loop {
        if let Some(data) = chunk.take() {
            if data.len() > CHUNK_BYTES {
                return Err(Status::invalid_argument(format!(
                    "a chunk of {} bytes, more than {CHUNK_BYTES}",
                    data.len()
                )));
            }
            total += data.len() as u64;
            if total > expected.size {
                return Err(Status::data_loss(format!(
                    "more bytes than the header's size ({})",
                    expected.size
                )));
            }
            hasher.update(&data);
            file.write_all(&data).await.map_err(io)?;
        }
        match stream.next().await {
            None => break,
            Some(Err(status)) => {
                return Err(Status::cancelled(format!(
                    "the upload stream broke: {}",
                    status.message()
                )))
            }
            Some(Ok(c)) => {
                if c.header.is_some() {
                    return Err(Status::invalid_argument(
                        "only the first chunk carries a header",
                    ));
                }
                chunk = Some(c.data);
            }
        }
    }
    if total != expected.size {
        return Err(Status::data_loss(format!(
            "the stream ended after {total} of the header's {} bytes",
            expected.size
        )));
    }
    let digest = hex::encode(hasher.finalize());
    if digest != expected.sha256 {
        return Err(Status::data_loss(format!(
            "SHA-256 {digest} differs from the header's {}",
            expected.sha256
        )));
    }
    file.flush().await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    Ok(())
}
