//! Plots of a head's held-out predictions (drawn by biotorch-plot): predicted against measured values with the
//! identity line, ROC curves computed here from the head's probabilities, and the reliability diagram of those
//! probabilities.

use std::path::Path;

use anyhow::Result;
use biotorch_heads::{calibration, metrics};

use crate::plot::plot_error;

/// Predicted (y) against measured (x) values, with the identity line.
pub(crate) fn scatter(path: &Path, points: &[(f64, f64)], caption: &str, name: &str) -> Result<()> {
    biotorch_plot::predicted_vs_measured(path, points, caption, name).map_err(plot_error)
}

/// ROC curves: binary targets get the head's curve (and the ridge baseline's, when given); multi-class targets get
/// one one-vs-rest curve per class (the 8 most frequent), each with its AUROC in the legend.
pub(crate) fn roc(
    path: &Path,
    name: &str,
    classes: &[String],
    truth: &[usize],
    probs: &[Vec<f64>],
    baseline: Option<&[Vec<f64>]>,
) -> Result<()> {
    let mut curves: Vec<biotorch_plot::Curve> = Vec::new();
    let curve = |label: &str, column: usize, scores: &[Vec<f64>], positive: &[bool]| {
        let scores: Vec<f64> = scores.iter().map(|p| p[column]).collect();
        (format!("{label}AUROC {:.3})", metrics::auroc(&scores, positive)), metrics::roc_curve(&scores, positive))
    };
    if classes.len() == 2 {
        let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        curves.push(curve("head (", 1, probs, &positive));
        if let Some(b) = baseline {
            curves.push(curve("ridge (", 1, b, &positive));
        }
    } else {
        let mut counts: Vec<(usize, usize)> =
            (0..classes.len()).map(|c| (truth.iter().filter(|&&t| t == c).count(), c)).collect();
        counts.sort_by(|a, b| b.cmp(a));
        for &(count, c) in counts.iter().filter(|(n, _)| *n > 0 && *n < truth.len()).take(8) {
            let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            curves.push(curve(&format!("{} (n={count}, ", classes[c]), c, probs, &positive));
        }
    }
    let caption = format!("{name}: ROC on held-out rows (n = {})", truth.len());
    biotorch_plot::roc_curves(path, &caption, &curves).map_err(plot_error)
}

/// The reliability diagram of the head's class probabilities on held-out rows: per non-empty bin of 15 of the
/// top-class probability, its mean probability against the fraction of its rows predicted right; the ECE in the
/// legend (`temperature`: the head's, in the caption).
pub(crate) fn reliability(
    path: &Path,
    name: &str,
    truth: &[usize],
    probs: &[Vec<f64>],
    temperature: Option<f64>,
) -> Result<()> {
    let bins = calibration::reliability(probs, truth, calibration::ECE_BINS);
    let points: Vec<(f64, f64)> = bins.iter().filter(|b| b.count > 0).map(|b| (b.confidence, b.accuracy)).collect();
    let label = format!("head (ECE {:.3})", calibration::ece(probs, truth));
    let caption = match temperature {
        Some(t) => format!("{name}: calibration on held-out rows (n = {}, temperature {t:.2})", truth.len()),
        None => format!("{name}: calibration on held-out rows (n = {})", truth.len()),
    };
    biotorch_plot::reliability_curves(path, &caption, &[(label, points)]).map_err(plot_error)
}
