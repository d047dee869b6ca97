//! After training: the baselines, the held-out metrics per target, `head.json`, `metrics.json` and the weights.

use std::time::Instant;

use biotorch_models::ModelSource;
use rayon::prelude::*;
use serde_json::{json, Value};
use tch::{Kind, Tensor};

use crate::baseline;
use crate::encoder::{Backbone, Modality};
use crate::error::Result;
use crate::fit::FitReport;
use crate::head::{self, TargetPrediction};
use crate::metrics;
use crate::score::{score, Coverage};
use crate::seen::{prepared_key, TrainingRows, TRAINING_ROWS};
use crate::spec::{BackboneRef, HeadSpec, TargetSpec, Task, FORMAT, HEAD_JSON, HEAD_WEIGHTS};

use super::calibrate::Calibrated;
use super::rows::Setup;
use super::train::{index, Trained};
use super::{
    not_converged_message, DataRows, Evaluated, Mode, ModelScores, NotConverged, Outcome, Request, TargetOutcome,
};

/// Scores the held-out rows, writes the head and `metrics.json`, and returns the outcome.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    backbone: &Backbone,
    request: &Request,
    setup: &Setup,
    trained: Trained,
    calibrated: &[Calibrated],
    embedding_seconds: f64,
    weights_sha256: String,
    started: Instant,
) -> Result<Outcome> {
    let s = &request.settings;
    let evaluated_on = if setup.folds.len() > 1 {
        "out-of-fold"
    } else if setup.folds[0].test.is_empty() {
        "validation"
    } else {
        "test"
    };
    let ridge_features = s.baseline.then(|| ridge_features(backbone.modality, request, setup));
    let mut targets = Vec::new();
    let mut metrics_json = serde_json::Map::new();
    for (t, calibrated) in calibrated.iter().enumerate() {
        let mut outcome = score_target(backbone.modality, request, setup, &trained, t, ridge_features.as_ref())?;
        (outcome.temperature, outcome.conformal) = (calibrated.temperature, calibrated.conformal);
        metrics_json.insert(outcome.spec.name.clone(), target_json(&outcome, evaluated_on));
        targets.push(outcome);
    }

    let reports = &trained.reports;
    let seconds_per_epoch = reports.iter().map(FitReport::seconds_per_epoch).sum::<f64>() / reports.len().max(1) as f64;
    let not_converged = not_converged(reports, setup.folds.len(), s.ensemble);
    let warnings: Vec<String> = not_converged_message(&not_converged, reports.len()).into_iter().collect();
    let data = DataRows {
        rows: request.data.rows.len(),
        usable: setup.rows.len(),
        unreadable: setup.invalid,
        unlabelled: setup.unlabelled,
    };
    let training_rows = training_rows(backbone.modality, request, setup);
    let mut spec = head_spec(backbone, request, setup, &trained, weights_sha256, seconds_per_epoch, embedding_seconds);
    spec.training["data"]["training_rows"] = json!(training_rows.len());
    head::save_members(&trained.members, &s.output.join(HEAD_WEIGHTS))?;
    training_rows.write(&s.output.join(TRAINING_ROWS))?;
    biotorch_io::write_atomic(s.output.join(HEAD_JSON), serde_json::to_string_pretty(&spec)?.as_bytes())?;
    let metrics = json!({
        "model": request.model.name, "mode": spec.mode, "split": setup.split, "evaluated_on": evaluated_on,
        "rows": data,
        "targets": Value::Object(metrics_json),
        "trainable_encoder_parameters": trained.trainable_parameters,
        "lora": trained.lora,
        "seconds_per_epoch": seconds_per_epoch, "embedding_seconds": embedding_seconds,
        "seconds": started.elapsed().as_secs_f64(),
        "members": spec.training["members"].clone(),
        "warnings": warnings,
    });
    biotorch_io::write_atomic(s.output.join("metrics.json"), serde_json::to_string_pretty(&metrics)?.as_bytes())?;
    Ok(Outcome {
        spec,
        targets,
        evaluated_on,
        split: setup.split.clone(),
        reports: trained.reports,
        seconds_per_epoch,
        embedding_seconds,
        data,
        not_converged,
        training_rows: training_rows.len(),
        metrics,
    })
}

