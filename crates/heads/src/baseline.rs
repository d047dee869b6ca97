//! Classical baselines, computed next to a head on the same rows: ridge regression on Morgan fingerprints
//! (molecules: radius 2, 2048 bits) or on k-mer frequencies (proteins: 1- and 2-mers, 420 features; DNA: 1- to
//! 5-mers, 1,364 features). One ridge per target; classification is a ridge on one-hot classes (scikit-learn's
//! `RidgeClassifier`), its scores standing in for probabilities. The penalty is picked on the validation rows
//! from a grid. Solved in closed form in f64 with libtorch.

use tch::{Device, Kind, Tensor};

use crate::encoder::Modality;
use crate::error::Result;

/// Features of one input (the text as given, or a molecule's canonical SMILES); `None` when it is not usable.
pub fn features(modality: Modality, text: &str) -> Option<Vec<f32>> {
    match modality {
        Modality::Molecule => {
            let mol = biotorch_chem::Molecule::from_smiles(text.trim()).ok()?;
            let fp = mol.try_morgan_fingerprint(2, 2048).ok()?;
            let mut v = vec![0f32; 2048];
            for b in fp.on_bits() {
                v[b as usize] = 1.0;
            }
            Some(v)
        }
        Modality::Protein => Some(kmers(text, b"ACDEFGHIKLMNPQRSTVWY", 2)),
        Modality::Dna => Some(kmers(text, b"ACGT", 5)),
    }
}

/// Frequencies of every k-mer over `alphabet` for k = 1..=max_k (k-mers with other letters are skipped).
fn kmers(text: &str, alphabet: &[u8], max_k: usize) -> Vec<f32> {
    let seq: Vec<Option<usize>> =
        text.trim().bytes().map(|b| alphabet.iter().position(|&a| a == b.to_ascii_uppercase())).collect();
    let a = alphabet.len();
    let mut out = Vec::new();
    for k in 1..=max_k {
        let size = a.pow(k as u32);
        let mut counts = vec![0f32; size];
        let mut total = 0f32;
        'window: for w in seq.windows(k) {
            let mut code = 0;
            for x in w {
                let Some(x) = x else { continue 'window };
                code = code * a + x;
            }
            counts[code] += 1.0;
            total += 1.0;
        }
        out.extend(counts.iter().map(|c| c / total.max(1.0)));
    }
    out
}

/// Penalties tried.
const LAMBDAS: [f64; 8] = [0.01, 0.1, 1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];

/// A fitted ridge: `y = (x - x_mean) · w + y_mean`.
pub struct Ridge {
    x_mean: Tensor,
    w: Tensor,
    y_mean: Tensor,
    pub lambda: f64,
}

impl Ridge {
    /// Fits `y` (`[n, outputs]`) on `x` (`[n, features]`) for every penalty and keeps the one with the lowest mean
    /// squared error on (`x_valid`, `y_valid`) (the largest-but-one penalty without validation rows).
    pub fn fit(x: &Tensor, y: &Tensor, x_valid: Option<&Tensor>, y_valid: Option<&Tensor>) -> Result<Ridge> {
        let x = x.to_kind(Kind::Double).to_device(Device::Cpu);
        let y = y.to_kind(Kind::Double).to_device(Device::Cpu);
        let x_mean = x.mean_dim(0, true, Kind::Double);
        let y_mean = y.mean_dim(0, true, Kind::Double);
        let xc = &x - &x_mean;
        let yc = &y - &y_mean;
        let (n, d) = (xc.size()[0], xc.size()[1]);
        // Primal when features are few, dual (kernel) form otherwise.
        let primal = d <= n;
        let gram = if primal { xc.transpose(0, 1).matmul(&xc) } else { xc.matmul(&xc.transpose(0, 1)) };
        let rhs = if primal { xc.transpose(0, 1).matmul(&yc) } else { yc.shallow_clone() };
        let size = if primal { d } else { n };
        let eye = Tensor::eye(size, (Kind::Double, Device::Cpu));
        let mut best: Option<(f64, Ridge)> = None;
        for (i, &lambda) in LAMBDAS.iter().enumerate() {
            let sol = Tensor::f_linalg_solve(&(&gram + &eye * lambda), &rhs, true)?;
            let w = if primal { sol } else { xc.transpose(0, 1).matmul(&sol) };
            let ridge = Ridge { x_mean: x_mean.shallow_clone(), w, y_mean: y_mean.shallow_clone(), lambda };
            let score = match (x_valid, y_valid) {
                (Some(xv), Some(yv)) if xv.size()[0] > 0 => {
                    let p = ridge.predict(xv);
                    f64::try_from((p - yv.to_kind(Kind::Double)).square().mean(Kind::Double))?
                }
                _ => (i as f64 - (LAMBDAS.len() as f64 - 3.0)).abs(),
            };
            if best.as_ref().is_none_or(|(s, _)| score < *s) {
                best = Some((score, ridge));
            }
        }
        Ok(best.expect("the grid is not empty").1)
    }

    /// Predictions `[n, outputs]` (f64).
    pub fn predict(&self, x: &Tensor) -> Tensor {
        (x.to_kind(Kind::Double).to_device(Device::Cpu) - &self.x_mean).matmul(&self.w) + &self.y_mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmer_frequencies_sum_to_one_per_k() {
        let v = kmers("ACGTAC", b"ACGT", 2);
        assert_eq!(v.len(), 4 + 16);
        assert!((v[..4].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((v[4..].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // AC occurs twice among 5 dimers.
        assert!((v[4 + 1] - 0.4).abs() < 1e-6);
    }

    #[test]
    fn ridge_recovers_a_linear_function() {
        let x = Tensor::randn([50, 3], (Kind::Double, Device::Cpu));
        let w = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).view([3, 1]);
        let y = x.matmul(&w) + 3.0;
        let r = Ridge::fit(&x, &y, Some(&x), Some(&y)).unwrap();
        let err = f64::try_from((r.predict(&x) - &y).abs().max()).unwrap();
        assert!(err < 0.05, "{err}");
    }
}
