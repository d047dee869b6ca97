//! The rows an experiment trains on: target specs, tokenized usable rows, folds and labels.

use std::collections::BTreeMap;

use crate::encoder::{Backbone, Prepared};
use crate::error::{bad_input, Result};
use crate::head::{self, Labels};
use crate::label::{infer_target, is_missing, parse_label, TaskChoice};
use crate::spec::{TargetSpec, Task};
use crate::split;

use super::{Event, FoldSizes, Request, Settings, SplitChoice, Table};

/// One fold: train / valid / test positions (into the usable rows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fold {
    pub(crate) train: Vec<usize>,
    pub(crate) valid: Vec<usize>,
    pub(crate) test: Vec<usize>,
    /// With `--conformal`: rows held out of training and early stopping, whose residuals calibrate the intervals.
    pub(crate) calibration: Vec<usize>,
}

impl Fold {
    /// The rows the fold's models are scored on: its test rows, or its validation rows without test rows.
    pub(crate) fn eval(&self) -> &[usize] {
        if self.test.is_empty() {
            &self.valid
        } else {
            &self.test
        }
    }

    pub(crate) fn sizes(&self) -> FoldSizes {
        FoldSizes {
            train: self.train.len(),
            valid: self.valid.len(),
            test: self.test.len(),
            calibration: self.calibration.len(),
        }
    }
}

/// The data ready for training.
pub(crate) struct Setup {
    /// With means and standard deviations of regression targets, offsets and widths.
    pub(crate) targets: Vec<TargetSpec>,
    /// Every data row, prepared.
    pub(crate) prepared: Vec<Prepared>,
    /// The usable rows (valid, with a label): their table rows.
    pub(crate) rows: Vec<usize>,
    pub(crate) invalid: u64,
    pub(crate) unlabelled: usize,
    pub(crate) folds: Vec<Fold>,
    pub(crate) split: String,
    /// Per target, per usable row: the raw value or class index.
    pub(crate) raw: Vec<Vec<Option<f64>>>,
    pub(crate) labels: Labels,
    pub(crate) max_length: usize,
}

