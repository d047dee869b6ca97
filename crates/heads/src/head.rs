//! The MLP head: input standardization (means and standard deviations of the training embeddings, stored with the
//! weights), `Linear → GELU → Dropout → Linear`, one output per regression target and one logit per class of each
//! classification target. The loss averages over targets the masked mean squared error (standardized regression
//! targets) and the masked cross-entropy (classes); a missing value (NaN, or class -1) contributes nothing.

use std::path::Path;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::spec::{TargetSpec, Task};

/// One MLP (an ensemble member) in its own variable store.
pub struct Mlp {
    pub vs: nn::VarStore,
    x_mean: Tensor,
    x_std: Tensor,
    dense: nn::Linear,
    out: nn::Linear,
    dropout: f64,
}

impl Mlp {
    /// A new MLP with random weights (from libtorch's generator: call `tch::manual_seed` first).
    pub fn new(input: i64, hidden: i64, output: i64, dropout: f64, device: Device) -> Mlp {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let x_mean = root.zeros_no_train("x_mean", &[input]);
        let x_std = root.ones_no_train("x_std", &[input]);
        let dense = nn::linear(&root / "dense", input, hidden, Default::default());
        let out = nn::linear(&root / "out", hidden, output, Default::default());
        Mlp { vs, x_mean, x_std, dense, out, dropout }
    }

    /// Sets the input standardization from training embeddings `[n, input]`.
    pub fn set_input_stats(&mut self, x: &Tensor) {
        tch::no_grad(|| {
            let x = x.to_device(self.vs.device());
            let mean = x.mean_dim(0, false, Kind::Float);
            let std = x.std_dim(0, false, false).clamp_min(1e-6);
            self.x_mean.copy_(&mean);
            self.x_std.copy_(&std);
        });
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = (x.to_device(self.vs.device()) - &self.x_mean) / &self.x_std;
        self.out.forward(&self.dense.forward(&x).gelu("none").dropout(self.dropout, train))
    }

    /// A deep copy of every variable (to restore the best epoch).
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.vs)
    }

    pub fn restore(&mut self, saved: &[(String, Tensor)]) {
        restore(&self.vs, saved);
    }
}

/// Named copies of a variable store's tensors.
pub type Snapshot = Vec<(String, Tensor)>;

/// Deep copies of a variable store's tensors.
pub fn snapshot(vs: &nn::VarStore) -> Snapshot {
    tch::no_grad(|| vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect())
}

/// Copies saved tensors back into a variable store.
pub fn restore(vs: &nn::VarStore, saved: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, t) in saved {
            if let Some(v) = vars.get(name) {
                let mut v = v.shallow_clone();
                v.copy_(t);
            }
        }
    });
}

