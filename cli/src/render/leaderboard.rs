//! A sweep's trials as the coordinator ranked them (by the sweep's metric on
//! validation; test accuracy is shown, never ranked on), in three formats:
//! an aligned table, CSV with a header row, and a JSON array of objects.
//!
//! Columns: rank, trial id, state, one column per swept parameter path, the
//! metric, test accuracy, best epoch, wall time, worker, attempts, and the
//! last error of a trial that did not finish. A done trial whose loss
//! diverged shows the state `diverged`, no metric (the coordinator ranks it
//! after every finite result) and where it diverged in the error column. A
//! trial stopped early shows the state `stopped`, its best value so far as
//! its metric (ranked after a done trial of equal metric), its epochs run
//! (`3/9`, a column shown when some trial was stopped) and why it stopped.
//! A trial whose result was copied from an earlier sweep (reused: it did
//! not run here) names that sweep in the `reused from` column (shown when
//! some trial was reused; `reused_from_sweep` in CSV and JSON, always).

use super::table::{Align, Table};
use super::values;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use sweep_proto::trial::Divergence;
use sweep_proto::v1::{ListTrialsResponse, TrialInfo, TrialState};

/// Longest error text shown in the table (CSV and JSON carry it whole).
const TABLE_ERROR_CHARS: usize = 60;

/// The ranked trials of one sweep, ready to print.
#[derive(Debug, Clone)]
pub struct Leaderboard {
    metric_name: String,
    metric_goal: String,
    /// Every swept parameter path, sorted.
    params: Vec<String>,
    entries: Vec<Entry>,
}

/// One trial of the leaderboard. Serialises to one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// 1-based among finished trials; `None` for the others.
    pub rank: Option<u32>,
    pub trial_id: String,
    pub state: String,
    /// Swept values, parsed from the coordinator's JSON text.
    pub params: BTreeMap<String, Value>,
    pub metric_name: String,
    pub metric: Option<f64>,
    pub test_acc: Option<f64>,
    pub best_epoch: Option<u32>,
    pub wall_s: Option<f64>,
    pub worker: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Epochs run, of the trial's total (a stopped trial ran fewer).
    pub epochs_done: u32,
    pub total_epochs: u32,
    /// The earlier sweep whose result this trial's is a copy of (it did not
    /// run in this sweep); `None` for a trial run here.
    pub reused_from_sweep: Option<String>,
}