/// The members whose best validation loss came at their last epoch (member `m` is in fold `m / ensemble`).
fn not_converged(reports: &[FitReport], folds: usize, ensemble: usize) -> Vec<NotConverged> {
    reports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.converged() == Some(false))
        .map(|(m, r)| NotConverged { member: m, fold: (folds > 1).then(|| m / ensemble.max(1)), epochs: r.epochs_run })
        .collect()
}

/// The rows some member was trained or validated on (every usable row with k folds; train and valid otherwise),
/// by what the model read.
fn training_rows(modality: Modality, request: &Request, setup: &Setup) -> TrainingRows {
    let mut seen = vec![false; setup.rows.len()];
    for fold in &setup.folds {
        for &p in fold.train.iter().chain(&fold.valid) {
            seen[p] = true;
        }
    }
    let keys: Vec<String> = (0..setup.rows.len())
        .filter(|&p| seen[p])
        .filter_map(|p| {
            let r = setup.rows[p];
            prepared_key(modality, &request.data.sequences[r], &setup.prepared[r])
        })
        .collect();
    TrainingRows::from_keys(keys.iter().map(String::as_str))
}

/// The ridge baseline's features of every usable row (`[rows, features]`): Morgan fingerprints of the canonical
/// SMILES, or k-mer frequencies; zeros where a row has none.
fn ridge_features(modality: Modality, request: &Request, setup: &Setup) -> Tensor {
    let (prepared, sequences) = (&setup.prepared, &request.data.sequences);
    let feats: Vec<Option<Vec<f32>>> = setup
        .rows
        .par_iter()
        .map(|&r| {
            let text = prepared[r].canonical.as_deref().unwrap_or(sequences[r].as_str());
            baseline::features(modality, text)
        })
        .collect();
    let dim = feats.iter().flatten().map(Vec::len).next().unwrap_or(1);
    let flat: Vec<f32> = feats.into_iter().flat_map(|f| f.unwrap_or_else(|| vec![0.0; dim])).collect();
    Tensor::from_slice(&flat).view([setup.rows.len() as i64, dim as i64])
}

fn ridge_name(modality: Modality) -> &'static str {
    match modality {
        Modality::Molecule => "ridge (Morgan r2 2048)",
        Modality::Protein => "ridge (1,2-mers)",
        Modality::Dna => "ridge (1-5-mers)",
    }
}

/// The head in words, as the metrics table and `metrics.json` name it.
fn head_name(request: &Request) -> String {
    let s = &request.settings;
    let mode = match (s.mode, s.train_layers) {
        (Mode::Full, Some(l)) => format!("head (fine-tuned, top {l} layers)"),
        (Mode::Full, None) => "head (fine-tuned)".to_string(),
        (Mode::Frozen, _) => "head (frozen)".to_string(),
        (Mode::Lora, _) => format!("head (LoRA r={}, alpha={})", s.lora.r, s.lora.lora_alpha),
    };
    if s.ensemble > 1 {
        format!("{mode}, ensemble of {}", s.ensemble)
    } else {
        mode
    }
}

