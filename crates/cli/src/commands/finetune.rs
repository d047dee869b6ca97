//! `biotorch finetune`: a property-prediction head on a backbone (biotorch-heads). Reads a labelled table, turns
//! each row's sequence or SMILES into tokens (invalid rows are counted and left out), splits the rows (random,
//! scaffold, a split column, or k folds), trains an MLP on the pooled embeddings (frozen encoder: embeddings
//! computed once) or together with the encoder (full fine-tuning), with early stopping on validation and an
//! ensemble of seeds; then reports held-out metrics next to trivial and (with `--baseline`) ridge baselines,
//! draws predicted-vs-measured and ROC plots, and saves `head.safetensors` + `head.json` (+ fine-tuned encoders).

mod plots;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_heads::fit::{self, FitOptions, FitReport};
use biotorch_heads::head::{self, Labels, Mlp, TargetPrediction};
use biotorch_heads::metrics::{self, ClassificationMetrics, RegressionMetrics};
use biotorch_heads::spec::{BackboneRef, HeadSpec, TargetSpec, Task, FORMAT, HEAD_JSON, HEAD_WEIGHTS};
use biotorch_heads::{baseline, encoder, split, Backbone, Modality, Prepared};
use biotorch_io::{SmilesOptions, SmilesReader};
use rayon::prelude::*;
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

use super::Ctx;
use crate::cli::{FinetuneArgs, FinetuneMode, LongPolicy, SplitArg, TaskArg};
use crate::exit::bad_input;

/// A table read whole: column names, every row's fields (as text) and the sequence column's values.
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
    pub(crate) sequences: Vec<String>,
    /// 1-based line of each row in the file (0 for Parquet).
    pub(crate) lines: Vec<u64>,
}

impl Table {
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Opens a CSV/TSV/Parquet table (maybe gzipped) with `sequence_column` for streaming: the reader yields one
    /// record per row (`smiles` holds the sequence column's value, `fields` the whole row). CSV/TSV is read row by
    /// row and Parquet in slices of rows, so memory does not grow with the table.
    pub(crate) fn open(path: &Path, sequence_column: &str) -> Result<SmilesReader> {
        let options = SmilesOptions { smiles_column: Some(sequence_column.to_string()), ..SmilesOptions::default() };
        let reader = SmilesReader::open(path, &options).map_err(|e| {
            crate::exit::BadInput(format!(
                "{e} (the sequences or SMILES are read from --sequence-column, default: sequence or smiles)"
            ))
        })?;
        if reader.columns().is_empty() {
            bad_input!("{}: expected a table with a header (.csv, .tsv, .parquet)", path.display());
        }
        Ok(reader)
    }

    /// Reads a whole CSV/TSV/Parquet table (maybe gzipped) with `sequence_column` (see [`Table::open`]).
    pub(crate) fn read(path: &Path, sequence_column: &str) -> Result<Table> {
        let reader = Table::open(path, sequence_column)?;
        let columns = reader.columns().to_vec();
        let (mut rows, mut sequences, mut lines) = (Vec::new(), Vec::new(), Vec::new());
        for record in reader {
            let record = record?;
            sequences.push(record.smiles);
            lines.push(record.line);
            rows.push(record.fields);
        }
        Ok(Table { columns, rows, sequences, lines })
    }
}

/// The default sequence column for a modality.
pub(crate) fn default_sequence_column(modality: Modality) -> &'static str {
    match modality {
        Modality::Molecule => "smiles",
        Modality::Protein | Modality::Dna => "sequence",
    }
}

/// Prepares every row on all cores.
pub(crate) fn prepare_all(
    backbone: &Backbone,
    texts: &[String],
    max_length: usize,
    long: encoder::LongPolicy,
) -> Vec<Prepared> {
    let tokenizer = backbone.tokenizer.as_ref();
    let modality = backbone.modality;
    texts.par_iter().map(|t| encoder::prepare(tokenizer, modality, t, max_length, long)).collect()
}

pub(crate) fn long_policy(l: LongPolicy) -> encoder::LongPolicy {
    match l {
        LongPolicy::Truncate => encoder::LongPolicy::Truncate,
        LongPolicy::Window => encoder::LongPolicy::Window,
    }
}

/// A value that means "no label".
pub(crate) fn is_missing(v: Option<&str>) -> bool {
    match v.map(str::trim) {
        None => true,
        Some(s) => s.is_empty() || ["na", "nan", "null", "none", "n/a"].contains(&s.to_ascii_lowercase().as_str()),
    }
}

