//! The trials table, sorted and paged on the server: any column (rank,
//! state, each swept parameter, the metric, test accuracy and ECE, best
//! epoch, wall time, worker, attempts), either direction, missing values
//! always last, ties by the sweep's order.

use super::TrialRow;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The most rows one page holds.
pub const MAX_PAGE_ROWS: usize = 500;
/// Rows a page holds when the caller does not say.
pub const DEFAULT_PAGE_ROWS: usize = 50;

/// What a table request asks for (the query string of the trials API).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TableQuery {
    /// A column: `rank`, `state`, `metric`, `test_acc`, `test_ece`,
    /// `best_epoch`, `wall_s`, `worker`, `attempts`, `index`, or `p:` + a
    /// parameter's dotted path. Unknown: `rank`.
    pub sort: String,
    pub desc: bool,
    pub offset: usize,
    /// 0: [`DEFAULT_PAGE_ROWS`]; more than [`MAX_PAGE_ROWS`]: that many.
    pub limit: usize,
}

/// One page of the table.
#[derive(Debug, Serialize)]
pub struct TablePage<'a> {
    pub total: usize,
    pub offset: usize,
    pub rows: Vec<&'a TrialRow>,
}

/// The page `query` asks for.
pub fn page<'a>(rows: &'a [TrialRow], param_names: &[String], query: &TableQuery) -> TablePage<'a> {
    let column = Column::parse(&query.sort, param_names);
    let mut sorted: Vec<&TrialRow> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        let (ka, kb) = (column.key(a), column.key(b));
        let order = match (ka.is_missing(), kb.is_missing()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let o = ka.cmp(&kb);
                if query.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        order.then(a.index.cmp(&b.index))
    });
    let limit = match query.limit {
        0 => DEFAULT_PAGE_ROWS,
        n => n.min(MAX_PAGE_ROWS),
    };
    let offset = query.offset.min(sorted.len());
    TablePage {
        total: sorted.len(),
        offset,
        rows: sorted.into_iter().skip(offset).take(limit).collect(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Column {
    Rank,
    Index,
    State,
    Param(usize),
    Metric,
    TestAcc,
    TestEce,
    BestEpoch,
    Wall,
    Worker,
    Attempts,
}

impl Column {
    fn parse(name: &str, param_names: &[String]) -> Column {
        if let Some(param) = name.strip_prefix("p:") {
            if let Some(i) = param_names.iter().position(|p| p == param) {
                return Column::Param(i);
            }
        }
        match name {
            "index" => Column::Index,
            "state" => Column::State,
            "metric" => Column::Metric,
            "test_acc" => Column::TestAcc,
            "test_ece" => Column::TestEce,
            "best_epoch" => Column::BestEpoch,
            "wall_s" => Column::Wall,
            "worker" => Column::Worker,
            "attempts" => Column::Attempts,
            _ => Column::Rank,
        }
    }

    fn key<'r>(self, row: &'r TrialRow) -> Key<'r> {
        let number = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => Key::Number(v),
            _ => Key::Missing,
        };
        match self {
            // Unranked trials (rank 0) come after every ranked one.
            Column::Rank if row.rank == 0 => Key::Missing,
            Column::Rank => Key::Number(f64::from(row.rank)),
            Column::Index => Key::Number(row.index as f64),
            Column::State => Key::Text(row.state),
            Column::Param(i) => match row.params.get(i) {
                Some(serde_json::Value::Number(n)) => number(n.as_f64()),
                Some(serde_json::Value::String(s)) => Key::Text(s),
                Some(serde_json::Value::Bool(b)) => Key::Number(f64::from(u8::from(*b))),
                _ => Key::Missing,
            },
            Column::Metric => number(row.metric),
            Column::TestAcc => number(row.test_acc),
            Column::TestEce => number(row.test_ece),
            Column::BestEpoch => Key::Number(f64::from(row.best_epoch)),
            Column::Wall => number(Some(row.wall_s)),
            Column::Worker if row.worker_id.is_empty() => Key::Missing,
            Column::Worker => Key::Text(&row.worker_id),
            Column::Attempts => Key::Number(f64::from(row.attempts)),
        }
    }
}

/// A cell's sort key: numbers before text, missing handled by the caller.
#[derive(Debug, PartialEq)]
enum Key<'r> {
    Number(f64),
    Text(&'r str),
    Missing,
}

impl Key<'_> {
    fn is_missing(&self) -> bool {
        matches!(self, Key::Missing)
    }

    fn cmp(&self, other: &Key<'_>) -> Ordering {
        match (self, other) {
            (Key::Number(a), Key::Number(b)) => a.total_cmp(b),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            (Key::Number(_), _) => Ordering::Less,
            (_, Key::Number(_)) => Ordering::Greater,
            _ => Ordering::Equal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(index: u64, rank: u32, lr: serde_json::Value, metric: Option<f64>) -> TrialRow {
        TrialRow {
            rank,
            trial_id: format!("t{index}"),
            index,
            state: if rank > 0 { "done" } else { "pending" },
            params: vec![lr],
            metric,
            test_acc: None,
            test_ece: None,
            best_epoch: 0,
            wall_s: 0.0,
            worker_id: String::new(),
            attempts: 0,
            diverged: false,
            error: String::new(),
        }
    }

    #[test]
    fn sorts_by_any_column_with_missing_last_and_pages() {
        let rows = vec![
            row(0, 2, json!(0.1), Some(0.8)),
            row(1, 0, json!(0.01), None),
            row(2, 1, json!(0.001), Some(0.9)),
        ];
        let names = vec!["lr".to_string()];
        let ids = |q: TableQuery| -> Vec<u64> {
            page(&rows, &names, &q)
                .rows
                .iter()
                .map(|r| r.index)
                .collect()
        };
        assert_eq!(ids(TableQuery::default()), [2, 0, 1]);
        let by = |sort: &str, desc| TableQuery {
            sort: sort.into(),
            desc,
            ..TableQuery::default()
        };
        assert_eq!(ids(by("rank", true)), [0, 2, 1]);
        assert_eq!(ids(by("metric", false)), [0, 2, 1]);
        assert_eq!(ids(by("metric", true)), [2, 0, 1]);
        assert_eq!(ids(by("p:lr", false)), [2, 1, 0]);
        assert_eq!(ids(by("p:nope", false)), [2, 0, 1]);
        let p = page(
            &rows,
            &names,
            &TableQuery {
                offset: 1,
                limit: 1,
                ..TableQuery::default()
            },
        );
        assert_eq!((p.total, p.offset, p.rows.len()), (3, 1, 1));
        assert_eq!(p.rows[0].index, 0);
        let p = page(
            &rows,
            &names,
            &TableQuery {
                offset: 99,
                limit: 100_000,
                ..TableQuery::default()
            },
        );
        assert_eq!((p.total, p.offset, p.rows.len()), (3, 3, 0));
    }
}
