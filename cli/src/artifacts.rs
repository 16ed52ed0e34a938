//! `sweep artifacts SWEEP_ID [TRIAL] [--format table|csv|json]`: the files
//! a sweep's trials left with the coordinator (best weights, Grad-CAM and
//! confusion figures), and `--get NAME -o FILE` (with TRIAL) to download
//! one: streamed into a temp file beside FILE, its size and SHA-256 checked
//! against what the coordinator recorded, then renamed onto FILE, so FILE is
//! either the whole artifact or untouched.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::format::Format;
use crate::output;
use crate::render::{artifacts, values};
use clap::Args;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args, PartialEq, Eq)]
pub struct ArtifactsArgs {
    /// The sweep's id.
    pub id: String,
    /// One trial's id (all trials when left out; needed by --get).
    pub trial: Option<String>,
    /// Download this artifact of TRIAL (best.safetensors, gradcam.png, confusion.png).
    #[arg(long, value_name = "NAME", requires_all = ["trial", "out"])]
    pub get: Option<String>,
    /// Where --get writes the artifact.
    #[arg(long, short = 'o', value_name = "FILE", requires = "get")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(to: &Coordinator, args: &ArtifactsArgs) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    if let (Some(name), Some(trial), Some(out)) = (&args.get, &args.trial, &args.out) {
        return download(&mut client, &args.id, trial, name, out).await;
    }
    let (all, truncated) = client
        .artifacts(&args.id, args.trial.as_deref().unwrap_or(""))
        .await?;
    if all.is_empty() && args.format == Format::Table {
        output::note(&format!("no artifacts for sweep {}", args.id));
        return Ok(());
    }
    output::print(&match args.format {
        Format::Table => artifacts::table(&all, values::now_unix_ms()),
        Format::Csv => artifacts::csv(&all),
        Format::Json => artifacts::json(&all),
    })?;
    if truncated {
        output::note("more artifacts than one answer carries; list one trial at a time");
    }
    Ok(())
}

/// Streams the artifact into a temp file beside `out`, checks it, renames it.
async fn download(
    client: &mut SweepClient,
    sweep_id: &str,
    trial_id: &str,
    name: &str,
    out: &Path,
) -> Result<(), CliError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    let temp = dir.join(format!(".{file_name}.part-{}", std::process::id()));
    let cannot = |source: std::io::Error| CliError::CannotCreate {
        path: out.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(&temp).map_err(cannot)?;
    let fetched = fetch(client, sweep_id, trial_id, name, &mut file).await;
    let checked = fetched.and_then(|(expected_size, expected_sha, size, sha)| {
        if size != expected_size || sha != expected_sha {
            return Err(CliError::Refused(format!(
                "the download of {name} is {size} bytes with SHA-256 {sha}, not the {expected_size} bytes with SHA-256 {expected_sha} the coordinator recorded; {} is untouched",
                out.display()
            )));
        }
        file.sync_all().map_err(cannot)?;
        std::fs::rename(&temp, out).map_err(cannot)?;
        Ok(sha)
    });
    match checked {
        Ok(sha) => {
            output::note(&format!("wrote {} (sha256 {sha})", out.display()));
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Writes the artifact's bytes to `file`: (recorded size, recorded sha256,
/// bytes received, their sha256).
async fn fetch(
    client: &mut SweepClient,
    sweep_id: &str,
    trial_id: &str,
    name: &str,
    file: &mut std::fs::File,
) -> Result<(u64, String, u64, String), CliError> {
    let mut stream = client.artifact(sweep_id, trial_id, name).await?;
    let mut hasher = Sha256::new();
    let mut recorded = None;
    let mut size = 0u64;
    while let Some(m) = stream.next(client).await? {
        if let Some(info) = m.info {
            recorded.get_or_insert((info.size, info.sha256));
        }
        hasher.update(&m.data);
        size += m.data.len() as u64;
        file.write_all(&m.data)
            .map_err(|source| CliError::CannotCreate {
                path: PathBuf::from(name),
                source,
            })?;
    }
    let (expected_size, expected_sha) = recorded.ok_or_else(|| {
        CliError::Refused("the coordinator sent the artifact without its size and digest".into())
    })?;
    Ok((
        expected_size,
        expected_sha,
        size,
        hex::encode(hasher.finalize()),
    ))
}
