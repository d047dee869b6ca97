//! Labels as they come in a table (text): what counts as missing, the task a target column implies, and the value
//! or class index of one cell.

use crate::error::{bad_input, Result};
use crate::spec::{TargetSpec, Task};

/// The task asked for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskChoice {
    /// Classification for text labels or at most 10 distinct integers, regression otherwise.
    #[default]
    Auto,
    Regression,
    Classification,
}

/// Whether a cell means "no label": empty, or NA, NaN, null, none, n/a (any case, surrounding spaces ignored).
pub fn is_missing(v: Option<&str>) -> bool {
    match v.map(str::trim) {
        None => true,
        Some(s) => s.is_empty() || ["na", "nan", "null", "none", "n/a"].contains(&s.to_ascii_lowercase().as_str()),
    }
}

/// Parses a label of `spec` (regression: the number; classification: the class index, a numeric class matching
/// by value so that `1.0` is class `1`); `None` when missing, not a finite number, or an unknown class.
pub fn parse_label(spec: &TargetSpec, v: Option<&str>) -> Option<f64> {
    if is_missing(v) {
        return None;
    }
    let v = v.map(str::trim).unwrap_or_default();
    match spec.task {
        Task::Regression => v.parse::<f64>().ok().filter(|x| x.is_finite()),
        Task::Classification => spec.classes.iter().position(|c| c == v || same_number(c, v)).map(|i| i as f64),
    }
}

fn same_number(a: &str, b: &str) -> bool {
    matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
}

/// Decides a target's task from its (non-missing, trimmed) `values` and, for classes, their names (numeric classes
/// sorted by value, others by name). `offset` is 0 and `width` the number of outputs; means are set later.
pub fn infer_target(name: &str, values: &[&str], task: TaskChoice) -> Result<TargetSpec> {
    let numbers: Vec<Option<f64>> = values.iter().map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite())).collect();
    let all_numeric = numbers.iter().all(Option::is_some);
    let task = match task {
        TaskChoice::Regression => {
            if let Some(i) = numbers.iter().position(Option::is_none) {
                bad_input!(
                    "--target {name}: '{}' is not a number (use --task classification for class labels)",
                    values[i]
                );
            }
            Task::Regression
        }
        TaskChoice::Classification => Task::Classification,
        TaskChoice::Auto => {
            let mut distinct: Vec<f64> = numbers.iter().flatten().copied().collect();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            if all_numeric && !(distinct.len() <= 10 && distinct.iter().all(|x| x.fract() == 0.0)) {
                Task::Regression
            } else {
                Task::Classification
            }
        }
    };
    let mut spec = TargetSpec {
        name: name.to_string(),
        task,
        mean: None,
        std: None,
        classes: Vec::new(),
        offset: 0,
        width: 1,
        conformal_scores: Vec::new(),
        temperature: None,
    };
    if task == Task::Classification {
        let mut classes: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        if all_numeric {
            classes.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
            classes.dedup_by(|a, b| same_number(a, b));
        } else {
            classes.sort();
            classes.dedup();
        }
        if classes.len() < 2 {
            bad_input!("--target {name}: only one class ({}) in the data", classes.join(", "));
        }
        spec.width = classes.len();
        spec.classes = classes;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_inference_numbers_integers_and_text() {
        let reg = infer_target("y", &["1.5", "2", "-3e-1"], TaskChoice::Auto).unwrap();
        assert_eq!((reg.task, reg.width), (Task::Regression, 1));
        // Eleven distinct integers are a quantity, ten or fewer are classes (sorted by value, 1.0 = 1).
        let many: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(infer_target("y", &many, TaskChoice::Auto).unwrap().task, Task::Regression);
        let few = infer_target("y", &["10", "2", "1", "2.0", "1.0"], TaskChoice::Auto).unwrap();
        assert_eq!(
            (few.task, few.classes.clone(), few.width),
            (Task::Classification, vec!["1".into(), "2".into(), "10".into()], 3)
        );
        let text = infer_target("y", &["b", "a", "b"], TaskChoice::Auto).unwrap();
        assert_eq!(text.classes, ["a", "b"]);
        assert_eq!(infer_target("y", &["1.5", "2.5"], TaskChoice::Classification).unwrap().width, 2);
    }

    #[test]
    fn task_inference_refuses_with_the_cli_messages() {
        let e = infer_target("y", &["1", "x"], TaskChoice::Regression).unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), "--target y: 'x' is not a number (use --task classification for class labels)");
        let e = infer_target("y", &["a", "a"], TaskChoice::Auto).unwrap_err();
        assert_eq!(e.to_string(), "--target y: only one class (a) in the data");
    }

    #[test]
    fn labels_missing_values_and_numeric_classes() {
        for v in [None, Some(""), Some(" NA "), Some("nan"), Some("NULL"), Some("None"), Some("n/a")] {
            assert!(is_missing(v), "{v:?}");
        }
        assert!(!is_missing(Some("0")));
        let reg = infer_target("y", &["1", "2.5"], TaskChoice::Regression).unwrap();
        assert_eq!(parse_label(&reg, Some(" 2.5 ")), Some(2.5));
        assert_eq!(parse_label(&reg, Some("inf")), None);
        assert_eq!(parse_label(&reg, Some("NA")), None);
        let cls = infer_target("y", &["0", "1"], TaskChoice::Auto).unwrap();
        assert_eq!(parse_label(&cls, Some("1.0")), Some(1.0));
        assert_eq!(parse_label(&cls, Some("0")), Some(0.0));
        assert_eq!(parse_label(&cls, Some("2")), None);
    }
}