impl Setup {
    pub(crate) fn new(
        backbone: &Backbone,
        request: &Request,
        max_length: usize,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Setup> {
        let (s, data) = (&request.settings, &request.data);
        let (mut targets, columns) = targets(s, data)?;
        let prepared = crate::predict::prepare_all(backbone, &data.sequences, max_length, s.long);
        let mut invalid_reasons: BTreeMap<String, u64> = BTreeMap::new();
        let mut rows: Vec<usize> = Vec::new();
        let mut unlabelled = 0;
        for (i, p) in prepared.iter().enumerate() {
            if let Some(r) = &p.reason {
                let kind: String = r.split(" (").next().unwrap_or(r).chars().take(90).collect();
                *invalid_reasons.entry(kind).or_default() += 1;
                continue;
            }
            if columns.iter().all(|&c| is_missing(data.rows[i][c].as_deref())) {
                unlabelled += 1;
                continue;
            }
            rows.push(i);
        }
        on_event(Event::Prepared { rows: data.rows.len(), usable: rows.len(), invalid: &invalid_reasons, unlabelled });
        if rows.len() < 4 {
            bad_input!("{}: only {} usable labelled rows; a head needs more", data.name, rows.len());
        }
        let groups: Option<Vec<String>> = (s.split == SplitChoice::Scaffold)
            .then(|| rows.iter().map(|&r| prepared[r].scaffold.clone().unwrap_or_default()).collect());
        let (folds, split) = folds(s, data, &rows, groups.as_deref())?;

        // Labels (raw values and class indices) per usable row, per target.
        let raw: Vec<Vec<Option<f64>>> = targets
            .iter()
            .zip(&columns)
            .map(|(t, &c)| rows.iter().map(|&r| parse_label(t, data.rows[r][c].as_deref())).collect())
            .collect();
        standardize(&mut targets, &raw, &folds);
        let per_row: Vec<Vec<Option<f64>>> = (0..rows.len()).map(|p| raw.iter().map(|col| col[p]).collect()).collect();
        let labels = Labels::new(&per_row, &targets);
        let invalid = invalid_reasons.values().sum();
        Ok(Setup { targets, prepared, rows, invalid, unlabelled, folds, split, raw, labels, max_length })
    }

    /// The usable rows' tokens.
    pub(crate) fn tokens(&self) -> Vec<&[i64]> {
        self.rows.iter().map(|&r| self.prepared[r].tokens.as_slice()).collect()
    }

    /// The MLP's outputs over all targets.
    pub(crate) fn output_size(&self) -> i64 {
        self.targets.iter().map(|t| t.width).sum::<usize>() as i64
    }
}

/// The targets' specs (task, classes, offsets; no means yet) and their columns.
fn targets(s: &Settings, data: &Table) -> Result<(Vec<TargetSpec>, Vec<usize>)> {
    let tasks: Vec<TaskChoice> = match s.tasks.len() {
        0 => vec![TaskChoice::Auto; s.targets.len()],
        1 => vec![s.tasks[0]; s.targets.len()],
        n if n == s.targets.len() => s.tasks.clone(),
        n => bad_input!("--task has {n} values for {} targets: give one, or one per target", s.targets.len()),
    };
    let mut targets: Vec<TargetSpec> = Vec::new();
    let mut columns = Vec::new();
    for (name, task) in s.targets.iter().zip(&tasks) {
        let Some(col) = data.column(name) else {
            bad_input!("{}: no column named '{name}' (columns: {})", data.name, data.columns.join(", "));
        };
        let values: Vec<&str> = data
            .rows
            .iter()
            .filter_map(|r| r[col].as_deref())
            .filter(|v| !is_missing(Some(v)))
            .map(str::trim)
            .collect();
        if values.is_empty() {
            bad_input!("--target {name}: the column has no values");
        }
        targets.push(infer_target(name, &values, *task)?);
        columns.push(col);
    }
    let mut offset = 0;
    for t in &mut targets {
        t.offset = offset;
        offset += t.width;
    }
    Ok((targets, columns))
}

/// Splits the usable `rows` (positions `0..rows.len()`) into folds; returns them and the split in words.
pub(crate) fn folds(
    s: &Settings,
    data: &Table,
    rows: &[usize],
    groups: Option<&[String]>,
) -> Result<(Vec<Fold>, String)> {
    let positions: Vec<usize> = (0..rows.len()).collect();
    let mut folds: Vec<Fold> = Vec::new();
    let split_desc;
    if let Some(k) = s.folds {
        let parts = split::folds(&positions, groups, k, s.seed);
        for (f, test) in parts.iter().enumerate() {
            let rest: Vec<usize> =
                parts.iter().enumerate().filter(|(g, _)| *g != f).flat_map(|(_, p)| p.iter().copied()).collect();
            let (train, valid) = split::hold_out(&rest, groups, s.valid_fraction, s.seed + f as u64);
            folds.push(Fold { train, valid, test: test.clone(), calibration: Vec::new() });
        }
        split_desc = format!("{k}-fold cross-validation ({})", if groups.is_some() { "by scaffold" } else { "random" });
    } else {
        let split = match s.split {
            SplitChoice::Random => split::random(&positions, s.valid_fraction, s.test_fraction, s.seed),
            SplitChoice::Scaffold => {
                split::grouped(&positions, groups.expect("scaffolds"), s.valid_fraction, s.test_fraction, s.seed)
            }
            SplitChoice::Column => column_split(s, data, rows)?,
        };
        split_desc = match s.split {
            SplitChoice::Random => "random".to_string(),
            SplitChoice::Scaffold => "scaffold".to_string(),
            SplitChoice::Column => format!("given by column '{}'", s.split_column),
        };
        let (train, calibration) = if s.conformal {
            split::hold_out_calibration(&split.train, groups, s.calibration_fraction, s.seed)
        } else {
            (split.train, Vec::new())
        };
        folds.push(Fold { train, valid: split.valid, test: split.test, calibration });
    }
    if folds.iter().any(|f| f.train.is_empty()) {
        bad_input!("the split leaves no training rows");
    }
    Ok((folds, split_desc))
}

/// The split a column gives (train / valid / test and their synonyms); without valid rows, a fraction of train is
/// held out.
fn column_split(s: &Settings, data: &Table, rows: &[usize]) -> Result<split::Split> {
    let Some(col) = data.column(&s.split_column) else {
        bad_input!("--split column: {} has no column '{}' (--split-column)", data.name, s.split_column);
    };
    let mut split = split::Split::default();
    for (pos, &r) in rows.iter().enumerate() {
        match data.rows[r][col].as_deref().map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("train" | "training") => split.train.push(pos),
            Some("valid" | "validation" | "val" | "dev") => split.valid.push(pos),
            Some("test" | "testing") => split.test.push(pos),
            other => bad_input!(
                "{}:{}: split column '{}' holds {:?}: use train, valid or test",
                data.name,
                data.lines[r],
                s.split_column,
                other.unwrap_or("")
            ),
        }
    }
    if split.valid.is_empty() {
        let (train, valid) = split::hold_out(&split.train, None, s.valid_fraction, s.seed);
        split.train = train;
        split.valid = valid;
    }
    Ok(split)
}