/// Parses a label of `spec` (regression: the number; classification: the class index; `None` when missing or an
/// unknown class).
pub(crate) fn parse_label(spec: &TargetSpec, v: Option<&str>) -> Option<f64> {
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

/// Decides a target's task and, for classes, their names (numeric classes sorted by value, others by name).
fn target_spec(name: &str, values: &[&str], task: TaskArg) -> Result<TargetSpec> {
    let numbers: Vec<Option<f64>> = values.iter().map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite())).collect();
    let all_numeric = numbers.iter().all(Option::is_some);
    let task = match task {
        TaskArg::Regression => {
            if let Some(i) = numbers.iter().position(Option::is_none) {
                bad_input!(
                    "--target {name}: '{}' is not a number (use --task classification for class labels)",
                    values[i]
                );
            }
            Task::Regression
        }
        TaskArg::Classification => Task::Classification,
        TaskArg::Auto => {
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
    let mut spec =
        TargetSpec { name: name.to_string(), task, mean: None, std: None, classes: Vec::new(), offset: 0, width: 1 };
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

/// Held-out metrics of one model on one target.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scores {
    Regression(RegressionMetrics),
    Classification(ClassificationMetrics),
}

impl Scores {
    pub(crate) fn json(&self) -> Value {
        match self {
            Scores::Regression(m) => serde_json::to_value(m).unwrap_or_default(),
            Scores::Classification(m) => serde_json::to_value(m).unwrap_or_default(),
        }
    }
}

/// Scores predictions against labels (rows without a label are skipped); `None` without labelled rows.
pub(crate) fn score(
    spec: &TargetSpec,
    pred: &TargetPrediction,
    rows: &[usize],
    labels: &[Option<f64>],
) -> Option<Scores> {
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

/// Prints a metrics table: one row per model.
pub(crate) fn print_table(ctx: &Ctx, title: &str, task: Task, rows: &[(String, Scores)]) {
    if ctx.global.quiet {
        return;
    }
    let header = match task {
        Task::Regression => ["RMSE", "MAE", "R2", "Spearman"],
        Task::Classification => ["AUROC", "AUPRC", "accuracy", "F1"],
    };
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
    println!("{title}");
    println!(
        "  {:width$}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}",
        "model", "n", header[0], header[1], header[2], header[3]
    );
    for (name, s) in rows {
        let (n, v) = match s {
            Scores::Regression(m) => (m.n, [m.rmse, m.mae, m.r2, m.spearman]),
            Scores::Classification(m) => (m.n, [m.auroc, m.auprc, m.accuracy, m.f1]),
        };
        println!("  {name:width$}  {n:>6}  {:>9.4}  {:>9.4}  {:>9.4}  {:>9.4}", v[0], v[1], v[2], v[3]);
    }
}

fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One fold: train / valid / test positions (into the labelled rows).
struct Fold {
    train: Vec<usize>,
    valid: Vec<usize>,
    test: Vec<usize>,
}

pub(crate) fn run(ctx: &Ctx, args: FinetuneArgs) -> Result<()> {
    let started = Instant::now();
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let device = super::embed::parse_device(&args.device)?;
    if args.ensemble == 0 {
        bad_input!("--ensemble must be at least 1");
    }
    if args.folds.is_some_and(|k| k < 2) {
        bad_input!("--folds must be at least 2");
    }
    if args.train_layers.is_some() && args.mode != FinetuneMode::Full {
        bad_input!("--train-layers chooses the encoder layers that full fine-tuning trains: add --mode full");
    }
    if args.output.join(HEAD_JSON).exists() && !args.force {
        bad_input!(
            "{}: already holds a head (head.json); choose another -o or pass --force to replace it",
            args.output.display()
        );
    }
    let resolved = super::embed::resolver().resolve(&args.model)?;
    let backbone = heads(Backbone::load(&resolved.path, device)).with_context(|| format!("--model {}", args.model))?;
    let sha = crate::dataset::weights_sha256(&resolved.path)?;
    let modality = backbone.modality;
    if args.split == SplitArg::Scaffold && modality != Modality::Molecule {
        bad_input!(
            "--split scaffold groups molecules by Murcko scaffold; {} is a {} model",
            args.model,
            modality.name()
        );
    }
    let max_length = args.max_length.unwrap_or(backbone.max_length()).min(backbone.max_length()).max(1);
    let long = long_policy(args.long);
    let batch_tokens = args.batch_tokens.unwrap_or(if device == Device::Cpu { 4096 } else { 16_384 });
    let sequence_column = args.sequence_column.clone().unwrap_or_else(|| default_sequence_column(modality).to_string());
    let table = Table::read(&args.data, &sequence_column)?;
    let data_sha = crate::dataset::files_sha256(&[args.data.clone()])?;

    // Targets and their tasks.
    let tasks: Vec<TaskArg> = match args.task.len() {
        0 => vec![TaskArg::Auto; args.target.len()],
        1 => vec![args.task[0]; args.target.len()],
        n if n == args.target.len() => args.task.clone(),
        n => bad_input!("--task has {n} values for {} targets: give one, or one per target", args.target.len()),
    };
    let mut targets: Vec<TargetSpec> = Vec::new();
    let mut target_cols = Vec::new();
    for (name, task) in args.target.iter().zip(&tasks) {
        let Some(col) = table.column(name) else {
            bad_input!("{}: no column named '{name}' (columns: {})", args.data.display(), table.columns.join(", "));
        };
        let values: Vec<&str> = table
            .rows
            .iter()
            .filter_map(|r| r[col].as_deref())
            .filter(|v| !is_missing(Some(v)))
            .map(str::trim)
            .collect();
        if values.is_empty() {
            bad_input!("--target {name}: the column has no values");
        }
        targets.push(target_spec(name, &values, *task)?);
        target_cols.push(col);
    }
    let mut offset = 0;
    for t in &mut targets {
        t.offset = offset;
        offset += t.width;
    }
    let output_size = offset as i64;

    // Prepare every row; keep the valid ones with at least one label.
    let prepared = prepare_all(&backbone, &table.sequences, max_length, long);
    let mut invalid_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows: Vec<usize> = Vec::new();
    let mut unlabelled = 0;
    for (i, p) in prepared.iter().enumerate() {
        if let Some(r) = &p.reason {
            let kind: String = r.split(" (").next().unwrap_or(r).chars().take(90).collect();
            *invalid_reasons.entry(kind).or_default() += 1;
            continue;
        }
        if target_cols.iter().all(|&c| is_missing(table.rows[i][c].as_deref())) {
            unlabelled += 1;
            continue;
        }
        rows.push(i);
    }
    let n_invalid: u64 = invalid_reasons.values().sum();
    ctx.info(format!(
        "{}: {} rows; {} usable, {n_invalid} invalid for {} ({}), {unlabelled} without a label",
        args.data.display(),
        table.rows.len(),
        rows.len(),
        args.model,
        modality.name()
    ));
    for (kind, count) in &invalid_reasons {
        ctx.info(format!("  invalid: {count} x {kind}"));
    }
    if rows.len() < 4 {
        bad_input!("{}: only {} usable labelled rows; a head needs more", args.data.display(), rows.len());
    }
    let n = rows.len();
    let positions: Vec<usize> = (0..n).collect();
    let groups: Option<Vec<String>> = (args.split == SplitArg::Scaffold)
        .then(|| rows.iter().map(|&r| prepared[r].scaffold.clone().unwrap_or_default()).collect());

    // Splits.
    let mut folds: Vec<Fold> = Vec::new();
    let split_desc;
    if let Some(k) = args.folds {
        let parts = split::folds(&positions, groups.as_deref(), k, args.seed);
        for (f, test) in parts.iter().enumerate() {
            let rest: Vec<usize> =
                parts.iter().enumerate().filter(|(g, _)| *g != f).flat_map(|(_, p)| p.iter().copied()).collect();
            let (train, valid) = split::hold_out(&rest, groups.as_deref(), args.valid_fraction, args.seed + f as u64);
            folds.push(Fold { train, valid, test: test.clone() });
        }
        split_desc = format!("{k}-fold cross-validation ({})", if groups.is_some() { "by scaffold" } else { "random" });
    } else {
        let s = match args.split {
            SplitArg::Random => split::random(&positions, args.valid_fraction, args.test_fraction, args.seed),
            SplitArg::Scaffold => split::grouped(
                &positions,
                groups.as_deref().expect("scaffolds"),
                args.valid_fraction,
                args.test_fraction,
                args.seed,
            ),
            SplitArg::Column => {
                let Some(col) = table.column(&args.split_column) else {
                    bad_input!(
                        "--split column: {} has no column '{}' (--split-column)",
                        args.data.display(),
                        args.split_column
                    );
                };
                let mut s = split::Split::default();
                for (pos, &r) in rows.iter().enumerate() {
                    match table.rows[r][col].as_deref().map(|v| v.trim().to_ascii_lowercase()).as_deref() {
                        Some("train" | "training") => s.train.push(pos),
                        Some("valid" | "validation" | "val" | "dev") => s.valid.push(pos),
                        Some("test" | "testing") => s.test.push(pos),
                        other => bad_input!(
                            "{}:{}: split column '{}' holds {:?}: use train, valid or test",
                            args.data.display(),
                            table.lines[r],
                            args.split_column,
                            other.unwrap_or("")
                        ),
                    }
                }
                if s.valid.is_empty() {
                    let (train, valid) = split::hold_out(&s.train, None, args.valid_fraction, args.seed);
                    s.train = train;
                    s.valid = valid;
                }
                s
            }
        };
        split_desc = match args.split {
            SplitArg::Random => "random".to_string(),
            SplitArg::Scaffold => "scaffold".to_string(),
            SplitArg::Column => format!("given by column '{}'", args.split_column),
        };
        folds.push(Fold { train: s.train, valid: s.valid, test: s.test });
    }
    if folds.iter().any(|f| f.train.is_empty()) {
        bad_input!("the split leaves no training rows");
    }

    // Labels (raw values and class indices) per labelled row, per target.
    let raw: Vec<Vec<Option<f64>>> = targets
        .iter()
        .zip(&target_cols)
        .map(|(t, &c)| rows.iter().map(|&r| parse_label(t, table.rows[r][c].as_deref())).collect())
        .collect();
    for (t, spec) in targets.iter_mut().enumerate() {
        if spec.task == Task::Regression {
            // Standardize on the training rows (k folds: on every row, so that the fold models share it).
            let source: Vec<usize> = if folds.len() == 1 { folds[0].train.clone() } else { positions.clone() };
            let vals: Vec<f64> = source.iter().filter_map(|&p| raw[t][p]).collect();
            let (mean, std) = head::mean_std(&vals);
            spec.mean = Some(mean);
            spec.std = Some(if std > 0.0 { std } else { 1.0 });
        }
    }
    let per_row: Vec<Vec<Option<f64>>> = (0..n).map(|p| raw.iter().map(|col| col[p]).collect()).collect();
    let labels = Labels::new(&per_row, &targets);
    let tokens: Vec<&[i64]> = rows.iter().map(|&r| prepared[r].tokens.as_slice()).collect();
    let truncated = rows.iter().filter(|&&r| prepared[r].truncated).count();
    let windowed = tokens.iter().filter(|t| t.len() > max_length).count();

    // Embeddings of the frozen backbone: once, for every labelled row.
    let embed_started = Instant::now();
    let cache_file = args
        .embedding_cache
        .as_ref()
        .map(|dir| dir.join(format!("{}.safetensors", cache_key(&sha, max_length, long, &tokens))));
    let cached = cache_file
        .as_ref()
        .filter(|f| f.is_file())
        .and_then(|f| Tensor::read_safetensors(f).ok())
        .and_then(|mut t| t.pop())
        .map(|(_, x)| x);
    let x = match cached {
        Some(x) if x.size() == [n as i64, backbone.hidden_size()] => {
            ctx.info(format!("embeddings from the cache {}", cache_file.as_ref().expect("cached").display()));
            x
        }
        _ => {
            let bar = ctx.progress.records("embedding");
            let x = backbone.embed_all(&tokens, max_length, batch_tokens, &mut |done| bar.set_position(done as u64))?;
            bar.finish_and_clear();
            if let Some(file) = &cache_file {
                std::fs::create_dir_all(file.parent().expect("a file in the cache folder"))?;
                let tmp = file.with_extension("tmp");
                Tensor::write_safetensors(&[("embeddings", &x)], &tmp)?;
                std::fs::rename(&tmp, file)?;
            }
            x
        }
    };
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    ctx.info(format!(
        "embedded {n} rows with {} ({}-d) in {embed_seconds:.1} s ({truncated} truncated, {windowed} windowed at {max_length} tokens); split: {split_desc}, {}",
        args.model,
        backbone.hidden_size(),
        folds.iter().map(|f| format!("{}/{}/{}", f.train.len(), f.valid.len(), f.test.len())).collect::<Vec<_>>().join(", "),
    ) + " train/valid/test");

    let full = args.mode == FinetuneMode::Full;
    let opts = FitOptions {
        epochs: args.epochs.unwrap_or(if full { 20 } else { 300 }),
        patience: args.patience.unwrap_or(if full { 4 } else { 30 }),
        lr: args.lr.unwrap_or(1e-3),
        encoder_lr: args.encoder_lr,
        weight_decay: args.weight_decay,
        batch_size: args.batch_size.unwrap_or(if full { 16 } else { 64 }),
        seed: args.seed,
        max_length,
        batch_tokens,
    };

    // Train: every fold x every ensemble member.
    std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut members: Vec<Mlp> = Vec::new();
    let mut encoders: Vec<String> = Vec::new();
    let mut reports: Vec<FitReport> = Vec::new();
    let mut fold_preds: Vec<Vec<TargetPrediction>> = Vec::new();
    let mut eval_rows: Vec<Vec<usize>> = Vec::new();
    let total_members = folds.len() * args.ensemble;
    for (f, fold) in folds.iter().enumerate() {
        let eval = if fold.test.is_empty() { fold.valid.clone() } else { fold.test.clone() };
        let mut outputs: Vec<Tensor> = Vec::new();
        for k in 0..args.ensemble {
            let m = f * args.ensemble + k;
            let seed = args.seed + 1000 * f as u64 + k as u64;
            tch::manual_seed(seed as i64);
            let mut mlp = Mlp::new(backbone.hidden_size(), args.hidden, output_size, args.dropout, device);
            let train_idx = Tensor::from_slice(&fold.train.iter().map(|&p| p as i64).collect::<Vec<_>>());
            mlp.set_input_stats(&x.index_select(0, &train_idx));
            let fold_opts = FitOptions { seed, ..opts.clone() };
            let bar = ctx.progress.steps(fold_opts.epochs as u64);
            let mut on_epoch = |e: usize, tl: f64, vl: Option<f64>| {
                bar.set_position(e as u64);
                bar.set_message(format!(
                    "train loss {tl:.4}, valid loss {}",
                    vl.map_or("-".into(), |v| format!("{v:.4}"))
                ));
                if ctx.global.verbose > 0 {
                    let vl = vl.map_or("-".into(), |v| format!("{v:.4}"));
                    bar.suspend(|| eprintln!("member {}: epoch {e}: train loss {tl:.4}, valid loss {vl}", m + 1));
                }
            };
            let eval_tokens: Vec<&[i64]> = eval.iter().map(|&p| tokens[p]).collect();
            let (report, out) = if full {
                let tuned = heads(Backbone::load(&resolved.path, device))?;
                tuned.set_trainable(args.train_layers);
                let report = fit::fit_full(
                    &tuned,
                    &mut mlp,
                    &tokens,
                    &labels,
                    &fold.train,
                    &fold.valid,
                    &targets,
                    &fold_opts,
                    &mut on_epoch,
                )?;
                let ex = tuned.embed_all(&eval_tokens, max_length, batch_tokens, &mut |_| {})?;
                let name = format!("encoder-{m}");
                tuned.save(&args.output.join(&name))?;
                encoders.push(name);
                (report, fit::outputs(&mlp, &ex))
            } else {
                let report = fit::fit_frozen(
                    &mut mlp,
                    &x,
                    &labels,
                    &fold.train,
                    &fold.valid,
                    &targets,
                    &fold_opts,
                    &mut on_epoch,
                )?;
                let idx = Tensor::from_slice(&eval.iter().map(|&p| p as i64).collect::<Vec<_>>());
                (report, fit::outputs(&mlp, &x.index_select(0, &idx)))
            };
            bar.finish_and_clear();
            ctx.info(format!(
                "member {}/{total_members}{}: {} epochs ({:.3} s/epoch), best validation loss {} at epoch {}",
                m + 1,
                if folds.len() > 1 { format!(" (fold {})", f + 1) } else { String::new() },
                report.epochs_run,
                report.seconds_per_epoch(),
                report.best_valid_loss.map_or("-".into(), |v| format!("{v:.4}")),
                report.best_epoch
            ));
            outputs.push(out);
            members.push(mlp);
            reports.push(report);
        }
        fold_preds.push(head::decode(&outputs, &targets));
        eval_rows.push(eval);
    }
    let evaluated_on = if folds.len() > 1 {
        "out-of-fold"
    } else if folds[0].test.is_empty() {
        "validation"
    } else {
        "test"
    };

    // Baselines, fold by fold: the training mean / majority class, and ridge on fingerprints or k-mers.
    let ridge_features: Option<Tensor> = if args.baseline {
        let feats: Vec<Option<Vec<f32>>> = rows
            .par_iter()
            .map(|&r| {
                let text = prepared[r].canonical.as_deref().unwrap_or(table.sequences[r].as_str());
                baseline::features(modality, text)
            })
            .collect();
        let dim = feats.iter().flatten().map(Vec::len).next().unwrap_or(1);
        let flat: Vec<f32> = feats.into_iter().flat_map(|f| f.unwrap_or_else(|| vec![0.0; dim])).collect();
        Some(Tensor::from_slice(&flat).view([n as i64, dim as i64]))
    } else {
        None
    };
    let ridge_name = match modality {
        Modality::Molecule => "ridge (Morgan r2 2048)",
        Modality::Protein => "ridge (1,2-mers)",
        Modality::Dna => "ridge (1-5-mers)",
    };
    let mode_name = if full {
        match args.train_layers {
            Some(l) => format!("head (fine-tuned, top {l} layers)"),
            None => "head (fine-tuned)".to_string(),
        }
    } else {
        "head (frozen)".to_string()
    };
    let mut metrics_json = serde_json::Map::new();
    for (t, spec) in targets.iter().enumerate() {
        // Concatenate the folds' evaluation rows and predictions.
        let mut all_rows: Vec<usize> = Vec::new();
        let mut head_pred = TargetPrediction::default();
        let mut trivial = TargetPrediction::default();
        let mut ridge = TargetPrediction::default();
        let mut lambdas = Vec::new();
        for (f, fold) in folds.iter().enumerate() {
            let eval = &eval_rows[f];
            all_rows.extend(eval);
            let p = &fold_preds[f][t];
            head_pred.values.extend(&p.values);
            head_pred.probs.extend(p.probs.iter().cloned());
            head_pred.std.extend(&p.std);
            let train_labels: Vec<f64> = fold.train.iter().filter_map(|&p| raw[t][p]).collect();
            match spec.task {
                Task::Regression => {
                    let mean = train_labels.iter().sum::<f64>() / train_labels.len().max(1) as f64;
                    trivial.values.extend(std::iter::repeat_n(mean, eval.len()));
                }
                Task::Classification => {
                    let mut counts = vec![0usize; spec.width];
                    for &c in &train_labels {
                        counts[c as usize] += 1;
                    }
                    let majority = metrics::argmax(&counts.iter().map(|&c| c as f64).collect::<Vec<_>>());
                    let mut probs = vec![0.0; spec.width];
                    probs[majority] = 1.0;
                    trivial.probs.extend(std::iter::repeat_n(probs, eval.len()));
                }
            }
            if let Some(feats) = &ridge_features {
                let labelled =
                    |set: &[usize]| -> Vec<usize> { set.iter().copied().filter(|&p| raw[t][p].is_some()).collect() };
                let (tr, va) = (labelled(&fold.train), labelled(&fold.valid));
                let target_matrix = |set: &[usize]| -> Tensor {
                    match spec.task {
                        Task::Regression => {
                            Tensor::from_slice(&set.iter().map(|&p| raw[t][p].unwrap_or(0.0)).collect::<Vec<_>>())
                                .view([-1, 1])
                        }
                        Task::Classification => {
                            let mut y = vec![0f64; set.len() * spec.width];
                            for (i, &p) in set.iter().enumerate() {
                                y[i * spec.width + raw[t][p].unwrap_or(0.0) as usize] = 1.0;
                            }
                            Tensor::from_slice(&y).view([set.len() as i64, spec.width as i64])
                        }
                    }
                };
                let pick = |set: &[usize]| {
                    feats.index_select(0, &Tensor::from_slice(&set.iter().map(|&p| p as i64).collect::<Vec<_>>()))
                };
                let (xv, yv) = (pick(&va), target_matrix(&va));
                let model = baseline::Ridge::fit(
                    &pick(&tr),
                    &target_matrix(&tr),
                    (!va.is_empty()).then_some(&xv),
                    (!va.is_empty()).then_some(&yv),
                )?;
                lambdas.push(model.lambda);
                let pred = model.predict(&pick(eval)).to_kind(Kind::Double);
                let flat = Vec::<f64>::try_from(pred.contiguous().view(-1))?;
                match spec.task {
                    Task::Regression => ridge.values.extend(flat),
                    Task::Classification => ridge.probs.extend(flat.chunks(spec.width).map(<[f64]>::to_vec)),
                }
            }
        }
        let labels_t: Vec<Option<f64>> = raw[t].clone();
        let mut table_rows: Vec<(String, Scores)> = Vec::new();
        if let Some(s) = score(spec, &head_pred, &all_rows, &labels_t) {
            let name = if args.ensemble > 1 {
                format!("{mode_name}, ensemble of {}", args.ensemble)
            } else {
                mode_name.clone()
            };
            table_rows.push((name, s));
        }
        if ridge_features.is_some() {
            if let Some(s) = score(spec, &ridge, &all_rows, &labels_t) {
                table_rows.push((ridge_name.to_string(), s));
            }
        }
        if let Some(s) = score(spec, &trivial, &all_rows, &labels_t) {
            let name = if spec.task == Task::Regression { "mean of training values" } else { "majority class" };
            table_rows.push((name.to_string(), s));
        }
        print_table(
            ctx,
            &format!(
                "{} ({}{}), {evaluated_on} rows:",
                spec.name,
                if spec.task == Task::Regression {
                    "regression".to_string()
                } else {
                    format!("{} classes", spec.width)
                },
                ""
            ),
            spec.task,
            &table_rows,
        );
        let mut entry = serde_json::Map::new();
        entry.insert("task".into(), json!(spec.task));
        entry.insert("evaluated_on".into(), json!(evaluated_on));
        for (name, s) in &table_rows {
            let key = if name.starts_with("head") {
                "head"
            } else if name.starts_with("ridge") {
                "ridge"
            } else {
                "trivial"
            };
            entry.insert(key.into(), json!({"model": name, "metrics": s.json()}));
        }
        if !lambdas.is_empty() {
            entry.insert("ridge_lambda".into(), json!(lambdas));
        }
        if args.ensemble > 1 && spec.task == Task::Regression {
            let spread = head_pred.std.iter().sum::<f64>() / head_pred.std.len().max(1) as f64;
            entry.insert("mean_ensemble_std".into(), json!(spread));
        }
        metrics_json.insert(spec.name.clone(), Value::Object(entry));

        // Plots.
        let have: Vec<usize> = (0..all_rows.len()).filter(|&i| labels_t[all_rows[i]].is_some()).collect();
        let plot_path = args.output.join(format!(
            "{}_{}.png",
            if spec.task == Task::Regression { "scatter" } else { "roc" },
            sanitize(&spec.name)
        ));
        match spec.task {
            Task::Regression => {
                let points: Vec<(f64, f64)> =
                    have.iter().map(|&i| (labels_t[all_rows[i]].expect("labelled"), head_pred.values[i])).collect();
                let m = score(spec, &head_pred, &all_rows, &labels_t);
                let caption = match m {
                    Some(Scores::Regression(m)) => {
                        format!("{}: {evaluated_on} RMSE {:.3}, R² {:.3}, n = {}", spec.name, m.rmse, m.r2, m.n)
                    }
                    _ => spec.name.clone(),
                };
                plots::scatter(&plot_path, &points, &caption, &spec.name)?;
            }
            Task::Classification => {
                let truth: Vec<usize> =
                    have.iter().map(|&i| labels_t[all_rows[i]].expect("labelled") as usize).collect();
                let probs: Vec<Vec<f64>> = have.iter().map(|&i| head_pred.probs[i].clone()).collect();
                let ridge_probs: Option<Vec<Vec<f64>>> =
                    ridge_features.as_ref().map(|_| have.iter().map(|&i| ridge.probs[i].clone()).collect());
                plots::roc(&plot_path, &spec.name, &spec.classes, &truth, &probs, ridge_probs.as_deref())?;
            }
        }
    }

    // Save the head.
    let seconds_per_epoch = reports.iter().map(FitReport::seconds_per_epoch).sum::<f64>() / reports.len().max(1) as f64;
    let training = json!({
        "command": command_line(),
        "data": {"path": args.data.display().to_string(), "sha256": data_sha, "rows": table.rows.len(), "usable": n,
                 "invalid": n_invalid, "unlabelled": unlabelled},
        "split": split_desc,
        "folds": folds.iter().map(|f| json!({"train": f.train.len(), "valid": f.valid.len(), "test": f.test.len()})).collect::<Vec<_>>(),
        "seed": args.seed,
        "ensemble": args.ensemble,
        "settings": {"epochs": opts.epochs, "patience": opts.patience, "lr": opts.lr, "encoder_lr": opts.encoder_lr,
                     "weight_decay": opts.weight_decay, "batch_size": opts.batch_size, "hidden": args.hidden, "dropout": args.dropout},
        "members": reports.iter().enumerate().map(|(m, r)| json!({"member": m, "epochs_run": r.epochs_run, "best_epoch": r.best_epoch,
                 "best_valid_loss": r.best_valid_loss, "seconds": r.seconds})).collect::<Vec<_>>(),
        "seconds_per_epoch": seconds_per_epoch,
        "embedding_seconds": embed_seconds,
        "finished_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    });
    let source = match &resolved.source {
        biotorch_models::ModelSource::Path => "path".to_string(),
        biotorch_models::ModelSource::Bundled { name } => format!("bundled:{name}"),
        biotorch_models::ModelSource::HfCache { repo_id, commit, .. } => format!("hf:{repo_id}@{commit}"),
    };
    let spec = HeadSpec {
        format: FORMAT.to_string(),
        version: 1,
        backbone: BackboneRef {
            model: args.model.clone(),
            path: backbone.dir.display().to_string(),
            source,
            sha256: sha,
            architecture: backbone.architecture().to_string(),
            modality,
            tokenizer: backbone.tokenizer.name().to_string(),
            hidden_size: backbone.hidden_size(),
            num_layers: backbone.num_layers(),
        },
        mode: if full { "full".into() } else { "frozen".into() },
        train_layers: args.train_layers,
        encoders,
        sequence_column: sequence_column.clone(),
        max_length,
        long,
        pooling: "mean".into(),
        targets: targets.clone(),
        input_size: backbone.hidden_size(),
        hidden_size: args.hidden,
        output_size,
        dropout: args.dropout,
        members: members.len(),
        training: training.clone(),
        biotorch_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    head::save_members(&members, &args.output.join(HEAD_WEIGHTS))?;
    biotorch_io::write_atomic(args.output.join(HEAD_JSON), serde_json::to_string_pretty(&spec)?.as_bytes())?;
    let metrics_file = json!({
        "model": args.model, "mode": spec.mode, "split": split_desc, "evaluated_on": evaluated_on,
        "targets": Value::Object(metrics_json.clone()),
        "seconds_per_epoch": seconds_per_epoch, "embedding_seconds": embed_seconds,
        "seconds": started.elapsed().as_secs_f64(),
        "members": spec.training["members"].clone(),
    });
    biotorch_io::write_atomic(
        args.output.join("metrics.json"),
        serde_json::to_string_pretty(&metrics_file)?.as_bytes(),
    )?;
    ctx.info(format!(
        "wrote {} (head.safetensors, head.json, metrics.json, plots; {} member(s), {:.3} s/epoch, {:.1} s in all)",
        args.output.display(),
        members.len(),
        seconds_per_epoch,
        started.elapsed().as_secs_f64()
    ));
    ctx.write_summary(&metrics_file)
}

/// The name of cached embeddings: a hash of the weights, the window and every row's tokens.
fn cache_key(weights_sha: &str, max_length: usize, long: encoder::LongPolicy, tokens: &[&[i64]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("biotorch-embeddings-v1 {weights_sha} {max_length} {long:?} {}\n", tokens.len()));
    for t in tokens {
        h.update((t.len() as u64).to_le_bytes());
        for id in *t {
            h.update(id.to_le_bytes());
        }
    }
    format!("{:x}", h.finalize())
}

/// A heads-crate result, its usage errors marked as bad input (exit code 2).
pub(crate) fn heads<T>(r: biotorch_heads::Result<T>) -> Result<T> {
    r.map_err(|e| {
        if e.is_bad_input() {
            anyhow::Error::new(crate::exit::BadInput(e.to_string()))
        } else {
            anyhow::Error::new(e)
        }
    })
}

/// A file-name-safe version of a column name.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