impl Leaderboard {
    pub fn from_response(response: &ListTrialsResponse) -> Self {
        let params: Vec<String> = response
            .trials
            .iter()
            .flat_map(|t| t.params.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let entries = response
            .trials
            .iter()
            .map(|t| Entry::from_trial(t, &response.metric_name))
            .collect();
        Self {
            metric_name: response.metric_name.clone(),
            metric_goal: response.metric_goal.clone(),
            params,
            entries,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// `val_acc (maximize)`, for headings.
    pub fn metric_label(&self) -> String {
        format!("{} ({})", self.metric_name, self.metric_goal)
    }

    fn headers(&self) -> Vec<String> {
        let mut h = vec!["rank".to_string(), "trial".into(), "state".into()];
        h.extend(self.params.iter().cloned());
        h.extend([
            self.metric_name_or_metric(),
            "test_acc".into(),
            "best_epoch".into(),
            "wall_s".into(),
            "worker".into(),
            "attempts".into(),
            "error".into(),
            "reused_from_sweep".into(),
        ]);
        h
    }

    fn metric_name_or_metric(&self) -> String {
        if self.metric_name.is_empty() {
            "metric".into()
        } else {
            self.metric_name.clone()
        }
    }

    /// Aligned for people: metrics to four decimals, wall time with a unit.
    pub fn table(&self) -> String {
        let mut table = Table::new()
            .column("rank", Align::Right)
            .column("trial", Align::Left)
            .column("state", Align::Left);
        for p in &self.params {
            table = table.column(p.clone(), Align::Left);
        }
        table = table
            .column(self.metric_name_or_metric(), Align::Right)
            .column("test_acc", Align::Right)
            .column("best_epoch", Align::Right)
            .column("wall", Align::Right)
            .column("worker", Align::Left)
            .column("attempts", Align::Right);
        // The epochs column only when some trial was stopped early.
        let stopped = self.entries.iter().any(|e| e.state.starts_with("stopped"));
        if stopped {
            table = table.column("epochs", Align::Right);
        }
        // The reused column only when some trial's result came from an earlier sweep.
        let reused = self.entries.iter().any(|e| e.reused_from_sweep.is_some());
        if reused {
            table = table.column("reused from", Align::Left);
        }
        // The error column only when some trial has an error to show.
        let errors = self.entries.iter().any(|e| e.last_error.is_some());
        if errors {
            table = table.column("error", Align::Left);
        }
        for e in &self.entries {
            let mut row = vec![
                values::or_dash(e.rank.map(|r| r.to_string())),
                e.trial_id.clone(),
                e.state.clone(),
            ];
            row.extend(
                self.params
                    .iter()
                    .map(|p| values::or_dash(e.params.get(p).map(values::value_for_table))),
            );
            row.extend([
                values::or_dash(e.metric.map(values::metric)),
                values::or_dash(e.test_acc.map(values::metric)),
                values::or_dash(e.best_epoch.map(|b| b.to_string())),
                values::or_dash(e.wall_s.map(values::seconds)),
                values::or_dash(e.worker.clone()),
                e.attempts.to_string(),
            ]);
            if stopped {
                row.push(format!("{}/{}", e.epochs_done, e.total_epochs));
            }
            if reused {
                row.push(values::or_dash(e.reused_from_sweep.clone()));
            }
            if errors {
                row.push(
                    e.last_error
                        .as_deref()
                        .map(|m| shorten(m, TABLE_ERROR_CHARS))
                        .unwrap_or_default(),
                );
            }
            table.row(row);
        }
        table.render()
    }

    /// Full precision, empty cells for missing values, lists as `[a,b]`.
    pub fn csv(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .entries
            .iter()
            .map(|e| {
                let mut row = vec![
                    e.rank.map(|r| r.to_string()).unwrap_or_default(),
                    e.trial_id.clone(),
                    e.state.clone(),
                ];
                row.extend(
                    self.params
                        .iter()
                        .map(|p| e.params.get(p).map(values::value).unwrap_or_default()),
                );
                row.extend([
                    e.metric.map(|v| v.to_string()).unwrap_or_default(),
                    e.test_acc.map(|v| v.to_string()).unwrap_or_default(),
                    e.best_epoch.map(|v| v.to_string()).unwrap_or_default(),
                    e.wall_s.map(|v| v.to_string()).unwrap_or_default(),
                    e.worker.clone().unwrap_or_default(),
                    e.attempts.to_string(),
                    e.last_error.clone().unwrap_or_default(),
                    e.reused_from_sweep.clone().unwrap_or_default(),
                ]);
                row
            })
            .collect();
        super::csv::document(&self.headers(), &rows)
    }

    /// A JSON array with one object per trial (see [`Entry`]), pretty-printed.
    pub fn json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(&self.entries).expect("entries always serialise");
        text.push('\n');
        text
    }
}

impl Entry {
    fn from_trial(t: &TrialInfo, metric_name: &str) -> Self {
        let done = t.state == TrialState::Done as i32;
        let ranked = done || t.state == TrialState::Stopped as i32;
        let params = t
            .params
            .iter()
            .map(|(k, v)| {
                let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
                (k.clone(), value)
            })
            .collect();
        Self {
            rank: (t.rank > 0).then_some(t.rank),
            trial_id: t.trial_id.clone(),
            state: {
                let marks = marks(&t.result_json);
                let state = if done && marks.diverged.is_some() {
                    "diverged"
                } else {
                    values::trial_state(t.state)
                };
                if marks.simulated {
                    format!("{state} (simulated)")
                } else {
                    state.to_string()
                }
            },
            params,
            metric_name: metric_name.to_string(),
            metric: t.metric,
            test_acc: t.test_acc,
            best_epoch: (ranked && t.best_epoch > 0).then_some(t.best_epoch),
            wall_s: (ranked || t.wall_s > 0.0).then_some(t.wall_s),
            worker: (!t.worker_id.is_empty()).then(|| t.worker_id.clone()),
            attempts: t.attempts,
            last_error: (!t.last_error.is_empty()).then(|| t.last_error.clone()),
            epochs_done: t.epochs_done,
            total_epochs: t.total_epochs,
            reused_from_sweep: (!t.reused_from_sweep.is_empty())
                .then(|| t.reused_from_sweep.clone()),
        }
    }
}

/// The fields of a `TrialResult` that change how its trial is shown.
#[derive(Deserialize, Default)]
struct Marks {
    #[serde(default)]
    diverged: Option<Divergence>,
    #[serde(default)]
    simulated: bool,
}

/// What a result (`TrialResult` JSON) says of its trial: diverged, simulated;
/// neither for anything unreadable.
fn marks(result_json: &str) -> Marks {
    serde_json::from_str(result_json).unwrap_or_default()
}

/// Whether a result says its trial diverged.
#[cfg(test)]
fn diverged(result_json: &str) -> bool {
    marks(result_json).diverged.is_some()
}

/// First line of `text`, at most `max` characters (with `…` when cut).
fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max && !text.contains('\n') {
        return line.to_string();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(rank: u32, id: &str, state: TrialState, lr: &str, unfreeze: &str) -> TrialInfo {
        TrialInfo {
            rank,
            trial_id: id.into(),
            state: state as i32,
            params: [
                ("phase2.lr_backbone".to_string(), lr.to_string()),
                ("phase2.unfreeze".to_string(), unfreeze.to_string()),
            ]
            .into_iter()
            .collect(),
            metric: (state == TrialState::Done).then_some(0.5 + rank as f64 / 10.0),
            test_acc: (state == TrialState::Done).then_some(0.98),
            best_epoch: if state == TrialState::Done { 7 } else { 0 },
            wall_s: if state == TrialState::Done {
                125.0
            } else {
                0.0
            },
            worker_id: if state == TrialState::Pending {
                String::new()
            } else {
                "w-1".into()
            },
            attempts: 1,
            last_error: if state == TrialState::Failed {
                "backbone file data/x.safetensors: not found, \"really\"".into()
            } else {
                String::new()
            },
            result_json: String::new(),
            config_json: String::new(),
            epochs_done: if state == TrialState::Stopped { 3 } else { 0 },
            total_epochs: 10,
            reused_from_sweep: String::new(),
        }
    }

    #[test]
    fn a_stopped_trial_shows_its_epochs_and_why() {
        let mut stopped = trial(
            2,
            "cccc000011112222",
            TrialState::Stopped,
            "1e-5",
            "[\"all\"]",
        );
        stopped.metric = Some(0.61);
        stopped.best_epoch = 3;
        stopped.last_error = "stopped by ASHA at rung 3".into();
        let response = ListTrialsResponse {
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            trials: vec![
                trial(1, "aaaa000011112222", TrialState::Done, "1e-3", "[\"all\"]"),
                stopped,
            ],
            ..Default::default()
        };
        let board = Leaderboard::from_response(&response);
        let table = board.table();
        assert!(table.contains("stopped"), "{table}");
        assert!(table.contains("3/10"), "{table}");
        assert!(table.contains("0.6100"), "{table}");
        let e = &board.entries()[1];
        assert_eq!((e.rank, e.best_epoch, e.epochs_done), (Some(2), Some(3), 3));
    }

    fn board() -> Leaderboard {
        Leaderboard::from_response(&ListTrialsResponse {
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            trials: vec![
                trial(
                    1,
                    "aaaa000011112222",
                    TrialState::Done,
                    "0.001",
                    "[\"all\"]",
                ),
                trial(
                    2,
                    "bbbb000011112222",
                    TrialState::Done,
                    "1e-5",
                    "[\"layer3\",\"layer4\"]",
                ),
                trial(
                    0,
                    "cccc000011112222",
                    TrialState::Failed,
                    "1e-5",
                    "[\"layer4\"]",
                ),
                trial(
                    0,
                    "dddd000011112222",
                    TrialState::Pending,
                    "0.001",
                    "[\"layer4\"]",
                ),
            ],
            ..Default::default()
        })
    }

    #[test]
    fn table_has_one_column_per_parameter_and_aligned_rows() {
        let text = board().table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        let header = lines[0];
        for col in [
            "rank",
            "trial",
            "phase2.lr_backbone",
            "phase2.unfreeze",
            "val_acc",
            "test_acc",
            "best_epoch",
            "wall",
            "worker",
        ] {
            assert!(header.contains(col), "{header}");
        }
        // The trial column starts at the same offset on every line.
        let at = header.find("trial").unwrap();
        assert_eq!(&lines[1][at..at + 16], "aaaa000011112222");
        assert_eq!(&lines[4][at..at + 16], "dddd000011112222");
        assert!(
            lines[1].contains("[all]") && lines[1].contains("0.6000") && lines[1].contains("2m05s")
        );
        assert!(lines[2].contains("[layer3,layer4]") && lines[2].contains("1e-5"));
        assert!(lines[3].trim_start().starts_with('-') && lines[3].contains("failed"));
        assert!(lines[3].contains("backbone file"));
        // Numbers are right-aligned: the metric column ends at the same offset.
        let end = header.find("val_acc").unwrap() + "val_acc".len();
        assert_eq!(&lines[1][end - 6..end], "0.6000");
        assert_eq!(&lines[3][end - 1..end], "-");
    }

    #[test]
    fn csv_has_a_header_and_quotes_lists_and_errors() {
        let text = board().csv();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "rank,trial,state,phase2.lr_backbone,phase2.unfreeze,val_acc,test_acc,best_epoch,wall_s,worker,attempts,error,reused_from_sweep"
        );
        assert_eq!(
            lines[1],
            "1,aaaa000011112222,done,0.001,[all],0.6,0.98,7,125,w-1,1,,"
        );
        assert_eq!(
            lines[2],
            "2,bbbb000011112222,done,1e-5,\"[layer3,layer4]\",0.7,0.98,7,125,w-1,1,,"
        );
        assert_eq!(
            lines[3],
            ",cccc000011112222,failed,1e-5,[layer4],,,,,w-1,1,\"backbone file data/x.safetensors: not found, \"\"really\"\"\","
        );
        assert_eq!(
            lines[4],
            ",dddd000011112222,pending,0.001,[layer4],,,,,,1,,"
        );
    }

    #[test]
    fn a_reused_trial_names_its_source_sweep_in_every_format() {
        let plain = board();
        assert!(!plain.table().contains("reused from"), "{}", plain.table());
        let mut reused = trial(1, "aaaa000011112222", TrialState::Done, "0.001", "[all]");
        reused.reused_from_sweep = "sw-first-1a2b3c4d".into();
        reused.worker_id = String::new();
        reused.attempts = 0;
        let fresh = trial(2, "bbbb000011112222", TrialState::Done, "1e-5", "[layer4]");
        let board = Leaderboard::from_response(&ListTrialsResponse {
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            trials: vec![reused, fresh],
            ..Default::default()
        });
        let table = board.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("reused from"), "{table}");
        assert!(lines[1].ends_with("sw-first-1a2b3c4d"), "{table}");
        assert!(lines[2].trim_end().ends_with('-'), "{table}");
        let csv = board.csv();
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .ends_with(",0,,sw-first-1a2b3c4d"),
            "{csv}"
        );
        assert!(csv.lines().nth(2).unwrap().ends_with(",1,,"), "{csv}");
        let v: Value = serde_json::from_str(&board.json()).unwrap();
        assert_eq!(v[0]["reused_from_sweep"], "sw-first-1a2b3c4d");
        assert_eq!(v[1]["reused_from_sweep"], Value::Null);
    }

    #[test]
    fn json_is_an_array_of_objects_with_typed_values() {
        let v: Value = serde_json::from_str(&board().json()).unwrap();
        let items = v.as_array().expect("an array");
        assert_eq!(items.len(), 4);
        let first = &items[0];
        assert_eq!(first["rank"], 1);
        assert_eq!(first["trial_id"], "aaaa000011112222");
        assert_eq!(first["state"], "done");
        assert_eq!(first["metric_name"], "val_acc");
        assert_eq!(first["metric"], 0.6);
        assert_eq!(first["test_acc"], 0.98);
        assert_eq!(first["best_epoch"], 7);
        assert_eq!(first["worker"], "w-1");
        assert_eq!(first["params"]["phase2.lr_backbone"], 0.001);
        assert_eq!(
            first["params"]["phase2.unfreeze"],
            serde_json::json!(["all"])
        );
        let pending = &items[3];
        assert!(pending["rank"].is_null() && pending["metric"].is_null());
        assert!(pending["worker"].is_null());
    }

    #[test]
    fn no_error_column_when_nothing_failed() {
        let mut response = ListTrialsResponse {
            metric_name: "val_loss".into(),
            metric_goal: "minimize".into(),
            trials: vec![trial(
                1,
                "aaaa000011112222",
                TrialState::Done,
                "0.001",
                "[\"all\"]",
            )],
            ..Default::default()
        };
        let text = Leaderboard::from_response(&response).table();
        assert!(!text.lines().next().unwrap().contains("error"), "{text}");
        assert!(text.lines().next().unwrap().contains("val_loss"), "{text}");
        response.trials[0].last_error = "boom".into();
        let text = Leaderboard::from_response(&response).table();
        assert!(text.lines().next().unwrap().ends_with("error"), "{text}");
    }

    #[test]
    fn a_diverged_trial_shows_as_diverged_without_a_metric() {
        let mut ok = trial(
            1,
            "aaaa000011112222",
            TrialState::Done,
            "0.001",
            "[\"all\"]",
        );
        ok.result_json = r#"{"best_val_acc": 0.9, "epochs": []}"#.into();
        let mut bad = trial(2, "bbbb000011112222", TrialState::Done, "1.0", "[\"all\"]");
        bad.metric = None;
        bad.test_acc = None;
        bad.last_error = "diverged at epoch 3 (train loss NaN, batch 2)".into();
        bad.result_json = r#"{"best_val_acc": "NaN", "test": {"acc": null},
            "diverged": {"epoch": 3, "phase": 2, "loss": "train", "batch": 2, "value": "NaN"}}"#
            .into();
        let board = Leaderboard::from_response(&ListTrialsResponse {
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            trials: vec![ok, bad],
            ..Default::default()
        });
        let states: Vec<&str> = board.entries().iter().map(|e| e.state.as_str()).collect();
        assert_eq!(states, ["done", "diverged"]);
        let table = board.table();
        let row = table.lines().nth(2).unwrap();
        assert!(
            row.contains("diverged") && row.contains("diverged at epoch 3") && row.contains(" - "),
            "{table}"
        );
        let json: Value = serde_json::from_str(&board.json()).unwrap();
        assert_eq!(json[1]["state"], "diverged");
        assert!(json[1]["metric"].is_null());
        assert!(board.csv().lines().nth(2).unwrap().contains(",diverged,"));
        assert!(!diverged("not json") && !diverged(r#"{"diverged": null}"#));
    }

    #[test]
    fn long_errors_are_cut_in_the_table_only() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("0123456789abc", 10), "012345678…");
        assert_eq!(shorten("first\nsecond", 10), "first…");
    }

    #[test]
    fn a_simulated_result_is_labelled_in_every_format() {
        let mut sim = trial(
            1,
            "aaaa000011112222",
            TrialState::Done,
            "0.001",
            "[\"all\"]",
        );
        sim.result_json = r#"{"best_val_acc": 0.9, "simulated": true}"#.into();
        let mut real = trial(2, "bbbb000011112222", TrialState::Done, "0.01", "[\"all\"]");
        real.result_json = r#"{"best_val_acc": 0.8}"#.into();
        let board = Leaderboard::from_response(&ListTrialsResponse {
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            trials: vec![sim, real],
            ..Default::default()
        });
        let table = board.table();
        let rows: Vec<&str> = table.lines().skip(1).collect();
        assert!(rows[0].contains("done (simulated)"), "{table}");
        assert!(!rows[1].contains("simulated"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&board.json()).unwrap();
        assert_eq!(json[0]["state"], "done (simulated)");
        assert!(board
            .csv()
            .lines()
            .nth(1)
            .unwrap()
            .contains("done (simulated)"));
    }
}