/// The held-out predictions of the head and the baselines for target `t`, fold by fold, and their scores.
fn score_target(
    modality: Modality,
    request: &Request,
    setup: &Setup,
    trained: &Trained,
    t: usize,
    ridge_features: Option<&Tensor>,
) -> Result<TargetOutcome> {
    let (spec, raw) = (&setup.targets[t], &setup.raw[t]);
    // Concatenate the folds' evaluation rows and predictions.
    let mut all_rows: Vec<usize> = Vec::new();
    let mut head_pred = TargetPrediction::default();
    let mut trivial = TargetPrediction::default();
    let mut ridge = TargetPrediction::default();
    let mut lambdas = Vec::new();
    for (f, fold) in setup.folds.iter().enumerate() {
        let eval = fold.eval();
        all_rows.extend(eval);
        let p = &trained.fold_preds[f][t];
        head_pred.values.extend(&p.values);
        head_pred.probs.extend(p.probs.iter().cloned());
        head_pred.std.extend(&p.std);
        let train_labels: Vec<f64> = fold.train.iter().filter_map(|&p| raw[p]).collect();
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
        if let Some(feats) = ridge_features {
            let (lambda, pred) = fit_ridge(spec, raw, feats, &fold.train, &fold.valid, eval)?;
            lambdas.push(lambda);
            match spec.task {
                Task::Regression => ridge.values.extend(pred),
                Task::Classification => ridge.probs.extend(pred.chunks(spec.width).map(<[f64]>::to_vec)),
            }
        }
    }
    let mut scores = Vec::new();
    if let Some(s) = score(spec, &head_pred, &all_rows, raw) {
        scores.push(ModelScores { key: "head", name: head_name(request), scores: s });
    }
    if ridge_features.is_some() {
        if let Some(s) = score(spec, &ridge, &all_rows, raw) {
            scores.push(ModelScores { key: "ridge", name: ridge_name(modality).to_string(), scores: s });
        }
    }
    if let Some(s) = score(spec, &trivial, &all_rows, raw) {
        let name = if spec.task == Task::Regression { "mean of training values" } else { "majority class" };
        scores.push(ModelScores { key: "trivial", name: name.to_string(), scores: s });
    }
    let mean_ensemble_std = (request.settings.ensemble > 1 && spec.task == Task::Regression)
        .then(|| head_pred.std.iter().sum::<f64>() / head_pred.std.len().max(1) as f64);
    let have: Vec<usize> = (0..all_rows.len()).filter(|&i| raw[all_rows[i]].is_some()).collect();
    let coverage = Coverage {
        scored: have.len(),
        unreadable: setup.invalid,
        unlabelled: (setup.unlabelled + raw.iter().filter(|l| l.is_none()).count()) as u64,
    };
    let evaluated = Evaluated {
        rows: have.iter().map(|&i| setup.rows[all_rows[i]]).collect(),
        labels: have.iter().map(|&i| raw[all_rows[i]].expect("labelled")).collect(),
        head: subset(&head_pred, &have),
        ridge: ridge_features.map(|_| subset(&ridge, &have)),
    };
    Ok(TargetOutcome {
        spec: spec.clone(),
        scores,
        ridge_lambdas: lambdas,
        mean_ensemble_std,
        evaluated,
        coverage,
        temperature: None,
        conformal: None,
    })
}

/// Fits a ridge on the labelled `train` rows (penalty chosen on the labelled `valid` rows) and predicts the `eval`
/// rows: the chosen penalty and the predictions (regression: one per row; classification: `width` scores per row).
fn fit_ridge(
    spec: &TargetSpec,
    raw: &[Option<f64>],
    feats: &Tensor,
    train: &[usize],
    valid: &[usize],
    eval: &[usize],
) -> Result<(f64, Vec<f64>)> {
    let labelled = |set: &[usize]| -> Vec<usize> { set.iter().copied().filter(|&p| raw[p].is_some()).collect() };
    let (tr, va) = (labelled(train), labelled(valid));
    let target_matrix = |set: &[usize]| -> Tensor {
        match spec.task {
            Task::Regression => {
                Tensor::from_slice(&set.iter().map(|&p| raw[p].unwrap_or(0.0)).collect::<Vec<_>>()).view([-1, 1])
            }
            Task::Classification => {
                let mut y = vec![0f64; set.len() * spec.width];
                for (i, &p) in set.iter().enumerate() {
                    y[i * spec.width + raw[p].unwrap_or(0.0) as usize] = 1.0;
                }
                Tensor::from_slice(&y).view([set.len() as i64, spec.width as i64])
            }
        }
    };
    let pick = |set: &[usize]| feats.index_select(0, &index(set));
    let (xv, yv) = (pick(&va), target_matrix(&va));
    let model = baseline::Ridge::fit(
        &pick(&tr),
        &target_matrix(&tr),
        (!va.is_empty()).then_some(&xv),
        (!va.is_empty()).then_some(&yv),
    )?;
    let pred = model.predict(&pick(eval)).to_kind(Kind::Double);
    Ok((model.lambda, Vec::<f64>::try_from(pred.contiguous().view(-1))?))
}

/// The predictions at `positions` (the parts a prediction has: values, probabilities, spreads).
fn subset(p: &TargetPrediction, positions: &[usize]) -> TargetPrediction {
    let pick = |v: &[f64]| if v.is_empty() { Vec::new() } else { positions.iter().map(|&i| v[i]).collect() };
    TargetPrediction {
        values: pick(&p.values),
        probs: if p.probs.is_empty() { Vec::new() } else { positions.iter().map(|&i| p.probs[i].clone()).collect() },
        std: pick(&p.std),
    }
}

