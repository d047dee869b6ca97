//! AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
//! <https://arxiv.org/abs/1711.05101>) over tch tensors, with its state in safetensors.
//!
//! tch's own optimizers keep their state inside libtorch where it cannot be saved, so a
//! resumed run would restart the moments from zero. This one holds, per weight, the step
//! count and the first and second moments as ordinary tensors, writes them to
//! `optimizer.safetensors` and reads them back bit for bit. The update is PyTorch's
//! `torch.optim.AdamW` (non-amsgrad, non-fused):
//!
//! ```text
//! w  <- w * (1 - lr * weight_decay)            (not for biases and LayerNorm weights)
//! m  <- beta1 * m + (1 - beta1) * g
//! v  <- beta2 * v + (1 - beta2) * g^2
//! w  <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```
//!
//! Weights that received no gradient in a step (say, a contact head that the masked-LM loss
//! does not reach) are skipped, as PyTorch skips parameters whose `.grad` is `None`.
//!
//! Mixed precision ([`AdamW::use_bf16`]): the model's weights become bf16 (forward and backward run in bf16), and
//! the optimizer keeps an fp32 master copy of each: the update is computed in fp32 on the master from the bf16
//! gradient, and the weight is set to the master rounded to bf16. The moments are fp32 either way, so a checkpoint
//! (written with the fp32 masters, [`AdamW::with_f32_weights`]) resumes in either precision.

use std::collections::HashMap;
use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

use crate::config::TrainConfig;
use crate::error::{Error, Result};

/// One optimized weight and its AdamW state.
#[derive(Debug)]
struct Param {
    name: String,
    tensor: Tensor,
    decay: bool,
    step: i64,
    exp_avg: Option<Tensor>,
    exp_avg_sq: Option<Tensor>,
    /// Mixed precision: the fp32 master of the (bf16) weight.
    master: Option<Tensor>,
}

impl Param {
    /// The fp32 weight the update applies to: the master, else the weight itself.
    fn target(&self) -> &Tensor {
        self.master.as_ref().unwrap_or(&self.tensor)
    }
}

/// AdamW with saveable state.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<Param>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

/// Whether weight decay applies to a weight: not to biases, LayerNorm weights and the
/// embeddings' LayerNorm (by their HF names).
pub fn decays(name: &str) -> bool {
    let is_bias = name.ends_with(".bias") || name == "bias";
    let is_norm = name.split('.').any(|part| {
        let lower = part.to_ascii_lowercase();
        lower.contains("layernorm") || lower.contains("layer_norm") || lower == "ln" || lower.starts_with("ln_")
    });
    !(is_bias || is_norm)
}

