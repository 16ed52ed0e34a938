//! `deploy/k8s/` as Kubernetes reads it: `kubectl kustomize` renders it, every
//! object passes the Kubernetes API schemas strictly (`kubernetes-validate`
//! from PyPI, installed into `.venv` by scripts/setup.sh), and the parts that
//! must agree do: workers drain before the kubelet's kill, the coordinator's
//! database sits on its claim, probes ask the gRPC health service, the pods
//! run unprivileged, and every Secret the pods mount is one deploy/README.md
//! says how to make.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use sweep_tests::bins;

fn repo() -> PathBuf {
    bins::repo_root()
}

/// `kubectl kustomize DIR` (panics with what kubectl said).
fn render(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs (it renders kustomizations without a cluster)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kubernetes-validate --strict` on `yaml`: (passed, what it said).
fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(repo().join(".venv/bin/kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs (scripts/setup.sh installs it into .venv)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The rendered objects, as JSON (through the venv's PyYAML).
fn objects(yaml: &str) -> Vec<Value> {
    let mut child = Command::new(repo().join(".venv/bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The value of `key = N` in a TOML settings file's text.
fn toml_number(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.split('#').next().unwrap().trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{key} is not set"))
}

#[test]
fn the_kustomization_renders_and_passes_the_api_schemas() {
    let yaml = render(&repo().join("deploy/k8s"));
    let (ok, said) = validate(&yaml);
    assert!(ok, "{said}");
    // The check can fail: a misspelt field is refused.
    let bad = yaml.replacen(
        " terminationGracePeriodSeconds:",
        " terminationGracePeriodSecond:",
        1,
    );
    assert_ne!(bad, yaml);
    let (ok, said) = validate(&bad);
    assert!(!ok, "a misspelt field passed: {said}");
}

#[test]
fn the_parts_agree() {
    let all = objects(&render(&repo().join("deploy/k8s")));
    assert!(all
        .iter()
        .all(|o| o["metadata"]["namespace"] == "sweep" || o["kind"] == "Namespace"));

    // Workers drain, then hand back, before the kubelet's SIGKILL.
    let worker = &find(&all, "Deployment", "sweep-worker")["spec"]["template"]["spec"];
    let grace = worker["terminationGracePeriodSeconds"].as_u64().unwrap();
    let worker_toml = std::fs::read_to_string(repo().join("deploy/k8s/worker.toml")).unwrap();
    let drain = toml_number(&worker_toml, "drain_timeout");
    assert!(
        drain + 30 <= grace,
        "drain_timeout {drain} s leaves under 30 s before the kill at {grace} s"
    );
    let args = worker["containers"][0]["args"].as_array().unwrap();
    assert!(args.iter().any(|a| a == "/etc/sweep/config/worker.toml"));

    // The coordinator keeps its database on the claim, and probes ask `sweep health`.
    let coordinator = find(&all, "StatefulSet", "sweep-coordinator");
    assert_eq!(coordinator["spec"]["replicas"], 1, "SQLite has one writer");
    let claim = &coordinator["spec"]["volumeClaimTemplates"][0]["metadata"]["name"];
    let container = &coordinator["spec"]["template"]["spec"]["containers"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| &m["name"] == claim)
        .expect("the claim is mounted");
    let coordinator_toml =
        std::fs::read_to_string(repo().join("deploy/k8s/coordinator.toml")).unwrap();
    let db_line = coordinator_toml
        .lines()
        .find(|l| l.starts_with("db ="))
        .unwrap();
    assert!(
        db_line.contains(mount["mountPath"].as_str().unwrap()),
        "{db_line} is not under the claim's mount {}",
        mount["mountPath"]
    );
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let command = container[probe]["exec"]["command"].as_array().unwrap();
        assert_eq!(command[..2], ["sweep", "health"], "{probe}");
    }

    // Unprivileged pods; every Secret they mount is one the README makes.
    let readme = std::fs::read_to_string(repo().join("deploy/README.md")).unwrap();
    for spec in [&coordinator["spec"]["template"]["spec"], worker] {
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        for c in spec["containers"].as_array().unwrap() {
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        }
        for volume in spec["volumes"].as_array().unwrap() {
            if let Some(secret) = volume["secret"]["secretName"].as_str() {
                assert!(
                    readme.contains(&format!("create secret generic {secret} "))
                        || readme.contains(&format!("create secret tls {secret} ")),
                    "deploy/README.md does not say how to make Secret {secret}"
                );
            }
        }
    }
}
