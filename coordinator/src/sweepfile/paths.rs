//! Dotted paths into a serialised [`TrialConfig`](sweep_proto::trial::TrialConfig):
//! setting a value at one, listing the valid ones, and suggesting the closest
//! valid paths when a parameter names one that does not exist.

use super::error::Problem;
use serde_json::Value;

/// Sets `root.a.b.c = value` for `path = "a.b.c"`. Every segment must already
/// exist: a sweep can only vary what the config has.
pub fn set(root: &mut Value, path: &str, value: Value) -> Result<(), ()> {
    let mut node = root;
    for segment in path.split('.') {
        node = node
            .as_object_mut()
            .and_then(|o| o.get_mut(segment))
            .ok_or(())?;
    }
    *node = value;
    Ok(())
}

/// Whether `path` names an existing key of `root`.
pub fn exists(root: &Value, path: &str) -> bool {
    let mut node = root;
    for segment in path.split('.') {
        match node.as_object().and_then(|o| o.get(segment)) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}

/// Every dotted path in `root` (objects and leaves), depth first.
pub fn all(root: &Value) -> Vec<String> {
    fn walk(node: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(obj) = node.as_object() {
            for (k, v) in obj {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(path.clone());
                walk(v, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

/// Up to `n` valid paths closest to `wanted` by edit distance, closest first.
pub fn closest(root: &Value, wanted: &str, n: usize) -> Vec<String> {
    let last = wanted.rsplit('.').next().unwrap_or(wanted);
    let mut scored: Vec<(usize, String)> = all(root)
        .into_iter()
        .map(|p| {
            let whole = edit_distance(wanted, &p);
            // A right leaf under the wrong parent is close too.
            let leaf = p.rsplit('.').next().unwrap_or(&p);
            let by_leaf = edit_distance(last, leaf) + 1;
            (whole.min(by_leaf), p)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, p)| p).collect()
}

/// Refuses one parameter nested inside another (`data` and `data.train`):
/// which one wins would depend on the order they are applied in.
pub fn check_no_overlap<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Result<(), Problem> {
    for outer in names.clone() {
        for inner in names.clone() {
            if inner.len() > outer.len()
                && inner.starts_with(outer)
                && inner.as_bytes()[outer.len()] == b'.'
            {
                return Err(Problem::Overlap {
                    inner: inner.to_string(),
                    outer: outer.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_needs_an_existing_path() {
        let mut v = json!({"a": {"b": 1}, "c": null});
        set(&mut v, "a.b", json!(2)).unwrap();
        set(&mut v, "c", json!([1])).unwrap();
        assert_eq!(v, json!({"a": {"b": 2}, "c": [1]}));
        assert!(set(&mut v, "a.x", json!(0)).is_err());
        assert!(set(&mut v, "a.b.c", json!(0)).is_err());
        assert!(exists(&v, "a") && exists(&v, "a.b") && !exists(&v, "b"));
    }

    #[test]
    fn closest_finds_typos_and_misplaced_leaves() {
        let v = json!({"phase2": {"lr_backbone": 1, "lr_head": 1}, "loss": {"label_smoothing": 0}});
        assert_eq!(
            closest(&v, "phase2.lr_bakbone", 1),
            vec!["phase2.lr_backbone"]
        );
        assert_eq!(
            closest(&v, "label_smoothing", 1),
            vec!["loss.label_smoothing"]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn nested_parameters_are_refused() {
        assert!(check_no_overlap(["data", "data.train"].into_iter()).is_err());
        assert!(check_no_overlap(["data.train", "data.train_x"].into_iter()).is_ok());
    }
}
