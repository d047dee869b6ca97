//! Ancestral sampling from a causal language model: temperature, top-k and top-p (nucleus)
//! filtering as HuggingFace transformers' `TemperatureLogitsWarper`, `TopKLogitsWarper` and
//! `TopPLogitsWarper` define them (v4.57.1), and a counter-based random stream.
//!
//! Randomness does not come from libtorch's global generator. Every draw is the uniform
//! number `u(seed, sample index, step)` from a SplitMix64-style hash, turned into a token by
//! inverting the cumulative distribution on the device. So a given seed gives the same
//! samples on every call, whatever the batch size, whether the KV cache is used, and whatever
//! else uses libtorch's generator meanwhile; across devices the samples differ only where
//! floating-point differences move a cumulative probability across the drawn number. The
//! uniforms for a whole batch are uploaded once, so the decoding loop does not wait on the host.
//!
//! The model side is [`SmilesGpt::sample`](crate::SmilesGpt::sample).

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// How to sample; see [`SmilesGpt::sample`](crate::SmilesGpt::sample).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    /// Divides the logits before filtering; `0` means greedy decoding (argmax, ties to the
    /// lowest id). Default 1.
    pub temperature: f64,
    /// Keep only the `k` most likely tokens (ties at the k-th logit are all kept, as in HF).
    /// `None` or `Some(0)`: no top-k filter.
    pub top_k: Option<i64>,
    /// Keep the smallest set of most likely tokens whose probability (after temperature and
    /// top-k) reaches `p`; the most likely token is always kept. `None` or `Some(1.0)`: off.
    pub top_p: Option<f64>,
    /// The most tokens generated per sample after `<bos>`, `<eos>` included. A sample that has
    /// not produced `<eos>` by then is returned unfinished. Default 128.
    pub max_length: i64,
    /// Samples decoded together. Default 256.
    pub batch_size: usize,
    /// The seed of the random stream. Default 0.
    pub seed: u64,
    /// Decode with the KV cache (O(T) work per token) or re-encode the whole prefix at every
    /// step (O(T²), for comparison). Both give the same samples. Default true.
    pub use_cache: bool,
    /// Token ids every sample starts with after `<bos>`, teacher-forced (say, a scaffold written to end at its
    /// attachment atom, which sampling then decorates). A sample's `tokens` begin with them; its `nll` and
    /// `max_length` count only the tokens drawn after them. Default empty.
    pub prefix: Vec<i64>,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            max_length: 128,
            batch_size: 256,
            seed: 0,
            use_cache: true,
            prefix: Vec::new(),
        }
    }
}

impl SamplingOptions {
    /// Checks the ranges: temperature ≥ 0 and finite, top-k ≥ 0, top-p in (0, 1],
    /// max_length ≥ 1, batch_size ≥ 1.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::Input(reason));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!("temperature must be a finite number >= 0 (0 is greedy), found {}", self.temperature));
        }
        if let Some(k) = self.top_k {
            if k < 0 {
                return bad(format!("top-k must be >= 0 (0 turns it off), found {k}"));
            }
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return bad(format!("top-p must be in (0, 1] (1 turns it off), found {p}"));
            }
        }
        if self.max_length < 1 {
            return bad(format!("max_length must be at least 1, found {}", self.max_length));
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        Ok(())
    }

    /// True when decoding is deterministic argmax (temperature 0).
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    fn top_k(&self) -> Option<i64> {
        self.top_k.filter(|&k| k > 0)
    }

    fn top_p(&self) -> Option<f64> {
        self.top_p.filter(|&p| p < 1.0)
    }
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The token ids after `<bos>` (the options' `prefix`, then the generated ones), without
    /// the final `<eos>`.
    pub tokens: Vec<u32>,
    /// The negative log-likelihood of the generated tokens (those in `tokens` after the
    /// prefix, plus `<eos>` when `finished`) under the model's own distribution at temperature
    /// 1, without top-k or top-p: `-Σ log p(x_t | x_<t)` in nats. Without a prefix it is what
    /// teacher-forced [`SmilesGpt::nll`](crate::SmilesGpt::nll) gives for `<bos> tokens <eos>`,
    /// whatever temperature and filters were used to draw the sample.
    pub nll: f64,
    /// Whether `<eos>` was generated within `max_length` tokens.
    pub finished: bool,
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finalizer, a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The uniform number in (0, 1) used for sample `index` at decoding step `step`.
pub fn uniform(seed: u64, index: u64, step: u64) -> f64 {
    let key = mix(seed.wrapping_add(GOLDEN));
    let per_sample = mix(key.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN)));
    let bits = mix(per_sample ^ step.wrapping_add(1).wrapping_mul(0xd1b5_4a32_d192_ed03));
    ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// The uniforms `[steps, batch]` (Double) for samples `first..first + batch`, on `device`.
