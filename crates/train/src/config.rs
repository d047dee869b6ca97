//! Training settings, the learning-rate schedule, and the named model architectures.

use std::fmt;
use std::str::FromStr;

use biotorch_models::{Esm2Config, PositionEmbeddingType, SmilesGptConfig};
use biotorch_tokenizers::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// Masked language modelling (BERT / ESM-2).
    Mlm,
    /// Causal (next-token) language modelling (GPT), for the SMILES decoder.
    Clm,
}

impl fmt::Display for ObjectiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectiveKind::Mlm => "mlm",
            ObjectiveKind::Clm => "clm",
        })
    }
}

impl ObjectiveKind {
    /// What the objective trains, for titles: `masked-LM` or `causal-LM`.
    pub fn description(&self) -> &'static str {
        match self {
            ObjectiveKind::Mlm => "masked-LM",
            ObjectiveKind::Clm => "causal-LM",
        }
    }
}

/// How the learning rate decays after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Half a cosine from the peak down to `peak * min_lr_ratio`.
    Cosine,
    /// A straight line from the peak down to `peak * min_lr_ratio` (ESM-2's schedule).
    Linear,
}

impl FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cosine" => Ok(Schedule::Cosine),
            "linear" => Ok(Schedule::Linear),
            other => Err(Error::Setting(format!("unknown schedule `{other}`: use cosine or linear"))),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schedule::Cosine => "cosine",
            Schedule::Linear => "linear",
        })
    }
}

/// Every setting that shapes a training run. Stored in the checkpoint, so that `--resume`
/// continues with the same ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub objective: ObjectiveKind,
    /// Optimizer steps to run (each `accumulate` micro-batches). With `epochs` too, whichever
    /// ends first; with neither, one epoch.
    pub steps: Option<u64>,
    /// Passes over the training data.
    pub epochs: Option<u64>,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps (default: 5% of the run, at most 2000).
    pub warmup: Option<u64>,
    pub schedule: Schedule,
    /// The learning rate at the last step, as a fraction of the peak.
    pub min_lr_ratio: f64,
    /// Token budget of a micro-batch: sequences x padded length.
    pub batch_tokens: usize,
    /// Micro-batches per optimizer step (gradient accumulation).
    pub accumulate: usize,
    /// Maximum global gradient norm; 0 disables clipping.
    pub clip: f64,
    /// Decoupled (AdamW) weight decay, not applied to biases and LayerNorms.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Evaluate on the validation set every this many steps (and at the start and the end).
    pub eval_every: u64,
    /// Write a checkpoint every this many steps (and at the end).
    pub save_every: u64,
    /// Stop after this many evaluations without a lower validation loss.
    pub patience: Option<u64>,
    pub seed: u64,
    /// Longest sequence in tokens, specials excluded; longer ones are cropped at a random
    /// (seeded) offset.
    pub max_length: usize,
    /// Records sorted by length together before packing batches.
    pub lookahead: usize,
    /// Fraction of the training file held out for validation when no validation file is given.
    pub valid_fraction: f64,
    /// Fraction of tokens selected for the masked-LM loss.
    pub mask_prob: f64,
    /// Causal LM on SMILES: each training record is replaced, in each epoch, by a randomized
    /// SMILES of the same molecule (SMILES enumeration); validation keeps the SMILES as given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub augment: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            objective: ObjectiveKind::Mlm,
            steps: None,
            epochs: None,
            lr: 4e-4,
            warmup: None,
            schedule: Schedule::Cosine,
            min_lr_ratio: 0.1,
            batch_tokens: 4096,
            accumulate: 1,
            clip: 1.0,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-8,
            eval_every: 500,
            save_every: 1000,
            patience: None,
            seed: 0,
            max_length: 1022,
            lookahead: 1024,
            valid_fraction: 0.05,
            mask_prob: 0.15,
            augment: false,
        }
    }
}

/// Fields that may change when a run is resumed: they do not change what happens at a given
/// step (except `steps`/`epochs`, which move the end and so reshape the decay).
const RESUMABLE_CHANGES: [&str; 5] = ["steps", "epochs", "eval_every", "save_every", "patience"];

