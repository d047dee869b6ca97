//! After training, before scoring: temperature scaling of classification targets on the validation rows, and the
//! conformal residuals of regression targets on the calibration rows; both go into the targets' specs (so into
//! `head.json`), and the evaluation rows are decoded again with the temperatures.

use tch::{Device, Kind, Tensor};

use crate::calibration::{self, conformal_quantile, fit_temperature, interval_scores, Logits};
use crate::head;
use crate::spec::Task;

use super::rows::Setup;
use super::train::Trained;
use super::{Conformal, Temperature};

/// What calibration did to each target.
#[derive(Debug, Clone, Default)]
pub(crate) struct Calibrated {
    pub(crate) temperature: Option<Temperature>,
    pub(crate) conformal: Option<Conformal>,
}

/// Fits the temperatures and stores the conformal residuals in `setup.targets`, re-decodes `trained.fold_preds`,
/// and reports per target what changed on the validation and evaluation rows (`coverage`: the intervals reported).
pub(crate) fn calibrate(setup: &mut Setup, trained: &mut Trained, coverage: f64) -> Vec<Calibrated> {
    let mut out = vec![Calibrated::default(); setup.targets.len()];
    for (t, calibrated) in out.iter_mut().enumerate() {
        let spec = &setup.targets[t];
        let raw = &setup.raw[t];
        match spec.task {
            Task::Classification => {
                let groups: Vec<Logits> = setup
                    .folds
                    .iter()
                    .zip(&trained.fold_outputs)
                    .map(|(fold, outputs)| Logits {
                        members: outputs
                            .valid
                            .iter()
                            .map(|o| floats(&o.narrow(1, spec.offset as i64, spec.width as i64)))
                            .collect(),
                        width: spec.width,
                        labels: fold.valid.iter().map(|&p| raw[p].map(|c| c as usize)).collect(),
                    })
                    .collect();
                let Some(temperature) = fit_temperature(&groups) else { continue };
                let before = calibration::nll(&groups, 1.0).expect("labelled validation rows");
                let after = calibration::nll(&groups, temperature).expect("labelled validation rows");
                let valid_rows = groups.iter().map(|g| g.labels.iter().flatten().count()).sum();
                calibrated.temperature = Some(Temperature {
                    temperature,
                    valid_rows,
                    valid_nll_before: before,
                    valid_nll_after: after,
                    ece_before: eval_ece(setup, trained, t),
                    ece_after: None,
                });
                setup.targets[t].temperature = Some(temperature);
            }
            Task::Regression => {
                let (Some(fold), Some(outputs)) = (setup.folds.first(), trained.fold_outputs.first()) else { continue };
                if fold.calibration.is_empty() || setup.folds.len() > 1 {
                    continue;
                }
                let pred = &head::decode(&outputs.calibration, &setup.targets)[t];
                let mut scores: Vec<f64> = fold
                    .calibration
                    .iter()
                    .zip(&pred.values)
                    .filter_map(|(&p, v)| raw[p].map(|y| (y - v).abs()))
                    .collect();
                scores.sort_by(f64::total_cmp);
                let half_width = conformal_quantile(&scores, coverage).ok();
                let eval = &trained.fold_preds[0][t];
                let scored = half_width.and_then(|q| {
                    let (mut lo, mut hi, mut truth) = (Vec::new(), Vec::new(), Vec::new());
                    for (&p, v) in fold.eval().iter().zip(&eval.values) {
                        if let Some(y) = raw[p] {
                            lo.push(v - q);
                            hi.push(v + q);
                            truth.push(y);
                        }
                    }
                    interval_scores(&lo, &hi, &truth)
                });
                calibrated.conformal =
                    Some(Conformal { calibration_rows: scores.len(), coverage, half_width, evaluated: scored });
                setup.targets[t].conformal_scores = scores;
            }
        }
    }
    if out.iter().any(|c| c.temperature.is_some()) {
        trained.fold_preds =
            trained.fold_outputs.iter().map(|o| head::decode(&o.eval, &setup.targets)).collect::<Vec<_>>();
        for (t, c) in out.iter_mut().enumerate() {
            if let Some(temp) = &mut c.temperature {
                temp.ece_after = eval_ece(setup, trained, t);
            }
        }
    }
    out
}

/// The ECE of target `t`'s current predictions on the labelled evaluation rows of every fold.
fn eval_ece(setup: &Setup, trained: &Trained, t: usize) -> Option<f64> {
    let (mut probs, mut truth) = (Vec::new(), Vec::new());
    for (fold, preds) in setup.folds.iter().zip(&trained.fold_preds) {
        for (&p, q) in fold.eval().iter().zip(&preds[t].probs) {
            if let Some(c) = setup.raw[t][p] {
                probs.push(q.clone());
                truth.push(c as usize);
            }
        }
    }
    (!truth.is_empty()).then(|| calibration::ece(&probs, &truth))
}

