//! Training loops. Both use AdamW on shuffled mini-batches (order drawn from the seed and the epoch), evaluate the
//! validation loss after every epoch, stop after `patience` epochs without improvement and restore the weights of
//! the best epoch. Without validation rows they run every epoch and keep the last weights.
//!
//! - [`fit_frozen`]: the MLP alone on precomputed embeddings.
//! - [`fit_full`]: the encoder (all layers or the top ones, see [`Backbone::set_trainable`]) and the MLP together on
//!   token ids; the encoder gets its own, smaller learning rate.

use std::time::Instant;

use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::encoder::Backbone;
use crate::error::Result;
use crate::head::{self, Labels, Mlp};
use crate::spec::TargetSpec;
use crate::split::{stream, Rng};

/// Settings of a training run.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub epochs: usize,
    pub patience: usize,
    /// Learning rate of the head.
    pub lr: f64,
    /// Learning rate of the encoder (full fine-tuning).
    pub encoder_lr: f64,
    pub weight_decay: f64,
    /// Rows per mini-batch.
    pub batch_size: usize,
    pub seed: u64,
    /// Window of the encoder (full fine-tuning), tokens without specials.
    pub max_length: usize,
    /// Token budget of the no-gradient embedding passes (full fine-tuning's validation).
    pub batch_tokens: usize,
}

/// What happened in a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FitReport {
    pub epochs_run: usize,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    pub best_valid_loss: Option<f64>,
    pub seconds: f64,
    /// Per epoch: (training loss, validation loss).
    pub history: Vec<(f64, Option<f64>)>,
}

impl FitReport {
    pub fn seconds_per_epoch(&self) -> f64 {
        self.seconds / self.epochs_run.max(1) as f64
    }

    /// Whether the validation loss had stopped improving: `Some(false)` when the best epoch is the last one run
    /// (still improving when training stopped: more epochs or a higher learning rate may help), `None` without
    /// validation rows.
    pub fn converged(&self) -> Option<bool> {
        self.best_valid_loss.map(|_| self.best_epoch < self.epochs_run)
    }
}

