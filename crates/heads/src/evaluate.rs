//! Scoring a table written by `predict` (one file, a merged one, or the parts of a dataset directory) against the
//! label columns it carries, per target of the head, with the definitions of `finetune` and `predict`. This is how
//! sharded predictions of a labelled table get whole-table metrics (each `predict --shard` scores its own rows only).
//!
//! Streams the table one row group at a time; what it keeps is one prediction and one label per valid, labelled
//! row. Rows with `valid = false` (no prediction) and rows without a label are left out and counted
//! ([`Coverage`]); rows of the head's own training data are counted when the head recorded them ([`Overlap`]).

use std::path::{Path, PathBuf};

use biotorch_io::dataset::RowGroups;
use biotorch_io::polars::prelude::*;

use crate::calibration::{reliability, Bin, IntervalScores, ECE_BINS};
use crate::error::{bad_input, Result};
use crate::score::{Collected, Coverage, Scores};
use crate::seen::{Overlap, TrainingRows};
use crate::spec::{HeadSpec, TargetSpec, Task};

/// One target's result.
#[derive(Debug, Clone)]
pub struct TargetEvaluation {
    /// The target as the head names it.
    pub spec: TargetSpec,
    /// `None` when no valid row has a label for it.
    pub scores: Option<Scores>,
    /// Rows scored and left out.
    pub coverage: Coverage,
    /// Regression predictions with conformal intervals (`<target>_lo`, `<target>_hi`): their coverage of the labels
    /// and mean width.
    pub intervals: Option<IntervalScores>,
    /// Classification: the reliability diagram of the labelled rows' probabilities
    /// ([`crate::calibration::reliability`], [`ECE_BINS`] bins); empty otherwise.
    pub reliability: Vec<Bin>,
}

/// What [`evaluate`] found.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Rows read, and of them rows with a prediction.
    pub rows: u64,
    pub valid: u64,
    pub targets: Vec<TargetEvaluation>,
    /// Valid rows that were in the head's training data; `None` when the head did not record its rows or the table
    /// lacks the input's sequences.
    pub overlap: Option<Overlap>,
}

/// Scores `files` (a predictions table, or the parts of one; `shown` names it in messages) written with the head in
/// `head_dir`.
pub fn evaluate(files: &[PathBuf], shown: &Path, head_dir: &Path, spec: &HeadSpec) -> Result<Evaluation> {
    // Regression: `<target>_pred`; classification: `<target>_prob_<class>` for every class, in the head's order.
    let columns: Vec<Vec<String>> = spec
        .targets
        .iter()
        .map(|t| match t.task {
            Task::Regression => vec![t.pred_column()],
            Task::Classification => t.prob_columns(),
        })
        .collect();
    let mut collected: Vec<Collected> = spec.targets.iter().map(|_| Collected::default()).collect();
    let (mut rows, mut valid) = (0u64, 0u64);
    // The input's sequences, when the table kept them (predict passes the input's columns through, renamed
    // `input_` on a clash).
    let training = TrainingRows::load(head_dir, spec.training_rows.as_deref())?;
    let mut overlap: Option<Overlap> = None;
    for file in files {
        let (mut groups, schema) = RowGroups::open(file)?;
        let show = if files.len() > 1 { file.display().to_string() } else { shown.display().to_string() };
        let mut needed = vec!["valid".to_string()];
        for (t, c) in spec.targets.iter().zip(&columns) {
            needed.push(t.name.clone());
            needed.extend(c.iter().cloned());
        }
        if let Some(missing) = needed.iter().find(|c| schema.get(c.as_str()).is_none()) {
            if spec.targets.iter().any(|t| &t.name == missing) {
                bad_input!(
                    "{show}: no column `{missing}`, the head's target: nothing to score the predictions against \
                     (predict a table that holds the labels)"
                );
            }
            bad_input!(
                "{show}: no column `{missing}`: not a table that `biotorch predict` wrote with the head {} (its \
                 columns: {})",
                head_dir.display(),
                schema.iter_names().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        let sequences = [spec.sequence_column.clone(), format!("input_{}", spec.sequence_column), "sequence".into()]
            .into_iter()
            .find(|c| schema.get(c.as_str()) == Some(&DataType::String));
        while let Some(df) = groups.next_group()? {
            rows += df.height() as u64;
            let ok: Vec<bool> = df.column("valid")?.bool()?.iter().map(|v| v == Some(true)).collect();
            valid += ok.iter().filter(|&&v| v).count() as u64;
            if let (Some(training), Some(column)) = (&training, &sequences) {
                let texts: Vec<String> = texts(&df, column)?
                    .into_iter()
                    .zip(&ok)
                    .filter(|(_, &v)| v)
                    .map(|(t, _)| t.unwrap_or_default())
                    .collect();
                let counts = overlap.get_or_insert_with(Overlap::default);
                training.flags(spec.backbone.modality, &texts).into_iter().for_each(|seen| counts.add(seen));
            }
            for ((t, c), collected) in spec.targets.iter().zip(&columns).zip(&mut collected) {
                ok.iter().filter(|&&v| !v).for_each(|_| collected.push_unreadable());
                let labels = texts(&df, &t.name)?;
                let values: Vec<Vec<f64>> = c.iter().map(|c| floats(&df, c)).collect::<Result<_>>()?;
                let [lo, hi] = t.interval_columns();
                let intervals = match (schema.get(lo.as_str()), schema.get(hi.as_str())) {
                    (Some(_), Some(_)) if t.task == Task::Regression => Some((floats(&df, &lo)?, floats(&df, &hi)?)),
                    _ => None,
                };
                for (i, _) in ok.iter().enumerate().filter(|(_, &v)| v) {
                    let label = labels[i].as_deref();
                    match t.task {
                        Task::Regression => match &intervals {
                            Some((lo, hi)) => collected.push_interval(t, values[0][i], (lo[i], hi[i]), label),
                            None => collected.push_value(t, values[0][i], label),
                        },
                        Task::Classification => collected.push_probs(t, values.iter().map(|v| v[i]).collect(), label),
                    }
                }
            }
        }
    }
    let targets = spec
        .targets
        .iter()
        .zip(&collected)
        .map(|(t, c)| TargetEvaluation {
            spec: t.clone(),
            scores: c.score(t),
            coverage: c.coverage(),
            intervals: c.interval_scores(),
            reliability: match t.task {
                Task::Classification => {
                    let (probs, truth) = c.labelled_probs();
                    if truth.is_empty() {
                        Vec::new()
                    } else {
                        reliability(&probs, &truth, ECE_BINS)
                    }
                }
                Task::Regression => Vec::new(),
            },
        })
        .collect();
    Ok(Evaluation { rows, valid, targets, overlap })
}

/// A column as `f64` values (nulls as NaN).
fn floats(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// A column as text (labels pass through `predict` as text; a numeric column is printed).
fn texts(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|v| v.map(str::to_string)).collect())
}
