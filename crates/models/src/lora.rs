//! LoRA adapters (Hu et al. 2021, <https://arxiv.org/abs/2106.09685>) for ESM encoders, in the layout of HF PEFT
//! (<https://github.com/huggingface/peft>, `LoraConfig`, `LoraLayer`).
//!
//! A target layer `y = x W^T + b` becomes `y + (dropout(x) A^T B^T) * alpha / r` with `A` `[r, in]` (initialised
//! like PEFT: Kaiming-uniform with `a = sqrt(5)`) and `B` `[out, r]` (zeros), so a fresh adapter changes nothing. The
//! base weights stay frozen and are not written; an adapter folder holds `adapter_config.json` and
//! `adapter_model.safetensors` with PEFT's names (`base_model.model.encoder.layer.0.attention.self.query.lora_A.weight`,
//! with `esm.` after `base_model.model.` when the base is `EsmForMaskedLM`), so that
//! `peft.PeftModel.from_pretrained(EsmModel.from_pretrained(base), dir)` loads it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::{Error, Result};

/// The adapter's config file (PEFT's name).
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The adapter's weights (PEFT's name).
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The modules of an ESM layer that can carry an adapter, by their HF names relative to `encoder.layer.<i>`.
pub(crate) const ESM_MODULES: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// PEFT's `adapter_config.json` for LoRA: the fields biotorch reads and writes. Fields it does not implement are
/// checked by [`LoraConfig::validate`], so an adapter that would compute something else is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    #[serde(default = "lora")]
    pub peft_type: String,
    /// The rank `r` of `A` and `B`.
    pub r: i64,
    /// The scale is `lora_alpha / r` (`lora_alpha / sqrt(r)` with `use_rslora`).
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    /// Module names or name suffixes (PEFT's rule: a module matches `t` when its name is `t` or ends with `.t`).
    pub target_modules: TargetModules,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    #[serde(default = "none")]
    pub bias: String,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Only these layers get adapters (all when absent).
    #[serde(default)]
    pub layers_to_transform: Option<LayerList>,
    #[serde(default)]
    pub rank_pattern: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub alpha_pattern: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub inference_mode: bool,
    /// Everything else PEFT writes (`init_lora_weights`, `revision`, ...), kept as it is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `target_modules`: PEFT accepts a list or a regular expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    List(Vec<String>),
    Regex(String),
}

/// `layers_to_transform`: one index or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LayerList {
    One(usize),
    Many(Vec<usize>),
}

fn lora() -> String {
    "LORA".into()
}

fn none() -> String {
    "none".into()
}

impl LoraConfig {
    /// A config with PEFT's field defaults for everything but rank, alpha, dropout and targets.
    pub fn new(r: i64, lora_alpha: f64, lora_dropout: f64, target_modules: Vec<String>) -> LoraConfig {
        LoraConfig {
            peft_type: lora(),
            r,
            lora_alpha,
            lora_dropout,
            target_modules: TargetModules::List(target_modules),
            use_rslora: false,
            use_dora: false,
            bias: none(),
            fan_in_fan_out: false,
            layers_to_transform: None,
            rank_pattern: Default::default(),
            alpha_pattern: Default::default(),
            modules_to_save: None,
            base_model_name_or_path: None,
            task_type: None,
            inference_mode: true,
            extra: Default::default(),
        }
    }

    /// The defaults of `biotorch finetune --lora`: r = 8, alpha = 16, dropout 0.05 on query, key, value and dense.
    pub fn esm_default() -> LoraConfig {
        LoraConfig::new(8, 16.0, 0.05, ["query", "key", "value", "dense"].map(String::from).to_vec())
    }

