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
