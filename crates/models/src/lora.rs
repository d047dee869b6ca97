//! LoRA adapters (Hu et al. 2021, <https://arxiv.org/abs/2106.09685>) for ESM encoders and Llama-layout decoders, in
//! the layout of HF PEFT
//! (<https://github.com/huggingface/peft>, `LoraConfig`, `LoraLayer`).
//!
//! A target layer `y = x W^T + b` becomes `y + (dropout(x) A^T B^T) * alpha / r` with `A` `[r, in]` (initialised
//! like PEFT: Kaiming-uniform with `a = sqrt(5)`) and `B` `[out, r]` (zeros), so a fresh adapter changes nothing. The
//! base weights stay frozen and are not written; an adapter folder holds `adapter_config.json` and
//! `adapter_model.safetensors` with PEFT's names (`base_model.model.encoder.layer.0.attention.self.query.lora_A.weight`,
//! with `esm.` after `base_model.model.` when the base is `EsmForMaskedLM`), so that
//! `peft.PeftModel.from_pretrained(EsmModel.from_pretrained(base), dir)` loads it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use crate::checkpoint::{write_atomically, write_safetensors, Checkpoint};
use crate::error::{Error, Result};

/// The adapter's config file (PEFT's name).
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The adapter's weights (PEFT's name).
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Where the adaptable layers of an architecture are, by their HF names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arch {
    /// The model in words, for messages.
    pub(crate) name: &'static str,
    /// The layers' prefix in the bare model (`encoder.layer`, `layers`).
    pub(crate) layers: &'static str,
    /// The bare model's prefix inside the model with a head (`esm.`, `model.`).
    pub(crate) outer: &'static str,
    /// Whether adapter files are written with `outer`: PEFT's names depend on the class the base is loaded as
    /// (`EsmModel` for embeddings, `LlamaForCausalLM` for a decoder); both are read.
    pub(crate) write_outer: bool,
    /// The modules of one layer that can carry an adapter, relative to `<layers>.<i>`.
    pub(crate) modules: &'static [&'static str],
    /// The defaults of `finetune --lora-targets`.
    pub(crate) default_targets: &'static [&'static str],
    /// Adapter tensors of modules outside the layers, ignored when read (heads biotorch does not run).
    pub(crate) ignored: &'static [&'static str],
}

pub(crate) const ESM: Arch = Arch {
    name: "an ESM encoder",
    layers: "encoder.layer",
    outer: "esm.",
    write_outer: false,
    modules: &[
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ],
    default_targets: &["query", "key", "value", "dense"],
    ignored: &["pooler.", "lm_head.", "contact_head."],
};

