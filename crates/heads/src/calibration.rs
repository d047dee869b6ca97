//! Calibration of a head's outputs: split-conformal intervals for regression targets, temperature scaling and the
//! expected calibration error for classification targets.
//!
//! - Split conformal (Vovk et al. 2005; Lei et al. 2018, "Distribution-free predictive inference for regression"):
//!   the absolute residuals `|y - ŷ|` of calibration rows the head was not fitted on, sorted, are stored in
//!   `head.json`; for a requested coverage `1 - α` the interval is `ŷ ± q` with `q` the `⌈(n + 1)(1 - α)⌉`-th
//!   smallest residual ([`conformal_quantile`]). If the calibration and test rows are exchangeable, the interval
//!   contains the true value with probability at least `1 - α` (and below `1 - α + 1/(n + 1)`).
//! - Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks"): one `T > 0` divides every
//!   logit before the softmax, chosen to minimise the negative log-likelihood of the validation rows
//!   ([`fit_temperature`]); it changes no argmax and no ranking of a single member.
//! - Expected calibration error ([`ece`]): 15 equal-width bins of the top-class probability, the row-weighted mean
//!   of `|accuracy - confidence|` per bin.

use crate::error::{bad_input, Result};

/// Bins of [`ece`] and of the reliability diagram (Guo et al.'s 15).
pub const ECE_BINS: usize = 15;