/// A target's entry in `metrics.json`.
fn target_json(outcome: &TargetOutcome, evaluated_on: &str) -> Value {
    let mut entry = serde_json::Map::new();
    entry.insert("task".into(), json!(outcome.spec.task));
    entry.insert("evaluated_on".into(), json!(evaluated_on));
    entry.insert("rows".into(), outcome.coverage.json());
    for m in &outcome.scores {
        entry.insert(m.key.into(), json!({"model": m.name, "metrics": m.scores.json()}));
    }
    if !outcome.ridge_lambdas.is_empty() {
        entry.insert("ridge_lambda".into(), json!(outcome.ridge_lambdas));
    }
    if let Some(spread) = outcome.mean_ensemble_std {
        entry.insert("mean_ensemble_std".into(), json!(spread));
    }
    if let Some(t) = &outcome.temperature {
        entry.insert("temperature_scaling".into(), json!(t));
    }
    if let Some(c) = &outcome.conformal {
        entry.insert("conformal".into(), json!(c));
    }
    Value::Object(entry)
}

/// `head.json`: the backbone, preprocessing, targets, MLP shape and how it was trained.
fn head_spec(
    backbone: &Backbone,
    request: &Request,
    setup: &Setup,
    trained: &Trained,
    weights_sha256: String,
    seconds_per_epoch: f64,
    embedding_seconds: f64,
) -> HeadSpec {
    let (s, opts) = (&request.settings, &trained.options);
    let training = json!({
        "command": request.command,
        "data": {"path": request.data.name, "sha256": request.data_sha256, "rows": request.data.rows.len(),
                 "usable": setup.rows.len(), "invalid": setup.invalid, "unlabelled": setup.unlabelled},
        "split": setup.split,
        "folds": setup.folds.iter().map(|f| json!(f.sizes())).collect::<Vec<_>>(),
        "seed": s.seed,
        "ensemble": s.ensemble,
        "settings": {"epochs": opts.epochs, "patience": opts.patience, "lr": opts.lr, "encoder_lr": opts.encoder_lr,
                     "weight_decay": opts.weight_decay, "batch_size": opts.batch_size, "hidden": s.hidden, "dropout": s.dropout,
                     "conformal": s.conformal, "calibration_fraction": s.conformal.then_some(s.calibration_fraction)},
        "members": trained.reports.iter().enumerate().map(|(m, r)| json!({"member": m, "epochs_run": r.epochs_run, "best_epoch": r.best_epoch,
                 "best_valid_loss": r.best_valid_loss, "converged": r.converged(), "seconds": r.seconds})).collect::<Vec<_>>(),
        "seconds_per_epoch": seconds_per_epoch,
        "embedding_seconds": embedding_seconds,
        "finished_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    });
    let source = match &request.model.source {
        ModelSource::Path => "path".to_string(),
        ModelSource::Bundled { name } => format!("bundled:{name}"),
        ModelSource::HfCache { repo_id, commit, .. } => format!("hf:{repo_id}@{commit}"),
    };
    HeadSpec {
        format: FORMAT.to_string(),
        version: 1,
        backbone: BackboneRef {
            model: request.model.name.clone(),
            path: backbone.dir.display().to_string(),
            source,
            sha256: weights_sha256,
            architecture: backbone.architecture().to_string(),
            modality: backbone.modality,
            tokenizer: backbone.tokenizer.name().to_string(),
            hidden_size: backbone.hidden_size(),
            num_layers: backbone.num_layers(),
        },
        mode: match s.mode {
            Mode::Frozen => "frozen",
            Mode::Full => "full",
            Mode::Lora => "lora",
        }
        .into(),
        train_layers: s.train_layers,
        encoders: trained.encoders.clone(),
        adapters: trained.adapters.clone(),
        sequence_column: request.sequence_column.clone(),
        max_length: setup.max_length,
        long: s.long,
        pooling: "mean".into(),
        precision: backbone.precision().name().into(),
        targets: setup.targets.clone(),
        input_size: backbone.hidden_size(),
        hidden_size: s.hidden,
        output_size: setup.output_size(),
        dropout: s.dropout,
        members: trained.members.len(),
        training,
        training_rows: Some(TRAINING_ROWS.to_string()),
        biotorch_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encoder::Prepared;
    use crate::experiment::rows::Fold;
    use crate::experiment::train::{members, Embedded};
    use crate::experiment::{Event, ModelInfo, Settings, Table};
    use crate::head::Labels;
    use crate::label::{infer_target, TaskChoice};
    use crate::score::Scores;
    use crate::split;

    /// Rows whose "embeddings" are random vectors and whose labels depend on them: a regression target (a linear
    /// function plus noise) and a binary one (the sign of another projection).
    pub(crate) fn synthetic(n: usize, dim: i64) -> (Tensor, Vec<Vec<Option<f64>>>) {
        tch::manual_seed(7);
        let x = Tensor::randn([n as i64, dim], (Kind::Float, tch::Device::Cpu));
        let w = Tensor::randn([dim, 2], (Kind::Float, tch::Device::Cpu));
        let y = Vec::<f32>::try_from(x.matmul(&w).contiguous().view(-1)).unwrap();
        let noise = Vec::<f32>::try_from(Tensor::randn([n as i64], (Kind::Float, tch::Device::Cpu)) * 0.1).unwrap();
        let reg = (0..n).map(|i| Some(f64::from(3.0 * y[2 * i] + noise[i] + 5.0))).collect();
        // Every tenth row has no class label: masked out of the loss, skipped by the scores.
        let cls = (0..n).map(|i| (i % 10 != 3).then_some(if y[2 * i + 1] > 0.0 { 1.0 } else { 0.0 })).collect();
        (x, vec![reg, cls])
    }

    #[test]
    fn training_rows_are_the_rows_trained_and_validated_on() {
        let texts = ["MKT", "mkt ", "GLW", "AAA", "CCC", "WWW"];
        let data = Table {
            sequences: texts.iter().map(|t| t.to_string()).collect(),
            rows: vec![Vec::new(); texts.len()],
            ..Table::default()
        };
        let request = crate::experiment::Request::new(
            ModelInfo::path("m", std::path::Path::new("/nonexistent")),
            data,
            Settings::default(),
            "sequence",
        );
        // Row 5 is invalid (not usable); positions index the usable rows 0..5.
        let setup = Setup {
            targets: Vec::new(),
            prepared: vec![Prepared::default(); 6],
            rows: vec![0, 1, 2, 3, 4],
            invalid: 1,
            unlabelled: 0,
            folds: vec![Fold { train: vec![0, 1], valid: vec![2], test: vec![3, 4], ..Fold::default() }],
            split: "random".into(),
            raw: Vec::new(),
            labels: Labels::new(&[], &[]),
            max_length: 8,
        };
        let rows = training_rows(Modality::Protein, &request, &setup);
        assert_eq!(rows.len(), 2, "MKT (twice) and GLW; not the test rows");
        let flags = rows.flags(Modality::Protein, &texts.iter().map(|t| t.to_string()).collect::<Vec<_>>());
        assert_eq!(flags, [true, true, true, false, false, false]);
        // With k folds every usable row is some member's training row.
        let folds = Setup {
            folds: vec![
                Fold { train: vec![0, 1], valid: vec![2], test: vec![3, 4], ..Fold::default() },
                Fold { train: vec![3, 4], valid: vec![2], test: vec![0, 1], ..Fold::default() },
            ],
            ..setup
        };
        assert_eq!(training_rows(Modality::Protein, &request, &folds).len(), 4);
    }

    #[test]
    fn members_still_improving_at_their_last_epoch_are_reported_with_their_fold() {
        let report = |best_epoch, epochs_run| FitReport {
            epochs_run,
            best_epoch,
            best_valid_loss: Some(1.0),
            ..FitReport::default()
        };
        let reports = [report(10, 40), report(30, 30), report(5, 35), report(30, 30)];
        let late = not_converged(&reports, 2, 2);
        assert_eq!(
            late,
            [
                NotConverged { member: 1, fold: Some(0), epochs: 30 },
                NotConverged { member: 3, fold: Some(1), epochs: 30 }
            ]
        );
        assert_eq!(
            not_converged_message(&late, 4).unwrap(),
            "2 of 4 members had their best validation loss at their last epoch (30): not converged; more --epochs or \
             a higher --lr may help"
        );
        assert_eq!(not_converged(&reports[..1], 1, 1), []);
        assert_eq!(
            not_converged_message(&not_converged(&reports[1..2], 1, 1), 1).unwrap(),
            "the head had its best validation loss at its last epoch (30): not converged; more --epochs or a higher \
             --lr may help"
        );
    }

    #[test]
    fn a_frozen_experiment_on_random_embeddings_beats_the_trivial_baselines() {
        let (n, dim) = (300, 16);
        let (x, raw) = synthetic(n, dim);
        let mut targets = vec![
            infer_target("y", &["1.5", "2.5"], TaskChoice::Auto).unwrap(),
            infer_target("c", &["0", "1"], TaskChoice::Auto).unwrap(),
        ];
        targets[1].offset = 1;
        let positions: Vec<usize> = (0..n).collect();
        let s = split::random(&positions, 0.15, 0.2, 0);
        let train_vals: Vec<f64> = s.train.iter().filter_map(|&p| raw[0][p]).collect();
        let (mean, std) = head::mean_std(&train_vals);
        (targets[0].mean, targets[0].std) = (Some(mean), Some(std));
        let per_row: Vec<Vec<Option<f64>>> = (0..n).map(|p| vec![raw[0][p], raw[1][p]]).collect();
        let labels = Labels::new(&per_row, &targets);
        let setup = Setup {
            targets,
            prepared: vec![Prepared::default(); n],
            rows: positions.clone(),
            invalid: 0,
            unlabelled: 0,
            folds: vec![Fold { train: s.train, valid: s.valid, test: s.test, ..Fold::default() }],
            split: "random".into(),
            raw,
            labels,
            max_length: 8,
        };
        let out = tempfile::tempdir().unwrap();
        let settings =
            Settings { epochs: Some(150), hidden: 32, output: out.path().to_path_buf(), ..Settings::default() };
        let request = crate::experiment::Request::new(
            ModelInfo::path("random", std::path::Path::new("/nonexistent")),
            Table::default(),
            settings,
            "sequence",
        );
        let embedded = Embedded { x: x.shallow_clone(), seconds: 0.0 };
        let (mut epochs, mut done) = (0, 0);
        let trained = members(&request, &setup, &[], &embedded, tch::Device::Cpu, 4096, &mut |e| match e {
            Event::Epoch { .. } => epochs += 1,
            Event::MemberDone { member, members, fold, report } => {
                assert_eq!((member, members, fold), (0, 1, None));
                assert!(report.best_valid_loss.is_some());
                done += 1;
            }
            _ => {}
        })
        .unwrap();
        assert!(epochs > 10 && done == 1, "{epochs} epochs, {done} members done");
        assert_eq!(trained.members.len(), 1);

        let reg = score_target(Modality::Protein, &request, &setup, &trained, 0, Some(&x)).unwrap();
        let (Some(Scores::Regression(head)), Some(Scores::Regression(trivial)), Some(Scores::Regression(ridge))) =
            (reg.scores_of("head"), reg.scores_of("trivial"), reg.scores_of("ridge"))
        else {
            panic!("regression scores of head, ridge and trivial: {:?}", reg.scores)
        };
        assert_eq!(head.n, 60);
        assert!(head.rmse < 0.5 * trivial.rmse, "head RMSE {} vs the mean's {}", head.rmse, trivial.rmse);
        assert!(ridge.rmse < 0.2 * trivial.rmse, "ridge RMSE {} vs the mean's {}", ridge.rmse, trivial.rmse);
        assert_eq!(reg.scores[0].name, "head (frozen)");
        assert_eq!((reg.evaluated.labels.len(), reg.evaluated.head.values.len()), (60, 60));
        assert_eq!(reg.ridge_lambdas.len(), 1);

        let cls = score_target(Modality::Protein, &request, &setup, &trained, 1, None).unwrap();
        let (Some(Scores::Classification(head)), Some(Scores::Classification(trivial))) =
            (cls.scores_of("head"), cls.scores_of("trivial"))
        else {
            panic!("classification scores: {:?}", cls.scores)
        };
        assert!(head.n < 60 && head.n == cls.evaluated.labels.len(), "unlabelled rows are skipped");
        assert!(head.accuracy > trivial.accuracy + 0.2, "accuracy {} vs majority {}", head.accuracy, trivial.accuracy);
        assert!(head.auroc > 0.85, "AUROC {}", head.auroc);
        assert_eq!(cls.evaluated.head.probs.len(), head.n);
        assert!(cls.scores_of("ridge").is_none() && cls.evaluated.ridge.is_none());
    }
}
