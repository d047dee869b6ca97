//! ProteinGym's per-assay metrics of a zero-shot score against measured fitness, as its
//! `performance_DMS_benchmarks.py` computes them: Spearman's rho; AUC and MCC against the fitness binarised at a
//! threshold (1 when fitness ≥ threshold; for MCC the scores binarised at their median the same way); NDCG over the
//! top 10% by score with min-max-normalised fitness as gains; recall of the top-10% fitness variants among the
//! top-10% scores (NumPy's linear percentiles).

pub use biotorch_io::rank::{auroc as auc, spearman};

/// The metrics of one assay.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Variants with both a score and a fitness value.
    pub n: usize,
    pub spearman: f64,
    pub auc: f64,
    pub mcc: f64,
    pub ndcg: f64,
    pub top_recall: f64,
    /// The fitness threshold of AUC and MCC.
    pub threshold: f64,
}

impl std::fmt::Display for Metrics {
    /// `Spearman 0.1234, AUC ..., (threshold ...)`, for a summary line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Spearman {:.4}, AUC {:.4}, MCC {:.4}, NDCG@10% {:.4}, top-10% recall {:.4} (threshold {:.4}, {} variants)",
            self.spearman, self.auc, self.mcc, self.ndcg, self.top_recall, self.threshold, self.n
        )
    }
}

/// The metrics of `scores` against `fitness` (pairs with a non-finite value dropped); `threshold` defaults to the
/// median fitness. `None` with fewer than 2 pairs.
pub fn proteingym(scores: &[f64], fitness: &[f64], threshold: Option<f64>) -> Option<Metrics> {
    let (s, f): (Vec<f64>, Vec<f64>) =
        scores.iter().zip(fitness).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(a, b)| (*a, *b)).unzip();
    if s.len() < 2 {
        return None;
    }
    let threshold = threshold.unwrap_or_else(|| percentile(&f, 50.0));
    let truth: Vec<bool> = f.iter().map(|&x| x >= threshold).collect();
    let median = percentile(&s, 50.0);
    let predicted: Vec<bool> = s.iter().map(|&x| x >= median).collect();
    Some(Metrics {
        n: s.len(),
        spearman: spearman(&s, &f),
        auc: auc(&s, &truth),
        mcc: mcc(&predicted, &truth),
        ndcg: ndcg(&s, &f, 10.0),
        top_recall: top_recall(&s, &f, 10.0),
        threshold,
    })
}

/// Matthews' correlation coefficient (0 when a margin is empty, as scikit-learn).
pub fn mcc(predicted: &[bool], truth: &[bool]) -> f64 {
    let count = |p: bool, t: bool| predicted.iter().zip(truth).filter(|(&a, &b)| a == p && b == t).count() as f64;
    let (tp, tn, fp, fn_) = (count(true, true), count(false, false), count(true, false), count(false, true));
    let denominator = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    if denominator == 0.0 {
        0.0
    } else {
        (tp * tn - fp * fn_) / denominator
    }
}

/// NumPy's `percentile` with linear interpolation.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let position = (v.len() - 1) as f64 * q / 100.0;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    v[low] + (v[high] - v[low]) * (position - low as f64)
}

/// 1-based ranks by decreasing value, ties in input order (NumPy's `argsort(argsort(-x)) + 1` with a stable sort).
fn descending_ranks(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut out = vec![0; values.len()];
    for (rank, &i) in order.iter().enumerate() {
        out[i] = rank + 1;
    }
    out
}

/// ProteinGym's `calc_ndcg`: the DCG of the top `top` percent by score (gains: min-max-normalised fitness) over
/// the ideal DCG.
pub fn ndcg(scores: &[f64], fitness: &[f64], top: f64) -> f64 {
    let k = (fitness.len() as f64 * top / 100.0).floor() as usize;
    let (min, max) = fitness.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let gains: Vec<f64> = fitness.iter().map(|&x| (x - min) / (max - min)).collect();
    let dcg = |ranks: &[usize]| -> f64 {
        ranks.iter().zip(&gains).filter(|(&r, &g)| r <= k && g != 0.0).map(|(&r, &g)| g / ((r + 1) as f64).log2()).sum()
    };
    let got = dcg(&descending_ranks(scores));
    if got == 0.0 {
        return 0.0;
    }
    got / dcg(&descending_ranks(&gains))
}

/// ProteinGym's `calc_toprecall`: the share of the top `top` percent by fitness that is also in the top `top`
/// percent by score.
pub fn top_recall(scores: &[f64], fitness: &[f64], top: f64) -> f64 {
    let (ts, tf) = (percentile(scores, 100.0 - top), percentile(fitness, 100.0 - top));
    let true_top = fitness.iter().filter(|&&f| f >= tf).count();
    let both = scores.iter().zip(fitness).filter(|(&s, &f)| s >= ts && f >= tf).count();
    if true_top == 0 {
        0.0
    } else {
        both as f64 / true_top as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn metrics_match_the_proteingym_definitions() {
        // Reference values from NumPy: Pearson of averaged ranks, pairwise AUC, MCC by its formula, and ProteinGym's
        // calc_ndcg / calc_toprecall (copied) on these arrays.
        let scores = [0.1, -0.4, 2.0, 0.3, 0.3, -1.2, 0.8, 1.5, -0.1, 0.0, 0.9, -2.0];
        let fitness = [0.2, -0.1, 1.1, 0.0, 0.5, -0.9, 0.4, 0.3, 0.1, -0.3, 1.0, -1.5];
        let m = proteingym(&scores, &fitness, None).unwrap();
        assert_eq!(m.n, 12);
        close(m.threshold, 0.15);
        close(m.spearman, 0.8861659824480081);
        close(m.auc, 0.9583333333333334);
        close(m.mcc, 0.6666666666666666);
        close(m.ndcg, 1.0);
        close(m.top_recall, 0.5);
        close(ndcg(&scores, &fitness, 50.0), 0.9724776165906458);
    }

    #[test]
    fn edge_cases() {
        assert!(proteingym(&[1.0], &[2.0], None).is_none());
        assert!(proteingym(&[1.0, f64::NAN, 2.0], &[1.0, 3.0, f64::NAN], None).is_none());
        close(mcc(&[true, true], &[true, false]), 0.0);
        assert!(auc(&[1.0, 2.0], &[true, true]).is_nan());
        close(percentile(&[1.0, 2.0, 3.0, 4.0], 90.0), 3.7);
    }
}
