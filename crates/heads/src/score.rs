//! Scoring predictions against labels, as `finetune` (held-out rows), `predict` (an input that holds the target)
//! and `evaluate` (a predictions table) all do it, and the text table of metrics they show.

use serde_json::Value;

use crate::calibration::{interval_scores, IntervalScores};
use crate::head::TargetPrediction;
use crate::label::parse_label;
use crate::metrics::{self, ClassificationMetrics, RegressionMetrics};
use crate::spec::{TargetSpec, Task};

/// Held-out metrics of one model on one target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scores {
    Regression(RegressionMetrics),
    Classification(ClassificationMetrics),
}

impl Scores {
    /// The metrics as JSON (`{"n": .., "rmse": .., ..}`), as metrics.json and the summaries hold them.
    pub fn json(&self) -> Value {
        match self {
            Scores::Regression(m) => serde_json::to_value(m).unwrap_or_default(),
            Scores::Classification(m) => serde_json::to_value(m).unwrap_or_default(),
        }
    }
}

/// Scores predictions against labels: `pred`'s row `i` is the row `rows[i]` of `labels` (raw values, or class
/// indices); rows without a label are skipped. `None` without labelled rows.
pub fn score(spec: &TargetSpec, pred: &TargetPrediction, rows: &[usize], labels: &[Option<f64>]) -> Option<Scores> {
    let have: Vec<usize> = (0..rows.len()).filter(|&i| labels[rows[i]].is_some()).collect();
    if have.is_empty() {
        return None;
    }
    Some(match spec.task {
        Task::Regression => {
            let p: Vec<f64> = have.iter().map(|&i| pred.values[i]).collect();
            let t: Vec<f64> = have.iter().map(|&i| labels[rows[i]].expect("labelled")).collect();
            Scores::Regression(metrics::regression(&p, &t))
        }
        Task::Classification => {
            let p: Vec<Vec<f64>> = have.iter().map(|&i| pred.probs[i].clone()).collect();
            let t: Vec<usize> = have.iter().map(|&i| labels[rows[i]].expect("labelled") as usize).collect();
            Scores::Classification(metrics::classification(&p, &t, spec.width))
        }
    })
}

/// How many rows a score covers, and how many were left out and why: metrics state these next to the number
/// scored, so that a metric over 90 of 1,000 rows is not read as one over all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Rows scored (valid, with a label; in `finetune`, the held-out ones).
    pub scored: usize,
    /// Rows left out because the model could not read them: an invalid SMILES, letters outside the alphabet,
    /// tokens the model lacks.
    pub unreadable: u64,
    /// Rows left out because they have no label for the target.
    pub unlabelled: u64,
}

impl Coverage {
    /// `scored 241 rows; left out 3 unreadable rows (invalid SMILES or letters) and 2 without a label`.
    pub fn message(&self) -> String {
        let mut out = format!("scored {} row{}", self.scored, if self.scored == 1 { "" } else { "s" });
        let mut left: Vec<String> = Vec::new();
        if self.unreadable > 0 {
            let s = if self.unreadable == 1 { "" } else { "s" };
            left.push(format!("{} unreadable row{s} (invalid SMILES or letters)", self.unreadable));
        }
        if self.unlabelled > 0 {
            left.push(format!("{} without a label", self.unlabelled));
        }
        if !left.is_empty() {
            out += &format!("; left out {}", left.join(" and "));
        }
        out
    }

    /// `{"scored": .., "unreadable": .., "unlabelled": ..}`, next to the metrics in JSON files.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Predictions of one target and the labels of the same rows, gathered row by row (a predictions table read in
/// row groups, a stream of chunks), then scored at once. Rows the model could not read are counted with
/// [`Collected::push_unreadable`], so that [`Collected::coverage`] can say what was left out.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pred: TargetPrediction,
    labels: Vec<Option<f64>>,
    /// Regression: each row's interval, when the predictions carry them.
    intervals: Vec<(f64, f64)>,
    unreadable: u64,
}

impl Collected {
    /// Adds a regression prediction and the row's label as text (parsed with [`parse_label`]).
    pub fn push_value(&mut self, spec: &TargetSpec, value: f64, label: Option<&str>) {
        self.pred.values.push(value);
        self.labels.push(parse_label(spec, label));
    }

    /// Adds a regression prediction with its interval `(lo, hi)` and the row's label.
    pub fn push_interval(&mut self, spec: &TargetSpec, value: f64, interval: (f64, f64), label: Option<&str>) {
        self.intervals.push(interval);
        self.push_value(spec, value, label);
    }

