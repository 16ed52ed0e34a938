//! Over real gRPC on loopback: artifacts kept with the trial. An upload is
//! refused for a name with path components, a file the sweep does not
//! keep, a declared size over the cap, a stream longer than its header, a
//! wrong SHA-256, another worker's lease and a stale attempt; a stream cut
//! mid-way stores nothing (no row, no file outside the temp folder, and the
//! temp file goes). A good upload is listed and downloads byte for byte;
//! best weights are kept for the sweep's top `weights_top_k` trials only.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig};
use sweep_coordinator::service::ServiceLimits;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tonic::transport::Channel;
use tonic::Code;

type Workers = WorkerServiceClient<Channel>;

const CAP: u64 = 3 * 1024 * 1024;

struct Me {
    worker_id: String,
    secret: String,
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The chunks of an upload of `bytes` as `name` for `lease`, with the header's
/// size and digest as given.
fn chunks(
    me: &Me,
    lease: &Lease,
    name: &str,
    bytes: &[u8],
    size: u64,
    digest: &str,
) -> Vec<ArtifactChunk> {
    let mut out = vec![ArtifactChunk {
        header: Some(ArtifactHeader {
            worker_id: me.worker_id.clone(),
            worker_secret: me.secret.clone(),
            sweep_id: lease.sweep_id.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            name: name.into(),
            size,
            sha256: digest.into(),
        }),
        data: Vec::new(),
    }];
    for c in bytes.chunks(sweep_proto::artifacts::CHUNK_BYTES) {
        out.push(ArtifactChunk {
            header: None,
            data: c.to_vec(),
        });
    }
    out
}

async fn upload(
    w: &mut Workers,
    chunks: Vec<ArtifactChunk>,
) -> Result<ArtifactInfo, tonic::Status> {
    w.upload_artifact(tokio_stream::iter(chunks))
        .await
        .map(|r| r.into_inner().artifact.expect("an artifact"))
}

async fn upload_ok(
    w: &mut Workers,
    me: &Me,
    lease: &Lease,
    name: &str,
    bytes: &[u8],
) -> ArtifactInfo {
    upload(
        w,
        chunks(me, lease, name, bytes, bytes.len() as u64, &sha(bytes)),
    )
    .await
    .unwrap()
}

async fn lease(w: &mut Workers, me: &Me) -> Lease {
    w.lease_trial(LeaseTrialRequest {
        worker_id: me.worker_id.clone(),
        worker_secret: me.secret.clone(),
        request_id: String::new(),
        max_trials: 1,
    })
    .await
    .unwrap()
    .into_inner()
    .lease
    .expect("a lease")
}

async fn register(w: &mut Workers, host: &str) -> Me {
    let r = w
        .register(RegisterRequest {
            hostname: host.into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    Me {
        worker_id: r.worker_id,
        secret: r.worker_secret,
    }
}

async fn complete(w: &mut Workers, me: &Me, lease: &Lease, val_acc: f64) {
    w.complete_trial(CompleteTrialRequest {
        worker_id: me.worker_id.clone(),
        worker_secret: me.secret.clone(),
        sweep_id: lease.sweep_id.clone(),
        trial_id: lease.trial_id.clone(),
        attempt: lease.attempt,
        result_json: result_json(val_acc, val_acc),
    })
    .await
    .unwrap();
}

async fn list(
    s: &mut SweepServiceClient<Channel>,
    sweep_id: &str,
    trial_id: &str,
) -> Vec<ArtifactInfo> {
    s.list_artifacts(ListArtifactsRequest {
        sweep_id: sweep_id.into(),
        trial_id: trial_id.into(),
    })
    .await
    .unwrap()
    .into_inner()
    .artifacts
}

async fn download(
    s: &mut SweepServiceClient<Channel>,
    a: &ArtifactInfo,
) -> (ArtifactInfo, Vec<u8>) {
    let mut stream = s
        .get_artifact(GetArtifactRequest {
            sweep_id: a.sweep_id.clone(),
            trial_id: a.trial_id.clone(),
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut info = None;
    let mut bytes = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        if let Some(i) = m.info {
            assert!(info.is_none(), "info twice");
            info = Some(i);
        }
        bytes.extend_from_slice(&m.data);
    }
    (info.expect("info in the first message"), bytes)
}

/// The sweep's listed best weights.
async fn weights(s: &mut SweepServiceClient<Channel>, sweep_id: &str) -> Vec<ArtifactInfo> {
    let mut all = list(s, sweep_id, "").await;
    all.retain(|a| a.name == "best.safetensors");
    all
}

/// Every file under `root`, as paths relative to it.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_atomic_listed_downloaded_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        ServerConfig {
            limits: ServiceLimits {
                max_artifact_bytes: CAP,
                ..ServiceLimits::default()
            },
            db_path: dir.path().join("sweep.db"),
            lease: Duration::from_secs(30),
            max_grid: 100,
            policy: Default::default(),
        },
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let root = dir.path().join("artifacts");
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut s = SweepServiceClient::new(ch.clone());
    let mut w = WorkerServiceClient::new(ch);
    let sweep_id = s
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml(
                "kept",
                3,
                "artifacts: {kinds: [gradcam, best_weights], weights_top_k: 1}\n",
            ),
            source_name: "kept.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id;
    let a = register(&mut w, "a").await;
    let b = register(&mut w, "b").await;
    let first = lease(&mut w, &a).await;
    assert_eq!(first.artifacts, ["best_weights", "gradcam"]);

    let png: Vec<u8> = (0..(2 * 1024 * 1024 + 12_345u32))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let digest = sha(&png);
    let size = png.len() as u64;

    // Names: plain file names only, and only what the sweep keeps; the cap,
    // declared; a stream longer than its header; a wrong digest; a digest
    // that is not hex; another worker's lease; a stale attempt.
    let stale = Lease {
        attempt: first.attempt + 1,
        ..first.clone()
    };
    #[rustfmt::skip]
    let refusals = [
        (&a, &first, "../gradcam.png", size, digest.as_str(), Code::InvalidArgument),
        (&a, &first, "a/gradcam.png", size, &digest, Code::InvalidArgument),
        (&a, &first, ".gradcam.png", size, &digest, Code::InvalidArgument),
        (&a, &first, "", size, &digest, Code::InvalidArgument),
        (&a, &first, "confusion.png", size, &digest, Code::InvalidArgument),
        (&a, &first, "gradcam.png", CAP + 1, &digest, Code::ResourceExhausted),
        (&a, &first, "gradcam.png", size - 1, &digest, Code::DataLoss),
        (&a, &first, "gradcam.png", size, &sha(b"other"), Code::DataLoss),
        (&a, &first, "gradcam.png", size, "XYZ", Code::InvalidArgument),
        (&b, &first, "gradcam.png", size, &digest, Code::PermissionDenied),
        (&a, &stale, "gradcam.png", size, &digest, Code::FailedPrecondition),
    ];
    for (me, lease, name, declared, sha256, code) in refusals {
        let e = upload(&mut w, chunks(me, lease, name, &png, declared, sha256))
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{name:?} {declared} {sha256}: {e:?}");
    }

    // A stream cut mid-way: the call is dropped after two chunks.
    let (tx, rx) = tokio::sync::mpsc::channel::<ArtifactChunk>(8);
    let mut parts = chunks(&a, &first, "gradcam.png", &png, size, &digest).into_iter();
    tx.send(parts.next().unwrap()).await.unwrap();
    tx.send(parts.next().unwrap()).await.unwrap();
    let mut w2 = w.clone();
    let cut = tokio::spawn(async move {
        w2.upload_artifact(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cut.abort();
    drop(tx);
    let _ = cut.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        list(&mut s, &sweep_id, "").await.is_empty(),
        "nothing visible"
    );
    assert!(
        files_under(&root).is_empty(),
        "no file, not even a temp one: {:?}",
        files_under(&root)
    );

    // A good upload: listed, downloaded byte for byte; a repeat replaces it.
    let info = upload_ok(&mut w, &a, &first, "gradcam.png", &png).await;
    assert_eq!(
        (info.size, info.sha256.as_str(), info.attempt),
        (size, digest.as_str(), first.attempt)
    );
    let again = upload_ok(&mut w, &a, &first, "gradcam.png", &png).await;
    assert_eq!(again.sha256, digest);
    let listed = list(&mut s, &sweep_id, &first.trial_id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (got_info, got) = download(&mut s, &listed[0]).await;
    assert_eq!(got_info.sha256, digest);
    assert!(got == png, "the download differs");
    let missing = s
        .get_artifact(GetArtifactRequest {
            sweep_id: sweep_id.clone(),
            trial_id: first.trial_id.clone(),
            name: "best.safetensors".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Top-1 weights: three trials, the middle one best.
    let mut leases = vec![first];
    leases.push(lease(&mut w, &a).await);
    leases.push(lease(&mut w, &a).await);
    for (i, l) in leases.iter().enumerate() {
        upload_ok(
            &mut w,
            &a,
            l,
            "best.safetensors",
            format!("weights {i}").as_bytes(),
        )
        .await;
    }
    assert_eq!(
        weights(&mut s, &sweep_id).await.len(),
        3,
        "running trials keep theirs"
    );
    for (l, acc) in leases.iter().zip([0.5, 0.9, 0.7]) {
        complete(&mut w, &a, l, acc).await;
    }
    let kept = weights(&mut s, &sweep_id).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].trial_id, leases[1].trial_id, "the best trial's");
    let on_disk: Vec<_> = files_under(&root)
        .into_iter()
        .filter(|p| p.ends_with("best.safetensors"))
        .collect();
    assert_eq!(on_disk.len(), 1, "{on_disk:?}");
    assert!(on_disk[0].starts_with(Path::new(&sweep_id).join(&leases[1].trial_id)));
    let (_, got) = download(&mut s, &kept[0]).await;
    assert_eq!(got, b"weights 1");

    // A finished trial takes no more uploads of another attempt.
    let e = upload(
        &mut w,
        chunks(&a, &stale, "gradcam.png", &png, size, &digest),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