impl AdamW {
    /// An optimizer over every trainable variable of `vs` (in name order), with the betas,
    /// epsilon and weight decay of `config`.
    pub fn new(vs: &nn::VarStore, config: &TrainConfig) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, tensor)| Param {
                decay: decays(&name),
                name,
                tensor,
                step: 0,
                exp_avg: None,
                exp_avg_sq: None,
                master: None,
            })
            .collect();
        Self { params, beta1: config.beta1, beta2: config.beta2, eps: config.eps, weight_decay: config.weight_decay }
    }

    /// Mixed precision: keeps an fp32 master of every optimized weight and turns the weights into bf16 (in place:
    /// the model sees bf16 weights from now on). Every other variable of `vs` becomes bf16 too. The weights must be
    /// fp32.
    pub fn use_bf16(&mut self, vs: &nn::VarStore) -> Result<()> {
        let _guard = tch::no_grad_guard();
        if self.params.iter().any(|p| p.master.is_some() || p.tensor.kind() != Kind::Float) {
            return Err(Error::Setting("bf16 mixed precision starts from fp32 weights".into()));
        }
        for p in &mut self.params {
            p.master = Some(p.tensor.detach().copy());
        }
        for (_, mut t) in vs.variables() {
            if t.kind() == Kind::Float {
                let bf16 = t.detach().to_kind(Kind::BFloat16);
                t.set_data(&bf16);
            }
        }
        Ok(())
    }

    /// Whether the weights are bf16 with fp32 masters.
    pub fn is_mixed(&self) -> bool {
        self.params.iter().any(|p| p.master.is_some())
    }

    /// Runs `f` with the fp32 masters as the weights (to save the model in fp32), then restores the bf16 weights
    /// (the masters rounded, as they were). Without mixed precision, just `f`.
    pub fn with_f32_weights<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = tch::no_grad_guard();
        let mut swapped = Vec::new();
        for p in &self.params {
            if let Some(master) = &p.master {
                let mut t = p.tensor.shallow_clone();
                t.set_data(&master.detach());
                swapped.push((t, master));
            }
        }
        let out = f();
        for (mut t, master) in swapped {
            t.set_data(&master.detach().to_kind(Kind::BFloat16));
        }
        out
    }

    /// Names of the weights with and without decay.
    pub fn groups(&self) -> (Vec<&str>, Vec<&str>) {
        let (with, without): (Vec<&Param>, Vec<&Param>) = self.params.iter().partition(|p| p.decay);
        (with.iter().map(|p| p.name.as_str()).collect(), without.iter().map(|p| p.name.as_str()).collect())
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    /// The global L2 norm of all gradients (in f64).
    pub fn grad_norm(&self) -> f64 {
        let _guard = tch::no_grad_guard();
        let mut total: Option<Tensor> = None;
        for p in &self.params {
            let g = p.tensor.grad();
            if !g.defined() {
                continue;
            }
            let sq = g.to_kind(Kind::Double).square().sum(Kind::Double);
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
        total.map_or(0.0, |t| t.sqrt().double_value(&[]))
    }

    /// Scales the gradients so that their global norm (`norm`, from [`AdamW::grad_norm`])
    /// is at most `max_norm`, as `torch.nn.utils.clip_grad_norm_` does.
    pub fn clip(&mut self, norm: f64, max_norm: f64) {
        let coef = max_norm / (norm + 1e-6);
        if coef >= 1.0 {
            return;
        }
        let _guard = tch::no_grad_guard();
        for p in &self.params {
            let mut g = p.tensor.grad();
            if g.defined() {
                let _ = g.g_mul_scalar_(coef);
            }
        }
    }

    /// One AdamW update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        let _guard = tch::no_grad_guard();
        let (beta1, beta2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        for p in &mut self.params {
            let g = p.tensor.grad();
            if !g.defined() {
                continue;
            }
            let g = if p.master.is_some() { g.to_kind(Kind::Float) } else { g };
            let mut w = p.target().shallow_clone();
            p.step += 1;
            let t = p.step as f64;
            if p.decay && wd > 0.0 {
                let _ = w.g_mul_scalar_(1.0 - lr * wd);
            }
            let m = p.exp_avg.get_or_insert_with(|| w.zeros_like());
            let _ = m.g_mul_scalar_(beta1);
            let _ = m.g_add_(&(&g * (1.0 - beta1)));
            let v = p.exp_avg_sq.get_or_insert_with(|| w.zeros_like());
            let _ = v.g_mul_scalar_(beta2);
            let _ = v.g_add_(&(g.square() * (1.0 - beta2)));
            let bias1 = 1.0 - beta1.powf(t);
            let bias2 = 1.0 - beta2.powf(t);
            let denom = v.sqrt() / bias2.sqrt() + eps;
            let update = (&*m / denom) * (lr / bias1);
            let _ = w.g_sub_(&update);
            if p.master.is_some() {
                p.tensor.copy_(&w);
            }
        }
    }

    /// Writes the state (`<weight>.step`, `<weight>.exp_avg`, `<weight>.exp_avg_sq` for
    /// every weight updated at least once) to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for p in &self.params {
            let (Some(m), Some(v)) = (&p.exp_avg, &p.exp_avg_sq) else {
                continue;
            };
            let host = |t: &Tensor| t.to_device(Device::Cpu).contiguous();
            tensors.push((format!("{}.step", p.name), Tensor::from_slice(&[p.step])));
            tensors.push((format!("{}.exp_avg", p.name), host(m)));
            tensors.push((format!("{}.exp_avg_sq", p.name), host(v)));
        }
        Tensor::write_safetensors(&tensors, path).map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))
    }

    /// Reads the state [`AdamW::save`] wrote; every entry must belong to a weight of this
    /// model, with its shape.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let corrupt = |reason: String| Error::corrupt(path, reason);
        let stored =
            Tensor::read_safetensors(path).map_err(|e| corrupt(format!("unreadable optimizer state ({e})")))?;
        let mut stored: HashMap<String, Tensor> = stored.into_iter().collect();
        let _guard = tch::no_grad_guard();
        for p in &mut self.params {
            let Some(step) = stored.remove(&format!("{}.step", p.name)) else {
                p.step = 0;
                p.exp_avg = None;
                p.exp_avg_sq = None;
                continue;
            };
            let mut moment = |suffix: &str| -> Result<Tensor> {
                let key = format!("{}.{suffix}", p.name);
                let t = stored.remove(&key).ok_or_else(|| corrupt(format!("`{key}` is missing")))?;
                let w = p.master.as_ref().unwrap_or(&p.tensor);
                if t.size() != w.size() || t.kind() != w.kind() {
                    return Err(corrupt(format!(
                        "`{key}` is {:?} {:?}, the weight is {:?} {:?}",
                        t.kind(),
                        t.size(),
                        w.kind(),
                        w.size()
                    )));
                }
                Ok(t.to_device(w.device()))
            };
            let m = moment("exp_avg")?;
            let v = moment("exp_avg_sq")?;
            if step.kind() != Kind::Int64 || step.numel() != 1 {
                return Err(corrupt(format!("`{}.step` is not one integer", p.name)));
            }
            p.step = step.int64_value(&[0]);
            p.exp_avg = Some(m);
            p.exp_avg_sq = Some(v);
        }
        if let Some(key) = stored.keys().min() {
            return Err(corrupt(format!("state `{key}` belongs to no weight of this model")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_groups_follow_hf_names() {
        assert!(decays("esm.encoder.layer.0.attention.self.query.weight"));
        assert!(decays("esm.embeddings.word_embeddings.weight"));
        assert!(!decays("esm.encoder.layer.0.attention.self.query.bias"));
        assert!(!decays("esm.encoder.layer.0.LayerNorm.weight"));
        assert!(!decays("lm_head.layer_norm.weight"));
        assert!(!decays("esm.encoder.emb_layer_norm_after.weight"));
        assert!(!decays("lm_head.bias"));
    }

    /// The update matches PyTorch's AdamW on a hand-computed case: one weight, two steps.
    #[test]
    fn two_steps_match_the_formula() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f64, -2.0]).to_kind(Kind::Float));
        let config = TrainConfig { weight_decay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, ..TrainConfig::default() };
        let mut opt = AdamW::new(&vs, &config);
        let grads = [[0.5f64, -1.0], [0.25, 2.0]];
        let lr = 0.01;
        let mut expected = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for (t, g) in grads.iter().enumerate() {
            opt.zero_grad();
            let loss = (&w * Tensor::from_slice(g).to_kind(Kind::Float)).sum(Kind::Float);
            loss.backward();
            opt.step(lr);
            let t = (t + 1) as f64;
            for i in 0..2 {
                expected[i] *= 1.0 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
                let denom = v[i].sqrt() / (1.0 - 0.99f64.powf(t)).sqrt() + 1e-8;
                expected[i] -= lr / (1.0 - 0.9f64.powf(t)) * m[i] / denom;
            }
        }
        let got: Vec<f32> = Vec::try_from(&w.detach()).unwrap();
        for i in 0..2 {
            assert!((got[i] as f64 - expected[i]).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }

    /// Mixed precision: the same two steps applied to the fp32 master (the gradients are exact in bf16), the weight
    /// the master rounded to bf16, and the fp32 weights back while saving.
    #[test]
    fn mixed_precision_updates_the_fp32_master() {
        let start = [1.0f64, -2.0, 0.3];
        let grads = [[0.5f64, -1.0, 0.125], [0.25, 2.0, -0.75]];
        let config = TrainConfig { weight_decay: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, ..TrainConfig::default() };
        let run = |mixed: bool| {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs.root().var_copy("w", &Tensor::from_slice(&start).to_kind(Kind::Float));
            let mut opt = AdamW::new(&vs, &config);
            if mixed {
                opt.use_bf16(&vs).unwrap();
                assert_eq!(w.kind(), Kind::BFloat16);
                assert!(opt.use_bf16(&vs).is_err(), "twice");
            }
            for g in &grads {
                opt.zero_grad();
                let g = Tensor::from_slice(g).to_kind(w.kind());
                (&w * g).sum(w.kind()).backward();
                opt.step(0.01);
            }
            (vs, w, opt)
        };
        let (_, plain, _) = run(false);
        let (_, mixed, opt) = run(true);
        let master: Vec<f32> = opt.with_f32_weights(|| Vec::try_from(&mixed.detach()).unwrap());
        let expected: Vec<f32> = Vec::try_from(&plain.detach()).unwrap();
        assert_eq!(master, expected, "the master follows the fp32 update exactly");
        assert_eq!(mixed.kind(), Kind::BFloat16, "bf16 again after saving");
        let rounded: Vec<f32> = Vec::try_from(&plain.detach().to_kind(Kind::BFloat16).to_kind(Kind::Float)).unwrap();
        assert_eq!(Vec::<f32>::try_from(&mixed.detach().to_kind(Kind::Float)).unwrap(), rounded);
    }

    #[test]
    fn state_round_trips_through_safetensors() {
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let w = (vs.root() / "layer").randn("weight", &[3, 4], 0.0, 1.0);
        let _unused = (vs.root() / "head").randn("weight", &[2], 0.0, 1.0);
        let mut opt = AdamW::new(&vs, &TrainConfig::default());
        for _ in 0..3 {
            opt.zero_grad();
            w.square().sum(Kind::Float).backward();
            opt.step(0.1);
        }
        let path = dir.path().join("optimizer.safetensors");
        opt.save(&path).unwrap();
        let mut other = AdamW::new(&vs, &TrainConfig::default());
        other.load(&path).unwrap();
        assert_eq!(other.params[1].step, 3);
        assert_eq!(other.params[0].step, 0, "never updated: no state");
        let same = |a: &Option<Tensor>, b: &Option<Tensor>| a.as_ref().unwrap().equal(b.as_ref().unwrap());
        assert!(same(&opt.params[1].exp_avg, &other.params[1].exp_avg));
        assert!(same(&opt.params[1].exp_avg_sq, &other.params[1].exp_avg_sq));
        // A truncated file is reported as corrupt, naming the file.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        let err = other.load(&path).unwrap_err().to_string();
        assert!(err.contains("optimizer.safetensors") && err.contains("corrupt"), "{err}");
    }
}
