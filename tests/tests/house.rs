//! The house's stated invariant, checked on the real dependency graph
//! (`cargo metadata`): only `sweep-worker` links libtorch. The coordinator,
//! the wire, the CLI and the shared runtime must build in seconds and deploy
//! anywhere, so none of them may reach `tch` or `torch-sys` through any
//! normal or build dependency, however indirect.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// Crates that bring libtorch in.
const TORCH: [&str; 2] = ["tch", "torch-sys"];

struct Graph {
    /// Package id → name.
    names: HashMap<String, String>,
    /// Package id → ids of its normal and build dependencies.
    deps: HashMap<String, Vec<String>>,
    /// Workspace member name → id.
    members: HashMap<String, String>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let names: HashMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().into(),
                p["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let members = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap().to_string();
            (names[&id].clone(), id)
        })
        .collect();
    let deps = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let linked = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| matches!(k["kind"].as_str(), None | Some("build")))
                })
                .map(|d| d["pkg"].as_str().unwrap().to_string())
                .collect();
            (node["id"].as_str().unwrap().to_string(), linked)
        })
        .collect();
    Graph {
        names,
        deps,
        members,
    }
}

impl Graph {
    /// Names of every package `member` links, directly or not.
    fn reachable(&self, member: &str) -> BTreeSet<String> {
        let start = self.members.get(member).unwrap_or_else(|| {
            panic!(
                "{member} is not a workspace member: {:?}",
                self.members.keys()
            )
        });
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(id) = todo.pop() {
            for dep in self.deps.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen.iter().map(|id| self.names[id].clone()).collect()
    }
}

#[test]
fn only_the_worker_links_libtorch() {
    let g = graph();
    assert!(
        g.reachable("sweep-worker").contains("tch"),
        "the check itself is broken: sweep-worker should reach tch"
    );
    let others: Vec<&String> = g.members.keys().filter(|m| *m != "sweep-worker").collect();
    assert!(others.len() >= 3, "members: {others:?}");
    for member in others {
        let linked = g.reachable(member);
        for torch in TORCH {
            assert!(
                !linked.contains(torch),
                "{member} links {torch}: only sweep-worker may (ARCHITECTURE.md, invariants)"
            );
        }
    }
}