pub fn uniforms(seed: u64, first: u64, batch: i64, steps: i64, device: Device) -> Tensor {
    let mut values = Vec::with_capacity((batch * steps) as usize);
    for step in 0..steps as u64 {
        for row in 0..batch as u64 {
            values.push(uniform(seed, first + row, step));
        }
    }
    crate::memory::upload(&Tensor::from_slice(&values).view([steps, batch]), device)
}

/// The logits after temperature, top-k and top-p, as Double `[batch, vocab]`; removed tokens
/// are `-inf`. `logits` is `[batch, vocab]`. Greedy options (temperature 0) return the logits
/// unscaled.
pub fn filter_logits(logits: &Tensor, options: &SamplingOptions) -> Tensor {
    let mut scores = logits.to_kind(Kind::Double);
    if options.temperature > 0.0 && options.temperature != 1.0 {
        scores /= options.temperature;
    }
    let vocab = scores.size()[scores.dim() - 1];
    if let Some(k) = options.top_k() {
        let k = k.min(vocab);
        let (top, _) = scores.topk(k, -1, true, true);
        let kth = top.narrow(-1, k - 1, 1);
        scores = scores.masked_fill(&scores.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    if let Some(p) = options.top_p() {
        // TopPLogitsWarper: sort ascending, drop the tokens whose cumulative probability is
        // at most 1 - p, always keep the most likely one.
        let (sorted, order) = scores.sort(-1, false);
        let cumulative = sorted.softmax(-1, Kind::Double).cumsum(-1, Kind::Double);
        let remove_sorted = cumulative.le(1.0 - p);
        let _ = remove_sorted.narrow(-1, vocab - 1, 1).fill_(0);
        let remove = remove_sorted.scatter(-1, &order, &remove_sorted);
        scores = scores.masked_fill(&remove, f64::NEG_INFINITY);
    }
    scores
}

/// Draws one token per row of `logits` (`[batch, vocab]`) with the uniforms `u` (`[batch]`,
/// Double, in (0, 1)): the first token whose cumulative filtered probability reaches `u`.
/// Greedy options take the argmax. Returns Int64 `[batch]`.
pub fn choose_tokens(logits: &Tensor, u: &Tensor, options: &SamplingOptions) -> Tensor {
    if options.is_greedy() {
        return logits.argmax(-1, false);
    }
    let scores = filter_logits(logits, options);
    let vocab = scores.size()[scores.dim() - 1];
    let cdf = scores.softmax(-1, Kind::Double).cumsum(-1, Kind::Double);
    let total = cdf.narrow(-1, vocab - 1, 1);
    let threshold = u.to_kind(Kind::Double).unsqueeze(-1) * total;
    cdf.lt_tensor(&threshold).sum_dim_intlist(-1, false, Kind::Int64).clamp_max(vocab - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniforms_are_in_the_open_interval_and_keyed() {
        let mut sum = 0.0;
        for i in 0..1000 {
            let u = uniform(7, i, 3);
            assert!(u > 0.0 && u < 1.0);
            sum += u;
        }
        assert!((sum / 1000.0 - 0.5).abs() < 0.05);
        assert_ne!(uniform(7, 0, 0), uniform(8, 0, 0));
        assert_ne!(uniform(7, 0, 0), uniform(7, 1, 0));
        assert_ne!(uniform(7, 0, 0), uniform(7, 0, 1));
        let t = uniforms(7, 5, 3, 2, Device::Cpu);
        assert_eq!(t.size(), [2, 3]);
        assert_eq!(t.double_value(&[1, 2]), uniform(7, 7, 1));
    }

    #[test]
    fn options_are_checked() {
        assert!(SamplingOptions::default().validate().is_ok());
        for bad in [
            SamplingOptions { temperature: -1.0, ..Default::default() },
            SamplingOptions { top_p: Some(0.0), ..Default::default() },
            SamplingOptions { top_k: Some(-2), ..Default::default() },
            SamplingOptions { max_length: 0, ..Default::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