    /// The intervals' coverage of the labels and their mean width, over the labelled rows (`None` when no row has
    /// both an interval and a label, or only some rows came with an interval).
    pub fn interval_scores(&self) -> Option<IntervalScores> {
        if self.intervals.len() != self.labels.len() {
            return None;
        }
        let (mut lo, mut hi, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        for (&(l, h), y) in self.intervals.iter().zip(&self.labels) {
            if let Some(y) = y {
                lo.push(l);
                hi.push(h);
                truth.push(*y);
            }
        }
        interval_scores(&lo, &hi, &truth)
    }

    /// Classification: the class probabilities and classes of the rows that have a label.
    pub fn labelled_probs(&self) -> (Vec<Vec<f64>>, Vec<usize>) {
        self.pred.probs.iter().zip(&self.labels).filter_map(|(p, l)| Some((p.clone(), (*l)? as usize))).unzip()
    }

    /// Adds a classification prediction (the class probabilities in the head's order) and the row's label.
    pub fn push_probs(&mut self, spec: &TargetSpec, probs: Vec<f64>, label: Option<&str>) {
        self.pred.probs.push(probs);
        self.labels.push(parse_label(spec, label));
    }

    /// Counts a row without a prediction (the model could not read it).
    pub fn push_unreadable(&mut self) {
        self.unreadable += 1;
    }

    /// The rows scored and left out so far.
    pub fn coverage(&self) -> Coverage {
        let scored = self.labels.iter().filter(|l| l.is_some()).count();
        Coverage { scored, unreadable: self.unreadable, unlabelled: (self.labels.len() - scored) as u64 }
    }

    /// Rows gathered so far (with a prediction).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The metrics over the rows that have a label; `None` when none has.
    pub fn score(&self, spec: &TargetSpec) -> Option<Scores> {
        let positions: Vec<usize> = (0..self.labels.len()).collect();
        score(spec, &self.pred, &positions, &self.labels)
    }
}

/// A metrics table, one line per model (`name`, scores), under `title`: the text `finetune`, `predict` and
/// `evaluate` print, ending in a newline.
pub fn format_table(title: &str, task: Task, rows: &[(String, Scores)]) -> String {
    let header = match task {
        Task::Regression => ["RMSE", "MAE", "R2", "Spearman"],
        Task::Classification => ["AUROC", "AUPRC", "accuracy", "F1"],
    };
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
    let mut out = format!("{title}\n");
    out += &format!(
        "  {:width$}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}\n",
        "model", "n", header[0], header[1], header[2], header[3]
    );
    for (name, s) in rows {
        let (n, v) = match s {
            Scores::Regression(m) => (m.n, [m.rmse, m.mae, m.r2, m.spearman]),
            Scores::Classification(m) => (m.n, [m.auroc, m.auprc, m.accuracy, m.f1]),
        };
        out += &format!("  {name:width$}  {n:>6}  {:>9.4}  {:>9.4}  {:>9.4}  {:>9.4}\n", v[0], v[1], v[2], v[3]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::{infer_target, TaskChoice};

    #[test]
    fn unlabelled_rows_are_skipped_and_classes_match_by_value() {
        let reg = infer_target("y", &["1", "2.5"], TaskChoice::Regression).unwrap();
        let mut c = Collected::default();
        for (p, l) in [(1.0, Some("1")), (5.0, None), (3.0, Some("3")), (9.0, Some("NA"))] {
            c.push_value(&reg, p, l);
        }
        assert_eq!(c.len(), 4);
        let Some(Scores::Regression(m)) = c.score(&reg) else { panic!("regression scores") };
        assert_eq!((m.n, m.rmse), (2, 0.0));

        let cls = infer_target("y", &["0", "1"], TaskChoice::Auto).unwrap();
        let mut c = Collected::default();
        c.push_probs(&cls, vec![0.9, 0.1], Some("0.0"));
        c.push_probs(&cls, vec![0.2, 0.8], Some("1"));
        c.push_probs(&cls, vec![0.5, 0.5], None);
        let Some(Scores::Classification(m)) = c.score(&cls) else { panic!("classification scores") };
        assert_eq!((m.n, m.accuracy, m.auroc), (2, 1.0, 1.0));
        assert_eq!(c.labelled_probs(), (vec![vec![0.9, 0.1], vec![0.2, 0.8]], vec![0, 1]));
        assert!(Collected::default().score(&cls).is_none());
    }

    #[test]
    fn coverage_counts_what_was_left_out_next_to_what_was_scored() {
        let reg = infer_target("y", &["1", "2.5"], TaskChoice::Regression).unwrap();
        let mut c = Collected::default();
        for (p, l) in [(1.0, Some("1")), (5.0, None), (3.0, Some("3"))] {
            c.push_value(&reg, p, l);
        }
        c.push_unreadable();
        let cov = c.coverage();
        assert_eq!(cov, Coverage { scored: 2, unreadable: 1, unlabelled: 1 });
        let Some(Scores::Regression(m)) = c.score(&reg) else { panic!("regression scores") };
        assert_eq!(m.n, cov.scored);
        assert_eq!(
            cov.message(),
            "scored 2 rows; left out 1 unreadable row (invalid SMILES or letters) and 1 without a label"
        );
        assert_eq!(cov.json(), serde_json::json!({"scored": 2, "unreadable": 1, "unlabelled": 1}));
        assert!(c.interval_scores().is_none(), "no intervals were given");

        let mut c = Collected::default();
        for (p, l) in [(1.0, Some("1.2")), (5.0, None), (3.0, Some("4"))] {
            c.push_interval(&reg, p, (p - 0.5, p + 0.5), l);
        }
        let i = c.interval_scores().unwrap();
        assert_eq!((i.n, i.coverage, i.mean_width), (2, 0.5, 1.0));
        assert_eq!(Coverage { scored: 5, ..Coverage::default() }.message(), "scored 5 rows");
    }

    #[test]
    fn the_table_has_a_header_and_a_line_per_model() {
        let m = metrics::regression(&[1.0, 2.0], &[1.0, 2.0]);
        let text =
            format_table("y (regression), test rows:", Task::Regression, &[("head".into(), Scores::Regression(m))]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "y (regression), test rows:");
        assert!(lines[1].contains("RMSE") && lines[1].contains("Spearman"));
        assert!(lines[2].starts_with("  head ") && lines[2].contains("0.0000"));
    }
}