/// Writes the members into one safetensors file, with `member{k}.` prefixes.
pub fn save_members(members: &[Mlp], path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (k, m) in members.iter().enumerate() {
        let mut vars: Vec<(String, Tensor)> = m.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        named.extend(
            vars.into_iter().map(|(n, t)| (format!("member{k}.{n}"), t.detach().to_device(Device::Cpu).contiguous())),
        );
    }
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&named, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

/// Reads `members` MLPs of the given shape from a file written by [`save_members`].
pub fn load_members(
    path: &Path,
    members: usize,
    shape: (i64, i64, i64),
    dropout: f64,
    device: Device,
) -> Result<Vec<Mlp>> {
    let tensors = Tensor::read_safetensors(path).map_err(|e| Error::Head {
        path: path.to_path_buf(),
        reason: format!("cannot read the head's weights: {e}"),
    })?;
    let mut out = Vec::new();
    for k in 0..members {
        let m = Mlp::new(shape.0, shape.1, shape.2, dropout, device);
        let prefix = format!("member{k}.");
        let vars = m.vs.variables();
        for (name, v) in &vars {
            let Some((_, t)) = tensors.iter().find(|(n, _)| n.strip_prefix(&prefix) == Some(name.as_str())) else {
                return Err(Error::Head { path: path.to_path_buf(), reason: format!("missing tensor {prefix}{name}") });
            };
            if t.size() != v.size() {
                return Err(Error::Head {
                    path: path.to_path_buf(),
                    reason: format!("tensor {prefix}{name} has shape {:?}, head.json implies {:?}", t.size(), v.size()),
                });
            }
            tch::no_grad(|| {
                let mut v = v.shallow_clone();
                v.copy_(t);
            });
        }
        out.push(m);
    }
    Ok(out)
}

/// Label tensors of a set of rows: standardized regression values `[n, targets]` (NaN where missing or not a
/// regression target) and class indices `[n, targets]` (-1 where missing or not a classification target).
pub struct Labels {
    pub reg: Tensor,
    pub cls: Tensor,
}

impl Labels {
    /// From per-row, per-target values: `Some(value)` for regression (raw units), `Some(class index as f64)` for
    /// classification.
    pub fn new(values: &[Vec<Option<f64>>], targets: &[TargetSpec]) -> Labels {
        let n = values.len();
        let t = targets.len();
        let mut reg = vec![f32::NAN; n * t];
        let mut cls = vec![-1i64; n * t];
        for (i, row) in values.iter().enumerate() {
            for (j, (v, spec)) in row.iter().zip(targets).enumerate() {
                let Some(v) = v else { continue };
                match spec.task {
                    Task::Regression => {
                        reg[i * t + j] = ((v - spec.mean.unwrap_or(0.0)) / spec.std.unwrap_or(1.0)) as f32;
                    }
                    Task::Classification => cls[i * t + j] = *v as i64,
                }
            }
        }
        Labels {
            reg: Tensor::from_slice(&reg).view([n as i64, t as i64]),
            cls: Tensor::from_slice(&cls).view([n as i64, t as i64]),
        }
    }

    /// The rows at `index`.
    pub fn select(&self, index: &Tensor) -> Labels {
        Labels { reg: self.reg.index_select(0, index), cls: self.cls.index_select(0, index) }
    }

    pub fn to_device(&self, device: Device) -> Labels {
        Labels { reg: self.reg.to_device(device), cls: self.cls.to_device(device) }
    }
}

/// The masked multi-target loss (a scalar), averaged over the targets that have values in this batch.
pub fn loss(out: &Tensor, labels: &Labels, targets: &[TargetSpec]) -> Tensor {
    let mut total = Tensor::zeros([], (Kind::Float, out.device()));
    for (j, spec) in targets.iter().enumerate() {
        let logits = out.narrow(1, spec.offset as i64, spec.width as i64);
        match spec.task {
            Task::Regression => {
                let y = labels.reg.select(1, j as i64);
                let mask = y.isnan().logical_not().to_kind(Kind::Float);
                let diff = (logits.squeeze_dim(1) - y.nan_to_num(0.0, None, None)) * &mask;
                total += diff.square().sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0);
            }
            Task::Classification => {
                let y = labels.cls.select(1, j as i64);
                let mask = y.ge(0).to_kind(Kind::Float);
                let nll =
                    -logits.log_softmax(-1, Kind::Float).gather(1, &y.clamp_min(0).unsqueeze(1), false).squeeze_dim(1);
                total += (nll * &mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0);
            }
        }
    }
    total / targets.len().max(1) as f64
}

/// Ensemble predictions of one target for a set of rows.
#[derive(Debug, Clone, Default)]
pub struct TargetPrediction {
    /// Regression: the mean over members, in the target's units.
    pub values: Vec<f64>,
    /// Classification: the mean over members of the class probabilities.
    pub probs: Vec<Vec<f64>>,
    /// The standard deviation over members (regression: of the value; classification: of the predicted class's
    /// probability); zeros for a single member.
    pub std: Vec<f64>,
}

/// Decodes the members' raw outputs (`[n, outputs]` each) into per-target predictions (classification: the logits
/// divided by the target's temperature before the softmax).
pub fn decode(outputs: &[Tensor], targets: &[TargetSpec]) -> Vec<TargetPrediction> {
    let members = outputs.len();
    targets
        .iter()
        .map(|spec| {
            let per_member: Vec<Vec<f32>> = outputs
                .iter()
                .map(|o| {
                    let part = o.narrow(1, spec.offset as i64, spec.width as i64).to_kind(Kind::Float);
                    let part = if spec.task == Task::Classification {
                        (part / spec.temperature.unwrap_or(1.0)).softmax(-1, Kind::Float)
                    } else {
                        part
                    };
                    Vec::<f32>::try_from(part.to_device(Device::Cpu).contiguous().view(-1)).expect("float tensor")
                })
                .collect();
            let n = per_member.first().map_or(0, |v| v.len() / spec.width);
            let mut p = TargetPrediction::default();
            for i in 0..n {
                match spec.task {
                    Task::Regression => {
                        let (mean, std) = (spec.mean.unwrap_or(0.0), spec.std.unwrap_or(1.0));
                        let vals: Vec<f64> = per_member.iter().map(|m| f64::from(m[i]) * std + mean).collect();
                        let (mu, sd) = mean_std(&vals);
                        p.values.push(mu);
                        p.std.push(sd);
                    }
                    Task::Classification => {
                        let w = spec.width;
                        let mut probs = vec![0.0; w];
                        for m in &per_member {
                            for c in 0..w {
                                probs[c] += f64::from(m[i * w + c]) / members as f64;
                            }
                        }
                        let best = crate::metrics::argmax(&probs);
                        let vals: Vec<f64> = per_member.iter().map(|m| f64::from(m[i * w + best])).collect();
                        p.std.push(mean_std(&vals).1);
                        p.probs.push(probs);
                    }
                }
            }
            p
        })
        .collect()
}

/// Mean and (population) standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}