fn batches(train: &[usize], batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order = train.to_vec();
    Rng::new(seed, stream::BATCHES ^ ((epoch as u64 + 1) << 8)).shuffle(&mut order);
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Batches of similar lengths (less padding): the shuffled rows are sorted by length within pools of 50 batches, cut
/// into batches, and the batches shuffled.
fn length_batches(train: &[usize], lengths: &[usize], batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order = train.to_vec();
    let mut rng = Rng::new(seed, stream::BATCHES ^ ((epoch as u64 + 1) << 8));
    rng.shuffle(&mut order);
    let size = batch_size.max(1);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for pool in order.chunks_mut(size * 50) {
        pool.sort_by_key(|&r| lengths[r]);
        out.extend(pool.chunks(size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut out);
    out
}

fn index(rows: &[usize], device: Device) -> Tensor {
    let v: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    Tensor::from_slice(&v).to_device(device)
}

/// Trains `mlp` on the embeddings `x` (`[rows, dim]`) of the `train` rows, early-stopping on the `valid` rows.
#[allow(clippy::too_many_arguments)]
pub fn fit_frozen(
    mlp: &mut Mlp,
    x: &Tensor,
    labels: &Labels,
    train: &[usize],
    valid: &[usize],
    targets: &[TargetSpec],
    opts: &FitOptions,
    on_epoch: &mut dyn FnMut(usize, f64, Option<f64>),
) -> Result<FitReport> {
    let device = mlp.vs.device();
    let x = x.to_device(device);
    let labels = labels.to_device(device);
    let mut opt = nn::AdamW { wd: opts.weight_decay, ..Default::default() }.build(&mlp.vs, opts.lr)?;
    let valid_x = (!valid.is_empty()).then(|| x.index_select(0, &index(valid, device)));
    let valid_labels = (!valid.is_empty()).then(|| labels.select(&index(valid, device)));
    let started = Instant::now();
    let mut report = FitReport::default();
    let mut best: Option<(f64, head::Snapshot)> = None;
    let mut since_best = 0;
    for epoch in 0..opts.epochs {
        let (mut sum, mut count) = (0.0, 0usize);
        for batch in batches(train, opts.batch_size, opts.seed, epoch) {
            let idx = index(&batch, device);
            let out = mlp.forward_t(&x.index_select(0, &idx), true);
            let loss = head::loss(&out, &labels.select(&idx), targets);
            opt.backward_step(&loss);
            sum += f64::try_from(&loss)? * batch.len() as f64;
            count += batch.len();
        }
        let train_loss = sum / count.max(1) as f64;
        let valid_loss = match (&valid_x, &valid_labels) {
            (Some(vx), Some(vl)) => {
                Some(tch::no_grad(|| f64::try_from(&head::loss(&mlp.forward_t(vx, false), vl, targets)))?)
            }
            _ => None,
        };
        report.history.push((train_loss, valid_loss));
        report.epochs_run = epoch + 1;
        on_epoch(epoch + 1, train_loss, valid_loss);
        if let Some(v) = valid_loss {
            if best.as_ref().is_none_or(|(b, _)| v < *b) {
                best = Some((v, mlp.snapshot()));
                report.best_epoch = epoch + 1;
                since_best = 0;
            } else {
                since_best += 1;
                if since_best >= opts.patience {
                    break;
                }
            }
        } else {
            report.best_epoch = epoch + 1;
        }
    }
    if let Some((loss, saved)) = best {
        mlp.restore(&saved);
        report.best_valid_loss = Some(loss);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Fine-tunes `backbone` and `mlp` together on the `train` rows' tokens, early-stopping on the `valid` rows.
#[allow(clippy::too_many_arguments)]
pub fn fit_full(
    backbone: &Backbone,
    mlp: &mut Mlp,
    tokens: &[&[i64]],
    labels: &Labels,
    train: &[usize],
    valid: &[usize],
    targets: &[TargetSpec],
    opts: &FitOptions,
    on_epoch: &mut dyn FnMut(usize, f64, Option<f64>),
) -> Result<FitReport> {
    let device = mlp.vs.device();
    let labels = labels.to_device(device);
    let mut head_opt = nn::AdamW { wd: opts.weight_decay, ..Default::default() }.build(&mlp.vs, opts.lr)?;
    let mut enc_opt =
        nn::AdamW { wd: opts.weight_decay, ..Default::default() }.build(backbone.trainable_store(), opts.encoder_lr)?;
    let valid_tokens: Vec<&[i64]> = valid.iter().map(|&r| tokens[r]).collect();
    let lengths: Vec<usize> = tokens.iter().map(|t| t.len()).collect();
    let valid_labels = (!valid.is_empty()).then(|| labels.select(&index(valid, device)));
    let started = Instant::now();
    let mut report = FitReport::default();
    let mut best: Option<(f64, head::Snapshot, head::Snapshot)> = None;
    let mut since_best = 0;
    for epoch in 0..opts.epochs {
        let (mut sum, mut count) = (0.0, 0usize);
        for batch in length_batches(train, &lengths, opts.batch_size, opts.seed, epoch) {
            let items: Vec<&[i64]> = batch.iter().map(|&r| tokens[r]).collect();
            let pooled = backbone.pooled_t(&items, opts.max_length, true)?;
            let out = mlp.forward_t(&pooled, true);
            let loss = head::loss(&out, &labels.select(&index(&batch, device)), targets);
            head_opt.zero_grad();
            enc_opt.zero_grad();
            loss.backward();
            enc_opt.clip_grad_norm(1.0);
            head_opt.step();
            enc_opt.step();
            sum += f64::try_from(&loss)? * batch.len() as f64;
            count += batch.len();
        }
        let train_loss = sum / count.max(1) as f64;
        let valid_loss = match &valid_labels {
            Some(vl) => {
                let x = backbone.embed_all(&valid_tokens, opts.max_length, opts.batch_tokens, &mut |_| {})?;
                Some(tch::no_grad(|| f64::try_from(&head::loss(&mlp.forward_t(&x, false), vl, targets)))?)
            }
            None => None,
        };
        report.history.push((train_loss, valid_loss));
        report.epochs_run = epoch + 1;
        on_epoch(epoch + 1, train_loss, valid_loss);
        if let Some(v) = valid_loss {
            if best.as_ref().is_none_or(|(b, _, _)| v < *b) {
                best = Some((v, head::snapshot(backbone.trainable_store()), mlp.snapshot()));
                report.best_epoch = epoch + 1;
                since_best = 0;
            } else {
                since_best += 1;
                if since_best >= opts.patience {
                    break;
                }
            }
        } else {
            report.best_epoch = epoch + 1;
        }
    }
    if let Some((loss, enc, saved)) = best {
        head::restore(backbone.trainable_store(), &enc);
        mlp.restore(&saved);
        report.best_valid_loss = Some(loss);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Raw outputs `[rows, outputs]` of `mlp` on embeddings, without gradients, on the CPU.
pub fn outputs(mlp: &Mlp, x: &Tensor) -> Tensor {
    tch::no_grad(|| mlp.forward_t(x, false).to_kind(Kind::Float).to_device(Device::Cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_whose_best_epoch_is_its_last_has_not_converged() {
        let report = |best_epoch, epochs_run, loss: Option<f64>| FitReport {
            epochs_run,
            best_epoch,
            best_valid_loss: loss,
            ..FitReport::default()
        };
        assert_eq!(report(30, 30, Some(0.5)).converged(), Some(false));
        assert_eq!(report(1, 1, Some(0.5)).converged(), Some(false));
        assert_eq!(report(12, 42, Some(0.5)).converged(), Some(true), "stopped early after its best epoch");
        assert_eq!(report(30, 30, None).converged(), None, "no validation rows: cannot tell");
    }
}