pub(crate) const LLAMA: Arch = Arch {
    name: "a Llama-layout decoder",
    layers: "layers",
    outer: "model.",
    write_outer: true,
    modules: &[
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    ],
    default_targets: &["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    ignored: &["lm_head."],
};

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

    /// The defaults of `biotorch finetune --lora` for an ESM encoder: r = 8, alpha = 16, no dropout (PEFT's default; dropout copies every adapted layer's input for the backward pass) on query, key,
    /// value and dense.
    pub fn esm_default() -> LoraConfig {
        LoraConfig::new(8, 16.0, 0.0, ESM.default_targets.iter().map(|t| t.to_string()).collect())
    }

    /// The same for a Llama-layout decoder, on every projection (q, k, v, o, gate, up, down).
    pub fn llama_default() -> LoraConfig {
        LoraConfig::new(8, 16.0, 0.0, LLAMA.default_targets.iter().map(|t| t.to_string()).collect())
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
            TargetModules::List(_) => {}
        }
        Ok(())
    }

    /// This config for an ESM encoder (`decoder` false) or a Llama-layout decoder: empty target modules become the
    /// architecture's defaults, then everything is checked ([`LoraConfig::validate`], the targets against the
    /// architecture's layers).
    pub fn resolved(mut self, decoder: bool) -> Result<LoraConfig> {
        let arch = if decoder { &LLAMA } else { &ESM };
        if matches!(&self.target_modules, TargetModules::List(l) if l.is_empty()) {
            self.target_modules = TargetModules::List(arch.default_targets.iter().map(|t| t.to_string()).collect());
        }
        self.validate()?;
        self.check_targets(arch)?;
        Ok(self)
    }

    /// Checks that every target module names a layer of `arch`.
    pub(crate) fn check_targets(&self, arch: &Arch) -> Result<()> {
        let TargetModules::List(list) = &self.target_modules else { return Ok(()) };
        if let Some(bad) = list.iter().find(|t| !arch.modules.iter().any(|m| matches(m, t))) {
            return Err(Error::Usage(format!(
                "LoRA target module {bad:?} matches no layer of {} (choose among {}, or {})",
                arch.name,
                arch.default_targets.join(", "),
                arch.modules.join(", ")
            )));
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

    /// Whether module `name` (relative to `<layers>.<i>`) of layer `layer` gets an adapter.
    pub(crate) fn targets(&self, arch: &Arch, layer: usize, name: &str) -> bool {
        let in_layers = match &self.layers_to_transform {
            None => true,
            Some(LayerList::One(l)) => *l == layer,
            Some(LayerList::Many(ls)) => ls.contains(&layer),
        };
        let TargetModules::List(list) = &self.target_modules else { return false };
        in_layers && list.iter().any(|t| matches(&format!("{}.{layer}.{name}", arch.layers), t))
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

/// An adapter's weights file entry name for module `name` of layer `layer`, matrix `ab` (`A` or `B`), with or
/// without the outer model's prefix.
pub(crate) fn peft_key(arch: &Arch, outer: bool, layer: usize, name: &str, ab: char) -> String {
    let prefix = if outer { arch.outer } else { "" };
    format!("base_model.model.{prefix}{}.{layer}.{name}.lora_{ab}.weight", arch.layers)
}

/// One linear layer that can carry an adapter.
pub(crate) struct Site<'a> {
    pub(crate) layer: usize,
    /// Relative to `<layers>.<i>` ([`Arch::modules`]).
    pub(crate) name: &'static str,
    /// `[out, in]`.
    pub(crate) weight: &'a mut Tensor,
    pub(crate) lora: &'a mut Option<LoraLinear>,
}

/// Adds fresh adapters to the `sites` that `config` targets, in a new variable store on `device`.
pub(crate) fn add(arch: &Arch, sites: Vec<Site<'_>>, config: &LoraConfig, device: Device) -> Result<nn::VarStore> {
    config.validate()?;
    config.check_targets(arch)?;
    let vs = nn::VarStore::new(device);
    let mut added = 0;
    for site in sites {
        if config.targets(arch, site.layer, site.name) {
            let (out_dim, in_dim) = site.weight.size2().expect("linear weights are 2-D");
            let path = vs.root() / format!("layer{}_{}", site.layer, site.name.replace('.', "_"));
            *site.lora = Some(LoraLinear::new(path, config, in_dim, out_dim));
            added += 1;
        }
    }
    if added == 0 {
        return Err(Error::Usage(format!(
            "the LoRA config targets no layer of this model (layers_to_transform {:?})",
            config.layers_to_transform
        )));
    }
    Ok(vs)
}

/// Copies the adapter weights of folder `dir` into the adapters of `sites`; refuses missing or mis-shaped tensors,
/// and tensors that match no adapted layer (other than [`Arch::ignored`] modules).
pub(crate) fn fill(arch: &Arch, sites: Vec<Site<'_>>, dir: &Path) -> Result<()> {
    let weights = weights_path(dir);
    let mut checkpoint = Checkpoint::open(std::slice::from_ref(&weights))?;
    let mut used = BTreeSet::new();
    let _guard = tch::no_grad_guard();
    for site in sites {
        let Some(adapter) = site.lora.as_mut() else { continue };
        for (ab, var) in [('A', &mut adapter.a), ('B', &mut adapter.b)] {
            let tried = [true, false].map(|outer| peft_key(arch, outer == arch.write_outer, site.layer, site.name, ab));
            let key = tried.iter().find(|k| checkpoint.contains(k)).cloned().ok_or_else(|| Error::MissingTensor {
                path: weights.clone(),
                key: tried[0].clone(),
                tried: tried.to_vec(),
            })?;
            let found = checkpoint.shape(&key).unwrap_or_default();
            if found != var.size() {
                return Err(Error::ShapeMismatch { path: weights.clone(), key, expected: var.size(), found });
            }
            var.f_copy_(&checkpoint.read(&key)?)?;
            used.insert(key);
        }
    }
    let ignored = |k: &str| {
        let rest = k.strip_prefix("base_model.model.").unwrap_or(k);
        let rest = rest.strip_prefix(arch.outer).unwrap_or(rest);
        arch.ignored.iter().any(|p| rest.starts_with(p))
    };
    if let Some(extra) = checkpoint.keys().find(|k| !used.contains(*k) && !ignored(k)) {
        return Err(Error::Config {
            path: weights.clone(),
            reason: format!(
                "tensor `{extra}` matches no adapted layer of this model; the adapter was made for another base \
                 model, or its {ADAPTER_CONFIG_FILE} does not describe it"
            ),
        });
    }
    Ok(())
}

/// Writes `adapters` (layer, module name, adapter) and `config` (with `base_model_name_or_path` = `base`) into `dir`.
pub(crate) fn save(
    arch: &Arch,
    adapters: Vec<(usize, &'static str, &LoraLinear)>,
    config: &LoraConfig,
    dir: &Path,
    base: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = Vec::new();
    for (layer, name, l) in adapters {
        tensors.push((peft_key(arch, arch.write_outer, layer, name, 'A'), l.a.detach()));
        tensors.push((peft_key(arch, arch.write_outer, layer, name, 'B'), l.b.detach()));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write_safetensors(&weights_path(dir), &tensors)?;
    let mut config = config.clone();
    config.base_model_name_or_path = Some(base.to_owned());
    config.inference_mode = true;
    let mut json = serde_json::to_string_pretty(&config).expect("a config serializes");
    json.push('\n');
    write_atomically(&dir.join(ADAPTER_CONFIG_FILE), json.as_bytes())
}

/// Adds every adapter of `sites` into its weight (`W += alpha / r * B A`) and drops it.
pub(crate) fn merge(sites: Vec<Site<'_>>) {
    let _guard = tch::no_grad_guard();
    for site in sites {
        if let Some(lora) = site.lora.take() {
            *site.weight += lora.merged_delta().to_kind(site.weight.kind());
        }
    }
}

/// Drops every adapter of `sites`.
pub(crate) fn remove(sites: Vec<Site<'_>>) {
    for site in sites {
        *site.lora = None;
    }
}

/// Where an adapter was read from, for error messages.
pub(crate) fn weights_path(dir: &Path) -> PathBuf {
    dir.join(ADAPTER_WEIGHTS_FILE)
}
