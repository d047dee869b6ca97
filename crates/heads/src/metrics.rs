//! Held-out metrics, computed as scikit-learn and SciPy define them: RMSE, MAE, R², Spearman's ρ for regression;
//! AUROC, AUPRC (average precision), accuracy and F1 for classification (binary: of class 1; multi-class: macro
//! averages of one-vs-rest AUROC/AUPRC and of per-class F1).

use serde::Serialize;

pub use biotorch_io::rank::auroc;
use biotorch_io::rank::spearman;

/// Regression metrics of predictions against measured values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub n: usize,
    pub rmse: f64,
    pub mae: f64,
    /// Coefficient of determination `1 - SS_res / SS_tot` (sklearn's `r2_score`; 0 for the mean predictor).
    pub r2: f64,
    /// Spearman's rank correlation (ties get their average rank); NaN when either side is constant.
    pub spearman: f64,
}

/// Classification metrics of class probabilities against true classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub n: usize,
    /// Area under the ROC curve (binary), or the mean over classes of one-vs-rest AUROC (classes present and absent
    /// in `truth`).
    pub auroc: f64,
    /// Average precision (sklearn's `average_precision_score`), macro over classes for multi-class.
    pub auprc: f64,
    pub accuracy: f64,
    /// F1 of class 1 (binary) or macro F1 over the classes present in truth or predictions (multi-class).
    pub f1: f64,
    /// Expected calibration error of the top class ([`crate::calibration::ece`], 15 bins); `None` when the scores
    /// are not probabilities (the ridge baseline's).
    pub ece: Option<f64>,
}

/// Regression metrics; `pred` and `truth` have the same length (at least one value).
pub fn regression(pred: &[f64], truth: &[f64]) -> RegressionMetrics {
    let n = pred.len().min(truth.len());
    let nf = n.max(1) as f64;
    let mse = pred.iter().zip(truth).map(|(p, t)| (p - t).powi(2)).sum::<f64>() / nf;
    let mae = pred.iter().zip(truth).map(|(p, t)| (p - t).abs()).sum::<f64>() / nf;
    let mean = truth.iter().sum::<f64>() / nf;
    let ss_tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    let ss_res = mse * nf;
    let r2 = if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { f64::NAN };
    RegressionMetrics { n, rmse: mse.sqrt(), mae, r2, spearman: spearman(pred, truth) }
}

/// Classification metrics. `probs[i]` holds the `classes` probabilities (or any scores: only their order matters
/// for AUROC/AUPRC) of sample `i`; `truth[i]` its class.
pub fn classification(probs: &[Vec<f64>], truth: &[usize], classes: usize) -> ClassificationMetrics {
    let n = truth.len();
    let predicted: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    let accuracy = predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / n.max(1) as f64;
    let probabilities =
        probs.iter().all(|p| p.iter().all(|&q| (0.0..=1.0).contains(&q)) && (p.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    let ece = probabilities.then(|| crate::calibration::ece(probs, truth));
    if classes == 2 {
        let scores: Vec<f64> = probs.iter().map(|p| p[1]).collect();
        let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        return ClassificationMetrics {
            n,
            auroc: auroc(&scores, &positive),
            auprc: average_precision(&scores, &positive),
            accuracy,
            f1: f1(&predicted, truth, 1),
            ece,
        };
    }
    let (mut auc_sum, mut ap_sum, mut counted) = (0.0, 0.0, 0usize);
    let (mut f1_sum, mut f1_counted) = (0.0, 0usize);
    for c in 0..classes {
        let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
        if positive.iter().any(|&p| p) && positive.iter().any(|&p| !p) {
            let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
            auc_sum += auroc(&scores, &positive);
            ap_sum += average_precision(&scores, &positive);
            counted += 1;
        }
        if truth.contains(&c) || predicted.contains(&c) {
            f1_sum += f1(&predicted, truth, c);
            f1_counted += 1;
        }
    }
    let mean = |s: f64, k: usize| if k > 0 { s / k as f64 } else { f64::NAN };
    ClassificationMetrics {
        n,
        auroc: mean(auc_sum, counted),
        auprc: mean(ap_sum, counted),
        accuracy,
        f1: mean(f1_sum, f1_counted),
        ece,
    }
}

/// The index of the largest value (the first one on ties).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// F1 of class `c`.
fn f1(pred: &[usize], truth: &[usize], c: usize) -> f64 {
    let tp = pred.iter().zip(truth).filter(|(&p, &t)| p == c && t == c).count() as f64;
    let fp = pred.iter().zip(truth).filter(|(&p, &t)| p == c && t != c).count() as f64;
    let fn_ = pred.iter().zip(truth).filter(|(&p, &t)| p != c && t == c).count() as f64;
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

/// Average precision: Σ (R_k - R_{k-1}) P_k over the distinct score thresholds, highest first.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    if n_pos == 0.0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if positive[order[j]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let recall = tp / n_pos;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
        i = j;
    }
    ap
}

/// The ROC curve's points (false-positive rate, true-positive rate), from (0, 0) to (1, 1), one per distinct score.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    let n_pos = positive.iter().filter(|&&p| p).count().max(1) as f64;
    let n_neg = (positive.len() - positive.iter().filter(|&&p| p).count()).max(1) as f64;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if positive[order[j]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        points.push((fp / n_neg, tp / n_pos));
        i = j;
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotorch_io::rank::ranks;

    #[test]
    fn regression_matches_sklearn() {
        // sklearn: rmse 0.6124, mae 0.5, r2 0.9486, scipy spearman 1.0
        let m = regression(&[2.5, 0.0, 2.0, 8.0], &[3.0, -0.5, 2.0, 7.0]);
        assert!((m.rmse - 0.612_372_435_695_794_5).abs() < 1e-12);
        assert!((m.mae - 0.5).abs() < 1e-12);
        assert!((m.r2 - 0.948_608_137_044_968).abs() < 1e-12);
        assert!((m.spearman - 1.0).abs() < 1e-12);
    }

    #[test]
    fn binary_metrics_match_sklearn() {
        // roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75; average_precision_score = 0.8333
        let probs: Vec<Vec<f64>> = [0.1, 0.4, 0.35, 0.8].iter().map(|&p| vec![1.0 - p, p]).collect();
        let m = classification(&probs, &[0, 0, 1, 1], 2);
        assert!((m.auroc - 0.75).abs() < 1e-12);
        assert!((m.auprc - 0.833_333_333_333_333_4).abs() < 1e-12);
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        let roc = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
    }

    #[test]
    fn ties_get_average_ranks() {
        assert_eq!(ranks(&[1.0, 2.0, 2.0, 3.0]), vec![1.0, 2.5, 2.5, 4.0]);
        assert!((auroc(&[0.5, 0.5], &[true, false]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn multiclass_is_macro() {
        let probs = vec![vec![0.8, 0.1, 0.1], vec![0.1, 0.8, 0.1], vec![0.1, 0.1, 0.8], vec![0.6, 0.3, 0.1]];
        let m = classification(&probs, &[0, 1, 2, 1], 3);
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        // per-class F1: 2/3, 2/3, 1 -> macro 0.7778
        assert!((m.f1 - 7.0 / 9.0).abs() < 1e-12);
        assert!(m.auroc > 0.8);
    }
}
