//! Reading YAML that users wrote (sweep files, trial configs) without trusting
//! it: serde-saphyr with explicit budgets on nesting depth, anchors and alias
//! expansion, parser events and nodes; duplicate keys refused; one error
//! naming the dotted path, what is wrong, and the line and column.
//!
//! The size of the text is the caller's cap (checked before this is called):
//! the budgets here bound what the parser does with text of that size.

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::options::{AliasLimits, DuplicateKeyPolicy, MergeKeyPolicy};
use serde_saphyr::{Budget, Error, Options, RenderOptions, SnippetMode, UserMessageFormatter};

/// What the parser may spend on one document. The defaults are far above what
/// a hand-written sweep file or trial config needs (a few hundred nodes,
/// depth under 10) and low enough that a hostile document is refused within
/// milliseconds, before it costs memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlBudget {
    /// Deepest nesting of sequences and mappings (a sweep file needs ~8).
    pub max_depth: usize,
    /// Alias uses (`*name`) in the document.
    pub max_aliases: usize,
    /// Anchors (`&name`) in the document.
    pub max_anchors: usize,
    /// Events that anchors may record and aliases may replay, each counted
    /// separately: the alias-expansion budget. An alias bomb (one anchored
    /// list replayed through thousands of aliases, or the "billion laughs")
    /// stops here.
    pub max_alias_events: usize,
    /// Parser events (every scalar, start and end of a collection).
    pub max_events: usize,
    /// Nodes (scalars, sequences, mappings).
    pub max_nodes: usize,
}

impl Default for YamlBudget {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_alias_events: 5_000,
            max_events: 200_000,
            max_nodes: 100_000,
        }
    }
}

impl YamlBudget {
    /// serde-saphyr's options for this budget: one document, duplicate keys
    /// refused, merge keys (`<<`) allowed but counted, no snippets (every error
    /// is one line).
    fn options(&self) -> Options {
        let mut budget = Budget::default();
        budget.max_depth = self.max_depth;
        // The parser's own limit on flow nesting (`[[[`) trips before the
        // budget's depth count sees the events; `describe` words both alike.
        budget.flow_nesting_limit = self.max_depth;
        budget.max_aliases = self.max_aliases;
        budget.max_anchors = self.max_anchors;
        budget.max_recorded_anchor_events = self.max_alias_events;
        budget.max_events = self.max_events;
        budget.max_nodes = self.max_nodes;
        budget.max_documents = 1;
        budget.max_merge_keys = 100;

        let mut alias_limits = AliasLimits::default();
        alias_limits.max_total_replayed_events = self.max_alias_events;
        alias_limits.max_replay_stack_depth = 8;

        let mut options = Options::default();
        options.budget = Some(budget);
        options.alias_limits = alias_limits;
        options.duplicate_keys = DuplicateKeyPolicy::Error;
        options.merge_keys = MergeKeyPolicy::Merge;
        options.with_snippet = false;
        options
    }
}

/// A document refused by the parser: syntax, an unknown key, a wrong type, a
/// duplicate key or a budget breach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Dotted path of the value at fault (`base.phase2.epochs`), when known.
    pub path: Option<String>,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// The whole one-line message: path, what is wrong, "at line L, column C".
    pub message: String,
}

/// Parses one YAML document into `T` within `budget`.
pub fn from_str<T: DeserializeOwned>(text: &str, budget: &YamlBudget) -> Result<T, YamlError> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, budget.options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| describe(&e, path.as_deref(), budget))
}

fn describe(err: &Error, path: Option<&str>, budget: &YamlBudget) -> YamlError {
    let location = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize));
    let what = match over_budget(original(err), budget) {
        Some(what) => match location {
            Some((line, column)) => format!(
                "YAML too large or too complex: {what} (refused at line {line}, column {column})"
            ),
            None => format!("YAML too large or too complex: {what}"),
        },
        None => {
            let mut render = RenderOptions::new(&UserMessageFormatter);
            render.snippets = SnippetMode::Off;
            err.render_with_options(render)
        }
    };
    // serde_path_to_error writes `?` for a key it could not name and `.` for
    // the root; neither helps a reader. An unknown key is named by the
    // message, so the path stops at the mapping that holds it.
    let unknown_key = matches!(original(err), Error::SerdeUnknownField { .. });
    let path = path
        .map(|p| {
            let p = p.trim_end_matches(".?").trim_matches(['.', '?']);
            match p.rsplit_once('.') {
                Some((parent, _)) if unknown_key => parent,
                None if unknown_key => "",
                _ => p,
            }
        })
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let message = match &path {
        Some(p) => format!("{p}: {what}"),
        None => what,
    };
    YamlError {
        path,
        location,
        message,
    }
}

/// The error under alias and snippet wrappers.
fn original(mut err: &Error) -> &Error {
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = err {
        err = error;
    }
    err
}

/// The budget an error breached, in words; `None` for any other error.
fn over_budget(err: &Error, b: &YamlBudget) -> Option<String> {
    let alias_budget = || {
        format!(
            "anchors and aliases expand past {} events (the alias budget)",
            b.max_alias_events
        )
    };
    Some(match err {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => format!("nested deeper than {} levels", b.max_depth),
            BudgetBreach::Aliases { .. } => format!("more than {} aliases", b.max_aliases),
            BudgetBreach::Anchors { .. } => format!("more than {} anchors", b.max_anchors),
            BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
                format!("{aliases} aliases of only {anchors} anchors")
            }
            BudgetBreach::RecordedAnchorEvents { .. }
            | BudgetBreach::RecordedAnchorBytes { .. } => alias_budget(),
            BudgetBreach::Events { .. } => format!("more than {} parser events", b.max_events),
            BudgetBreach::Nodes { .. } => format!("more than {} nodes", b.max_nodes),
            BudgetBreach::Documents { .. } => "more than one document".to_string(),
            BudgetBreach::MergeKeys { .. } => "too many merge keys (`<<`)".to_string(),
            other => format!("{other:?}"),
        },
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => alias_budget(),
        Error::AliasReplayStackDepthExceeded { max_depth, .. } => {
            format!("aliases nested more than {max_depth} deep")
        }
        // The parser's flow-nesting limit (`flow_nesting_limit`).
        other if other.to_string().starts_with("recursion limit exceeded") => {
            format!("nested deeper than {} levels", b.max_depth)
        }
        _ => return None,
    })
}