/// Sets each regression target's mean and standard deviation: over the training rows (k folds: over every row,
/// so that the fold models share them).
fn standardize(targets: &mut [TargetSpec], raw: &[Vec<Option<f64>>], folds: &[Fold]) {
    for (t, spec) in targets.iter_mut().enumerate() {
        if spec.task == Task::Regression {
            let source: Vec<usize> =
                if folds.len() == 1 { folds[0].train.clone() } else { (0..raw[t].len()).collect() };
            let vals: Vec<f64> = source.iter().filter_map(|&p| raw[t][p]).collect();
            let (mean, std) = head::mean_std(&vals);
            spec.mean = Some(mean);
            spec.std = Some(if std > 0.0 { std } else { 1.0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: usize, split: impl Fn(usize) -> &'static str) -> Table {
        Table {
            name: "t.csv".into(),
            columns: vec!["sequence".into(), "y".into(), "split".into()],
            rows: (0..n).map(|i| vec![Some("MKT".into()), Some(i.to_string()), Some(split(i).into())]).collect(),
            sequences: vec!["MKT".into(); n],
            lines: (0..n as u64).map(|i| i + 2).collect(),
        }
    }

    #[test]
    fn k_folds_test_every_row_exactly_once() {
        let data = table(23, |_| "train");
        let rows: Vec<usize> = (0..23).collect();
        let s = Settings { folds: Some(4), seed: 3, ..Settings::default() };
        let (folds, desc) = folds(&s, &data, &rows, None).unwrap();
        assert_eq!(desc, "4-fold cross-validation (random)");
        let mut tested: Vec<usize> = folds.iter().flat_map(|f| f.test.iter().copied()).collect();
        tested.sort_unstable();
        assert_eq!(tested, rows);
        for f in &folds {
            // Within a fold, train / valid / test are disjoint and cover every row.
            let mut all: Vec<usize> = f.train.iter().chain(&f.valid).chain(&f.test).copied().collect();
            all.sort_unstable();
            assert_eq!(all, rows);
            assert!(!f.valid.is_empty() && f.eval() == f.test.as_slice());
        }
    }

    #[test]
    fn conformal_calibration_rows_come_out_of_the_training_rows() {
        let data = table(200, |i| if i % 5 == 0 { "test" } else { "train" });
        let rows: Vec<usize> = (0..200).collect();
        let s = Settings { split: SplitChoice::Column, ..Settings::default() };
        let (plain, _) = folds(&s, &data, &rows, None).unwrap();
        let s = Settings { conformal: true, calibration_fraction: 0.25, ..s };
        let (with, _) = folds(&s, &data, &rows, None).unwrap();
        let (p, w) = (&plain[0], &with[0]);
        // The test and validation rows stay; a quarter of the rest is held out for calibration.
        assert_eq!((&w.test, &w.valid), (&p.test, &p.valid));
        assert_eq!(w.calibration.len(), (p.train.len() as f64 * 0.25).round() as usize);
        let mut back: Vec<usize> = w.train.iter().chain(&w.calibration).copied().collect();
        back.sort_unstable();
        assert_eq!(back, p.train);
        assert!(w.calibration.iter().all(|c| !w.train.contains(c)));
    }

    #[test]
    fn a_split_column_assigns_rows_and_refuses_other_values() {
        let data = table(10, |i| ["train", "Validation", "test", "training"][i % 4]);
        let rows: Vec<usize> = (0..10).collect();
        let s = Settings { split: SplitChoice::Column, ..Settings::default() };
        let (folds, desc) = folds(&s, &data, &rows, None).unwrap();
        assert_eq!(desc, "given by column 'split'");
        assert_eq!(folds[0].sizes(), FoldSizes { train: 5, valid: 3, test: 2, calibration: 0 });

        let bad = table(6, |i| if i == 4 { "holdout" } else { "train" });
        let e = super::folds(&s, &bad, &rows[..6], None).unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), "t.csv:6: split column 'split' holds \"holdout\": use train, valid or test");
        let s = Settings { split: SplitChoice::Column, split_column: "fold".into(), ..Settings::default() };
        let e = super::folds(&s, &data, &rows, None).unwrap_err();
        assert_eq!(e.to_string(), "--split column: t.csv has no column 'fold' (--split-column)");
        let only_test = table(6, |_| "test");
        let s = Settings { split: SplitChoice::Column, ..Settings::default() };
        assert_eq!(
            super::folds(&s, &only_test, &rows[..6], None).unwrap_err().to_string(),
            "the split leaves no training rows"
        );
    }

    #[test]
    fn targets_need_their_columns_and_values() {
        let data = table(8, |_| "train");
        let s = Settings { targets: vec!["nope".into()], ..Settings::default() };
        let e = targets(&s, &data).unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), "t.csv: no column named 'nope' (columns: sequence, y, split)");
        let s = Settings { targets: vec!["y".into()], tasks: vec![TaskChoice::Auto; 2], ..Settings::default() };
        assert_eq!(
            targets(&s, &data).unwrap_err().to_string(),
            "--task has 2 values for 1 targets: give one, or one per target"
        );
        // 0..7 are eight distinct integers: classes; two targets get consecutive outputs.
        let s = Settings { targets: vec!["y".into(), "split".into()], ..Settings::default() };
        let e = targets(&s, &data).unwrap_err();
        assert_eq!(e.to_string(), "--target split: only one class (train) in the data");
        let s = Settings { targets: vec!["y".into(), "y".into()], ..Settings::default() };
        let (specs, cols) = targets(&s, &data).unwrap();
        assert_eq!((specs[1].offset, specs[1].width, cols), (8, 8, vec![1, 1]));
    }
}