fn floats(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).to_device(Device::Cpu).contiguous().view(-1)).expect("float tensor")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::Prepared;
    use crate::experiment::report::tests::synthetic;
    use crate::experiment::rows::Fold;
    use crate::experiment::train::{members, Embedded};
    use crate::experiment::{ModelInfo, Request, Settings, Table};
    use crate::head::Labels;
    use crate::label::{infer_target, TaskChoice};
    use crate::split;

    #[test]
    fn calibration_stores_sorted_residuals_and_a_temperature_that_does_not_raise_the_validation_nll() {
        let (n, dim) = (600, 16);
        let (x, raw) = synthetic(n, dim);
        let mut targets = vec![
            infer_target("y", &["1.5", "2.5"], TaskChoice::Auto).unwrap(),
            infer_target("c", &["0", "1"], TaskChoice::Auto).unwrap(),
        ];
        targets[1].offset = 1;
        let positions: Vec<usize> = (0..n).collect();
        let s = split::random(&positions, 0.15, 0.2, 0);
        let (train, calibration) = split::hold_out_calibration(&s.train, None, 0.25, 0);
        let train_vals: Vec<f64> = train.iter().filter_map(|&p| raw[0][p]).collect();
        let (mean, std) = head::mean_std(&train_vals);
        (targets[0].mean, targets[0].std) = (Some(mean), Some(std));
        let per_row: Vec<Vec<Option<f64>>> = (0..n).map(|p| vec![raw[0][p], raw[1][p]]).collect();
        let labels = Labels::new(&per_row, &targets);
        let mut setup = Setup {
            targets,
            prepared: vec![Prepared::default(); n],
            rows: positions.clone(),
            invalid: 0,
            unlabelled: 0,
            folds: vec![Fold { train, valid: s.valid, test: s.test, calibration }],
            split: "random".into(),
            raw,
            labels,
            max_length: 8,
        };
        let out = tempfile::tempdir().unwrap();
        let settings = Settings {
            epochs: Some(100),
            hidden: 32,
            ensemble: 2,
            conformal: true,
            output: out.path().to_path_buf(),
            ..Settings::default()
        };
        let request = Request::new(
            ModelInfo::path("random", std::path::Path::new("/nonexistent")),
            Table::default(),
            settings,
            "s",
        );
        let embedded = Embedded { x, seconds: 0.0 };
        let mut trained = members(&request, &setup, &[], &embedded, Device::Cpu, 4096, &mut |_| {}).unwrap();
        let uncalibrated = trained.fold_preds[0][1].probs.clone();
        let calibrated = calibrate(&mut setup, &mut trained, 0.8);

        // Regression: one residual per labelled calibration row, sorted; the half-width at 0.8 is the
        // ⌈(n + 1) · 0.8⌉-th; the intervals cover the 120 test rows at roughly that rate.
        let n_calibration = setup.folds[0].calibration.len();
        let scores = &setup.targets[0].conformal_scores;
        assert_eq!(scores.len(), n_calibration);
        assert!(scores.windows(2).all(|w| w[0] <= w[1]));
        let c = calibrated[0].conformal.expect("conformal report");
        let rank = ((n_calibration as f64 + 1.0) * 0.8).ceil() as usize;
        assert_eq!((c.calibration_rows, c.half_width), (n_calibration, Some(scores[rank - 1])));
        let e = c.evaluated.expect("intervals on the test rows");
        assert_eq!(e.n, 120);
        assert!((e.coverage - 0.8).abs() < 0.15, "coverage {}", e.coverage);
        assert!((e.mean_width - 2.0 * scores[rank - 1]).abs() < 1e-9);
        assert!(calibrated[0].temperature.is_none() && setup.targets[0].temperature.is_none());

        // Classification: a temperature, no higher validation NLL, the test rows decoded again with it.
        let t = calibrated[1].temperature.expect("temperature scaling");
        assert!(t.valid_nll_after <= t.valid_nll_before, "{t:?}");
        assert_eq!(setup.targets[1].temperature, Some(t.temperature));
        assert!(setup.targets[1].conformal_scores.is_empty() && calibrated[1].conformal.is_none());
        let scaled = &trained.fold_preds[0][1].probs;
        assert_eq!(scaled.len(), uncalibrated.len());
        if (t.temperature - 1.0).abs() > 1e-3 {
            assert!(scaled.iter().zip(&uncalibrated).any(|(a, b)| (a[1] - b[1]).abs() > 1e-4));
        }
        assert!(t.ece_before.is_some() && t.ece_after.is_some());
    }
}