impl TrainConfig {
    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Setting(msg));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("the learning rate must be positive, found {}", self.lr));
        }
        if self.batch_tokens == 0 {
            return bad("--batch-tokens must be at least 1".into());
        }
        if self.accumulate == 0 {
            return bad("--accumulate must be at least 1".into());
        }
        if self.steps == Some(0) || self.epochs == Some(0) {
            return bad("--steps and --epochs must be at least 1".into());
        }
        if self.augment && self.objective != ObjectiveKind::Clm {
            return bad("SMILES augmentation (--augment) is for causal-LM training on SMILES (--objective clm)".into());
        }
        if self.eval_every == 0 || self.save_every == 0 {
            return bad("--eval-every and --save-every must be at least 1".into());
        }
        if self.max_length == 0 || self.lookahead == 0 {
            return bad("--max-length and the look-ahead must be at least 1".into());
        }
        if !(self.clip >= 0.0 && self.weight_decay >= 0.0) {
            return bad("--clip and --weight-decay must be 0 or more".into());
        }
        if !(0.0..1.0).contains(&self.valid_fraction) {
            return bad(format!("--valid-fraction must be in [0, 1), found {}", self.valid_fraction));
        }
        if !(self.mask_prob > 0.0 && self.mask_prob < 1.0) {
            return bad(format!("the mask probability must be in (0, 1), found {}", self.mask_prob));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad(format!("the final lr ratio must be in [0, 1], found {}", self.min_lr_ratio));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name} must be in [0, 1), found {b}"));
            }
        }
        Ok(())
    }

    /// The differences between a checkpoint's settings (`self`) and the ones asked for on
    /// resume, other than the fields that may change; each as `name: checkpoint X, asked Y`.
    pub fn resume_differences(&self, asked: &TrainConfig) -> Vec<String> {
        let stored = serde_json::to_value(self).expect("a config serializes");
        let asked = serde_json::to_value(asked).expect("a config serializes");
        let (Some(stored), Some(asked)) = (stored.as_object(), asked.as_object()) else {
            return Vec::new();
        };
        stored
            .iter()
            .filter(|(k, _)| !RESUMABLE_CHANGES.contains(&k.as_str()))
            .filter_map(|(k, v)| {
                let other = asked.get(k).unwrap_or(&serde_json::Value::Null);
                (v != other)
                    .then(|| format!("--{} is {other} but the checkpoint was trained with {v}", k.replace('_', "-")))
            })
            .collect()
    }

    /// The warm-up length for a run of `total` steps.
    pub fn warmup_steps(&self, total: u64) -> u64 {
        self.warmup.unwrap_or_else(|| (total / 20).min(2000))
    }

    /// The learning rate of optimizer step `step` (1-based) in a run of `total` steps:
    /// `lr * step / warmup` during the warm-up, then the decay down to `lr * min_lr_ratio`
    /// at the last step.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        let warmup = self.warmup_steps(total);
        if step <= warmup && warmup > 0 {
            return self.lr * step as f64 / warmup as f64;
        }
        let min = self.lr * self.min_lr_ratio;
        let span = total.saturating_sub(warmup);
        if span == 0 {
            return self.lr;
        }
        let progress = ((step - warmup) as f64 / span as f64).clamp(0.0, 1.0);
        match self.schedule {
            Schedule::Linear => self.lr - (self.lr - min) * progress,
            Schedule::Cosine => min + (self.lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// The names [`named_arch`] knows, with a description.
pub const ARCH_NAMES: [(&str, &str); 3] = [
    ("esm2-tiny", "2 layers, 64 wide, 4 heads, feed-forward 256 (tests, smoke runs)"),
    ("esm2-small", "4 layers, 128 wide, 4 heads, feed-forward 512"),
    ("esm2_t6_8M", "the shape of facebook/esm2_t6_8M_UR50D: 6 layers, 320 wide, 20 heads, feed-forward 1280"),
];

/// An ESM-2 configuration by name (see [`ARCH_NAMES`]), sized for `tokenizer`'s vocabulary
/// with its `<mask>` and `<pad>` ids: the ESM-2 architecture (rotary positions, token
/// dropout, pre-LayerNorm, no dropout) with the DNA vocabulary for DNA tokenizers.
pub fn named_arch(name: &str, tokenizer: &dyn Tokenizer) -> Result<Esm2Config> {
    let mut config = Esm2Config::esm2_t6_8m();
    let (layers, hidden, heads, ffn) = match name {
        "esm2-tiny" => (2, 64, 4, 256),
        "esm2-small" => (4, 128, 4, 512),
        "esm2_t6_8M" | "esm2-t6-8m" | "esm2_t6_8m" => (6, 320, 20, 1280),
        other => {
            let names: Vec<&str> = ARCH_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(Error::Setting(format!(
                "unknown architecture `{other}`: use one of {} or the path of an HF config.json",
                names.join(", ")
            )));
        }
    };
    config.num_hidden_layers = layers;
    config.hidden_size = hidden;
    config.num_attention_heads = heads;
    config.intermediate_size = ffn;
    fit_to_tokenizer(&mut config, tokenizer)?;
    Ok(config)
}

/// The named shapes of the causal SMILES decoder (Llama layout), for `--arch NAME` with
/// `--objective clm`.
pub const DECODER_ARCH_NAMES: [(&str, &str); 3] = [
    ("gpt-tiny", "2 layers, 64 wide, 4 heads, feed-forward 176 (tests, smoke runs)"),
    ("gpt-mini", "4 layers, 128 wide, 4 heads, feed-forward 352 (the bundled smiles-small)"),
    ("gpt-small", "4 layers, 256 wide, 8 heads, feed-forward 688"),
];

/// A SMILES decoder configuration by name (see [`DECODER_ARCH_NAMES`]), sized for
/// `tokenizer`'s vocabulary with its `<pad>`, `<bos>` and `<eos>` ids.
pub fn named_decoder_arch(name: &str, tokenizer: &dyn Tokenizer) -> Result<SmilesGptConfig> {
    let (layers, hidden, heads, ffn) = match name {
        "gpt-tiny" => (2, 64, 4, 176),
        "gpt-mini" => (4, 128, 4, 352),
        "gpt-small" => (4, 256, 8, 688),
        other => {
            let names: Vec<&str> = DECODER_ARCH_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(Error::Setting(format!(
                "unknown decoder architecture `{other}`: use one of {} or the path of an HF config.json",
                names.join(", ")
            )));
        }
    };
    let mut config = SmilesGptConfig::small(tokenizer.vocab_size() as i64);
    config.num_hidden_layers = layers;
    config.hidden_size = hidden;
    config.num_attention_heads = heads;
    config.num_key_value_heads = Some(heads);
    config.head_dim = Some(hidden / heads);
    config.intermediate_size = ffn;
    config.pad_token_id = Some(need_for(tokenizer.pad_id(), "<pad>", tokenizer, "causal-LM")? as i64);
    config.bos_token_id = Some(need_for(tokenizer.bos_id(), "<bos>", tokenizer, "causal-LM")? as i64);
    config.eos_token_id = Some(need_for(tokenizer.eos_id(), "<eos>", tokenizer, "causal-LM")? as i64);
    config.validate()?;
    Ok(config)
}

/// Checks that a decoder configuration (from `--arch CONFIG.json` or `--init MODEL`) fits
/// the tokenizer: same vocabulary size and the same `<pad>`, `<bos>` and `<eos>` ids.
pub fn check_decoder_fits(config: &SmilesGptConfig, tokenizer: &dyn Tokenizer) -> Result<()> {
    let vocab = tokenizer.vocab_size() as i64;
    if config.vocab_size != vocab {
        return Err(Error::Mismatch(format!(
            "vocab_size is {} but the {} tokenizer has {vocab} tokens",
            config.vocab_size,
            tokenizer.name()
        )));
    }
    for (field, value, token, id) in [
        ("pad_token_id", config.pad_token_id, "<pad>", tokenizer.pad_id()),
        ("bos_token_id", config.bos_token_id, "<bos>", tokenizer.bos_id()),
        ("eos_token_id", config.eos_token_id, "<eos>", tokenizer.eos_id()),
    ] {
        if value != id.map(i64::from) {
            return Err(Error::Mismatch(format!("{field} is {value:?} but the tokenizer's {token} is {id:?}")));
        }
    }
    Ok(())
}

/// Sets vocabulary size and special ids of a fresh configuration from the tokenizer.
fn fit_to_tokenizer(config: &mut Esm2Config, tokenizer: &dyn Tokenizer) -> Result<()> {
    config.vocab_size = tokenizer.vocab_size() as i64;
    config.mask_token_id = Some(need(tokenizer.mask_id(), "<mask>", tokenizer)? as i64);
    config.pad_token_id = Some(need(tokenizer.pad_id(), "<pad>", tokenizer)? as i64);
    config.validate()?;
    Ok(())
}

fn need(id: Option<u32>, token: &str, tokenizer: &dyn Tokenizer) -> Result<u32> {
    need_for(id, token, tokenizer, "masked-LM")
}

fn need_for(id: Option<u32>, token: &str, tokenizer: &dyn Tokenizer, what: &str) -> Result<u32> {
    id.ok_or_else(|| {
        Error::Mismatch(format!("the {} tokenizer has no {token} token, which {what} training needs", tokenizer.name()))
    })
}

/// Checks that a model configuration (from `--arch CONFIG.json` or `--init MODEL`) fits the
/// tokenizer: same vocabulary size and the same `<mask>` and `<pad>` ids.
pub fn check_arch_fits(config: &Esm2Config, tokenizer: &dyn Tokenizer) -> Result<()> {
    let vocab = tokenizer.vocab_size() as i64;
    if config.vocab_size != vocab {
        return Err(Error::Mismatch(format!(
            "vocab_size is {} but the {} tokenizer has {vocab} tokens",
            config.vocab_size,
            tokenizer.name()
        )));
    }
    for (field, value, token, id) in [
        ("mask_token_id", config.mask_token_id, "<mask>", tokenizer.mask_id()),
        ("pad_token_id", config.pad_token_id, "<pad>", tokenizer.pad_id()),
    ] {
        let id = need(id, token, tokenizer)? as i64;
        if value != Some(id) {
            return Err(Error::Mismatch(format!(
                "{field} is {} but the {} tokenizer's {token} is {id}",
                value.map_or("missing".to_owned(), |v| v.to_string()),
                tokenizer.name()
            )));
        }
    }
    if config.position_embedding_type == PositionEmbeddingType::Absolute && config.max_position_embeddings < 3 {
        return Err(Error::Mismatch("max_position_embeddings is too small".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let config = TrainConfig { lr: 1.0, warmup: Some(10), min_lr_ratio: 0.1, ..TrainConfig::default() };
        assert!((config.lr_at(1, 100) - 0.1).abs() < 1e-12);
        assert!((config.lr_at(10, 100) - 1.0).abs() < 1e-12);
        assert!((config.lr_at(100, 100) - 0.1).abs() < 1e-12);
        assert!((config.lr_at(55, 100) - 0.55).abs() < 1e-12, "cosine midpoint");
        let linear = TrainConfig { schedule: Schedule::Linear, ..config.clone() };
        assert!((linear.lr_at(55, 100) - 0.55).abs() < 1e-12);
        assert!((linear.lr_at(32, 100) - 0.78).abs() < 1e-12);
        assert!(config.lr_at(30, 100) > linear.lr_at(30, 100), "cosine stays high longer");
        for s in 11..100 {
            assert!(config.lr_at(s + 1, 100) <= config.lr_at(s, 100));
        }
    }

    #[test]
    fn resume_differences_ignore_the_extendable_fields() {
        let a = TrainConfig::default();
        let b = TrainConfig { steps: Some(99), patience: Some(3), lr: 1e-3, ..a.clone() };
        let d = a.resume_differences(&b);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("--lr is 0.001"), "{d:?}");
    }

    #[test]
    fn named_archs_fit_dna_tokenizers() {
        let tok = biotorch_tokenizers::from_spec("dna-kmer:3").unwrap();
        let config = named_arch("esm2-tiny", tok.as_ref()).unwrap();
        assert_eq!(config.vocab_size, tok.vocab_size() as i64);
        assert_eq!(config.mask_token_id, tok.mask_id().map(i64::from));
        check_arch_fits(&config, tok.as_ref()).unwrap();
        let esm = biotorch_tokenizers::from_spec("esm2").unwrap();
        let err = check_arch_fits(&config, esm.as_ref()).unwrap_err().to_string();
        assert!(err.contains(&format!("vocab_size is {} but the esm2 tokenizer has 33", tok.vocab_size())), "{err}");
        assert!(named_arch("esm3", esm.as_ref()).is_err());
    }
}