    /// Refuses what biotorch does not compute (DoRA, trained biases, per-module ranks, regex targets, ...).
    pub fn validate(&self) -> Result<()> {
        let refuse = |what: &str| Err(Error::Unsupported(format!("LoRA adapter: {what} is not supported")));
        if self.peft_type != "LORA" {
            return refuse(&format!("peft_type {:?} (only LORA)", self.peft_type));
        }
        if self.r < 1 {
            return Err(Error::Usage(format!("LoRA rank must be at least 1, not {}", self.r)));
        }
        if !(self.lora_alpha.is_finite() && self.lora_alpha > 0.0) {
            return Err(Error::Usage(format!("LoRA alpha must be positive, not {}", self.lora_alpha)));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(Error::Usage(format!("LoRA dropout must be in [0, 1), not {}", self.lora_dropout)));
        }
        if self.use_dora {
            return refuse("use_dora (DoRA)");
        }
        if self.bias != "none" {
            return refuse(&format!("bias {:?} (only \"none\")", self.bias));
        }
        if self.fan_in_fan_out {
            return refuse("fan_in_fan_out");
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return refuse("rank_pattern/alpha_pattern");
        }
        if self.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()) {
            return refuse("modules_to_save");
        }
        // Newer PEFT options that change what is computed: refused unless off (null, false, empty).
        for key in [
            "lora_bias",
            "use_qalora",
            "exclude_modules",
            "layer_replication",
            "target_parameters",
            "trainable_token_indices",
        ] {
            let on = match self.extra.get(key) {
                None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => false,
                Some(serde_json::Value::Array(a)) => !a.is_empty(),
                Some(serde_json::Value::Object(o)) => !o.is_empty(),
                Some(_) => true,
            };
            if on {
                return refuse(&format!("{key} = {}", self.extra[key]));
            }
        }
        match &self.target_modules {
            TargetModules::Regex(r) => return refuse(&format!("target_modules as a regular expression ({r:?})")),
            TargetModules::List(list) if list.is_empty() => {
                return Err(Error::Usage("LoRA target_modules is empty".into()))
            }
            TargetModules::List(list) => {
                if let Some(bad) = list.iter().find(|t| !ESM_MODULES.iter().any(|m| matches(m, t))) {
                    return Err(Error::Usage(format!(
                        "LoRA target module {bad:?} matches no layer of an ESM encoder (choose among query, key, \
                         value, dense, or {})",
                        ESM_MODULES.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// Whether module `name` (relative to `encoder.layer.<i>`) of layer `layer` gets an adapter.
    pub(crate) fn targets(&self, layer: usize, name: &str) -> bool {
        let in_layers = match &self.layers_to_transform {
            None => true,
            Some(LayerList::One(l)) => *l == layer,
            Some(LayerList::Many(ls)) => ls.contains(&layer),
        };
        let TargetModules::List(list) = &self.target_modules else { return false };
        in_layers && list.iter().any(|t| matches(&format!("encoder.layer.{layer}.{name}"), t))
    }

    /// Reads `adapter_config.json` from an adapter folder.
    pub fn from_dir(dir: &Path) -> Result<LoraConfig> {
        let path = dir.join(ADAPTER_CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let config: LoraConfig = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            reason: format!("not a PEFT LoRA adapter config: {e}"),
        })?;
        config.validate().map_err(|e| Error::Config { path, reason: e.to_string() })?;
        Ok(config)
    }
}

/// PEFT's suffix rule.
fn matches(module: &str, target: &str) -> bool {
    module == target || module.ends_with(&format!(".{target}"))
}

/// The adapter of one linear layer.
#[derive(Debug)]
pub(crate) struct LoraLinear {
    /// `[r, in]`.
    pub(crate) a: Tensor,
    /// `[out, r]`.
    pub(crate) b: Tensor,
    pub(crate) scaling: f64,
    pub(crate) dropout: f64,
}

impl LoraLinear {
    /// Fresh weights in `vs` (at `<vs>/lora_A/weight` and `<vs>/lora_B/weight`), initialised like PEFT.
    pub(crate) fn new(vs: nn::Path, config: &LoraConfig, in_dim: i64, out_dim: i64) -> LoraLinear {
        // kaiming_uniform_(a = sqrt(5)) on [r, in]: bound = sqrt(6 / ((1 + 5) * fan_in)) = 1 / sqrt(fan_in).
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a = (&vs / "lora_A").var("weight", &[config.r, in_dim], nn::Init::Uniform { lo: -bound, up: bound });
        let b = (&vs / "lora_B").zeros("weight", &[out_dim, config.r]);
        LoraLinear { a, b, scaling: config.scaling(), dropout: config.lora_dropout }
    }

    /// `(dropout(x) A^T B^T) * scaling`.
    pub(crate) fn delta(&self, x: &Tensor, train: bool) -> Tensor {
        let x = if train && self.dropout > 0.0 { x.dropout(self.dropout, true) } else { x.shallow_clone() };
        x.linear(&self.a, None::<&Tensor>).linear(&self.b, None::<&Tensor>) * self.scaling
    }

    /// `scaling * B A`, `[out, in]`: what merging adds to the base weight.
    pub(crate) fn merged_delta(&self) -> Tensor {
        self.b.matmul(&self.a) * self.scaling
    }
}

/// An adapter's weights file entry name for module `name` of layer `layer`, matrix `ab` (`A` or `B`).
pub(crate) fn peft_key(esm_prefix: bool, layer: usize, name: &str, ab: char) -> String {
    let esm = if esm_prefix { "esm." } else { "" };
    format!("base_model.model.{esm}encoder.layer.{layer}.{name}.lora_{ab}.weight")
}

/// Where an adapter was read from, for error messages.
pub(crate) fn weights_path(dir: &Path) -> PathBuf {
    dir.join(ADAPTER_WEIGHTS_FILE)
}