/// The half-width `q` of split-conformal intervals `ŷ ± q` of coverage `coverage` (in (0, 1)) from the calibration
/// rows' absolute residuals `scores` (in any order): the `⌈(n + 1) · coverage⌉`-th smallest. An error when that rank
/// exceeds `n` (too few calibration rows for the coverage: the interval would be infinite).
pub fn conformal_quantile(scores: &[f64], coverage: f64) -> Result<f64> {
    if !(coverage > 0.0 && coverage < 1.0) {
        bad_input!("--coverage must be between 0 and 1 (exclusive), not {coverage}");
    }
    let n = scores.len();
    // The rank, with a small tolerance so that e.g. (19 + 1) · 0.9 = 18 is not rounded up to 19 by float error.
    let rank = ((n as f64 + 1.0) * coverage - 1e-9).ceil() as usize;
    if rank > n {
        let needed = (coverage / (1.0 - coverage) - 1e-9).ceil() as usize;
        bad_input!(
            "coverage {coverage} needs at least {needed} calibration rows (⌈(n + 1) · coverage⌉ ≤ n); the head has \
             {n}: ask for a lower --coverage, or train with a larger --calibration-fraction"
        );
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(sorted[rank.max(1) - 1])
}

/// Class logits of some rows from each ensemble member, and the rows' classes: what temperature scaling is fitted
/// on. The ensemble's probabilities at temperature `T` are the members' `softmax(z / T)` averaged.
#[derive(Debug, Clone, Default)]
pub struct Logits {
    /// Per member, `rows × width` logits, row-major.
    pub members: Vec<Vec<f64>>,
    pub width: usize,
    /// Per row, its class (`None`: no label, left out).
    pub labels: Vec<Option<usize>>,
}

impl Logits {
    /// The ensemble's class probabilities of every row at temperature `t`.
    pub fn probs(&self, t: f64) -> Vec<Vec<f64>> {
        let (w, k) = (self.width, self.members.len().max(1) as f64);
        (0..self.labels.len())
            .map(|i| {
                let mut p = vec![0.0; w];
                for m in &self.members {
                    for (c, q) in softmax(&m[i * w..(i + 1) * w], t).into_iter().enumerate() {
                        p[c] += q / k;
                    }
                }
                p
            })
            .collect()
    }
}

fn softmax(z: &[f64], t: f64) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| ((v - max) / t).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// The mean negative log-likelihood of the labelled rows of `groups` at temperature `t` (`None` without labelled
/// rows).
pub fn nll(groups: &[Logits], t: f64) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for g in groups {
        for (p, label) in g.probs(t).iter().zip(&g.labels) {
            if let Some(c) = label {
                sum -= p[*c].max(1e-300).ln();
                n += 1;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// The temperature in [0.05, 20] that minimises [`nll`] of the labelled rows (golden-section search on `ln T`,
/// deterministic); 1 when that is no better. `None` without labelled rows.
pub fn fit_temperature(groups: &[Logits]) -> Option<f64> {
    let f = |log_t: f64| nll(groups, log_t.exp()).unwrap_or(f64::INFINITY);
    let at_one = nll(groups, 1.0)?;
    let (mut a, mut b) = (0.05f64.ln(), 20f64.ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            (d, fd) = (c, fc);
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            (c, fc) = (d, fd);
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    let log_t = (a + b) / 2.0;
    Some(if f(log_t) < at_one { log_t.exp() } else { 1.0 })
}

/// One bin of a reliability diagram: rows whose top-class probability falls in `[lo, hi)` (the last bin includes
/// 1), their mean top-class probability and the fraction of them whose top class is right.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    pub confidence: f64,
    pub accuracy: f64,
}

/// The reliability diagram of class probabilities against true classes: `bins` equal-width bins of the top-class
/// probability (empty bins included, with count 0).
pub fn reliability(probs: &[Vec<f64>], truth: &[usize], bins: usize) -> Vec<Bin> {
    let mut out: Vec<Bin> = (0..bins)
        .map(|b| Bin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            count: 0,
            confidence: 0.0,
            accuracy: 0.0,
        })
        .collect();
    for (p, &t) in probs.iter().zip(truth) {
        let top = crate::metrics::argmax(p);
        let conf = p[top];
        let b = ((conf * bins as f64).floor() as usize).min(bins - 1);
        out[b].count += 1;
        out[b].confidence += conf;
        out[b].accuracy += f64::from(u8::from(top == t));
    }
    for b in &mut out {
        if b.count > 0 {
            b.confidence /= b.count as f64;
            b.accuracy /= b.count as f64;
        }
    }
    out
}

/// The expected calibration error: over [`ECE_BINS`] equal-width bins of the top-class probability, the mean of
/// `|accuracy - confidence|` weighted by the bin's share of rows (0 without rows).
pub fn ece(probs: &[Vec<f64>], truth: &[usize]) -> f64 {
    let n = truth.len().min(probs.len());
    if n == 0 {
        return 0.0;
    }
    reliability(probs, truth, ECE_BINS)
        .iter()
        .map(|b| b.count as f64 / n as f64 * (b.accuracy - b.confidence).abs())
        .sum()
}

/// Empirical coverage and mean width of intervals `[lo, hi]` against the values `truth`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct IntervalScores {
    pub n: usize,
    /// The fraction of values inside their interval (ends included).
    pub coverage: f64,
    pub mean_width: f64,
}

/// Scores intervals (`None` without rows).
pub fn interval_scores(lo: &[f64], hi: &[f64], truth: &[f64]) -> Option<IntervalScores> {
    let n = truth.len().min(lo.len()).min(hi.len());
    if n == 0 {
        return None;
    }
    let inside = (0..n).filter(|&i| lo[i] <= truth[i] && truth[i] <= hi[i]).count();
    let width = (0..n).map(|i| hi[i] - lo[i]).sum::<f64>();
    Some(IntervalScores { n, coverage: inside as f64 / n as f64, mean_width: width / n as f64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conformal_quantile_is_the_finite_sample_rank() {
        // n = 19, coverage 0.9: rank ⌈20 · 0.9⌉ = 18 of 1..=19.
        let scores: Vec<f64> = (1..=19).rev().map(f64::from).collect();
        assert_eq!(conformal_quantile(&scores, 0.9).unwrap(), 18.0);
        // n = 10, coverage 0.9: rank ⌈9.9⌉ = 10, the largest; 0.5: ⌈5.5⌉ = 6.
        let ten: Vec<f64> = (1..=10).map(|v| f64::from(v) / 10.0).collect();
        assert_eq!(conformal_quantile(&ten, 0.9).unwrap(), 1.0);
        assert_eq!(conformal_quantile(&ten, 0.5).unwrap(), 0.6);
        // A tiny coverage still takes the smallest residual, not index -1.
        assert_eq!(conformal_quantile(&ten, 0.01).unwrap(), 0.1);
    }

    #[test]
    fn too_few_calibration_rows_or_a_bad_coverage_are_errors() {
        let eight = [0.1; 8];
        let e = conformal_quantile(&eight, 0.9).unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().starts_with("coverage 0.9 needs at least 9 calibration rows"), "{e}");
        assert!(conformal_quantile(&[0.1; 9], 0.9).is_ok());
        assert!(conformal_quantile(&[], 0.5).is_err());
        for bad in [0.0, 1.0, 1.5, f64::NAN] {
            assert!(conformal_quantile(&eight, bad).unwrap_err().to_string().starts_with("--coverage must be"));
        }
    }

    #[test]
    fn conformal_intervals_cover_exchangeable_draws_at_the_requested_rate() {
        // Residuals of a fixed model on i.i.d. rows: calibration on 500, coverage on 20,000 more.
        let mut rng = crate::split::Rng::new(11, 3);
        let mut draw = || {
            // A sum of uniforms: roughly normal.
            (0..6).map(|_| (rng.next_u64() % 1_000_000) as f64 / 1e6).sum::<f64>() - 3.0
        };
        let calib: Vec<f64> = (0..500).map(|_| draw().abs()).collect();
        let q = conformal_quantile(&calib, 0.9).unwrap();
        let inside = (0..20_000).filter(|_| draw().abs() <= q).count() as f64 / 20_000.0;
        assert!((inside - 0.9).abs() < 0.03, "coverage {inside}");
    }

    /// Logits of a well-calibrated binary model multiplied by `t` (over-confident for `t > 1`): labels drawn from
    /// the probabilities at scale 1, so that dividing the logits by `T = t` calibrates them again.
    fn scaled(t: f64, n: usize) -> Logits {
        let mut rng = crate::split::Rng::new(5, 7);
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let z = ((rng.next_u64() % 1_000_000) as f64 / 1e6 - 0.5) * 8.0;
            let p1 = 1.0 / (1.0 + (-z).exp());
            let y = usize::from(((rng.next_u64() % 1_000_000) as f64 / 1e6) < p1);
            logits.extend([0.0, z * t]);
            labels.push(Some(y));
        }
        Logits { members: vec![logits], width: 2, labels }
    }

    #[test]
    fn temperature_scaling_recovers_a_known_temperature() {
        for t in [0.4, 2.5] {
            let g = scaled(t, 20_000);
            let fitted = fit_temperature(std::slice::from_ref(&g)).unwrap();
            assert!((fitted / t - 1.0).abs() < 0.05, "fitted {fitted}, true {t}");
            assert!(nll(std::slice::from_ref(&g), fitted).unwrap() < nll(&[g], 1.0).unwrap());
        }
        // Already calibrated: T near 1; no labelled rows: none.
        let g = scaled(1.0, 20_000);
        assert!((fit_temperature(&[g]).unwrap() - 1.0).abs() < 0.05);
        let empty = Logits { members: vec![vec![0.0, 1.0]], width: 2, labels: vec![None] };
        assert_eq!(fit_temperature(&[empty]), None);
    }

    #[test]
    fn an_ensemble_averages_the_members_tempered_probabilities() {
        let g = Logits { members: vec![vec![0.0, 2.0], vec![0.0, -2.0]], width: 2, labels: vec![Some(1)] };
        let p = g.probs(2.0);
        let s = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((p[0][1] - 0.5 * (s + (1.0 - s))).abs() < 1e-12 && (p[0][0] + p[0][1] - 1.0).abs() < 1e-12);
        assert!((nll(&[g], 2.0).unwrap() - 0.5f64.ln().abs()).abs() < 1e-12);
    }

    #[test]
    fn ece_by_hand() {
        // Top probabilities 0.9 (bin 13), 0.9, 0.6 (bin 9), 0.55 (bin 8); right, wrong, right, right.
        let probs = vec![vec![0.9, 0.1], vec![0.1, 0.9], vec![0.4, 0.6], vec![0.55, 0.45]];
        let truth = [0, 0, 1, 0];
        // Bin 13: 2 rows, accuracy 0.5, confidence 0.9; bin 9: 1 row, 1 vs 0.6; bin 8: 1 row, 1 vs 0.55.
        let expected = 0.5 * 0.4 + 0.25 * 0.4 + 0.25 * 0.45;
        assert!((ece(&probs, &truth) - expected).abs() < 1e-12, "{}", ece(&probs, &truth));
        let bins = reliability(&probs, &truth, ECE_BINS);
        assert_eq!(bins.len(), 15);
        assert_eq!(bins[13].count, 2);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 4);
        // Probability 1 falls in the last bin; perfectly confident and right: 0.
        assert_eq!(ece(&[vec![1.0, 0.0]], &[0]), 0.0);
        assert_eq!(reliability(&[vec![1.0, 0.0]], &[0], 15)[14].count, 1);
        assert_eq!(ece(&[], &[]), 0.0);
    }

    #[test]
    fn interval_scores_count_ends_as_inside() {
        let s = interval_scores(&[0.0, 0.0, 0.0, 1.0], &[1.0, 1.0, 2.0, 3.0], &[1.0, 1.5, 0.5, 0.0]).unwrap();
        assert_eq!(s, IntervalScores { n: 4, coverage: 0.5, mean_width: 1.5 });
        assert!(interval_scores(&[], &[], &[]).is_none());
    }
}
