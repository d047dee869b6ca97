//! Embedding the usable rows once (or reading them from the cache), and training every fold × ensemble member.

use std::path::PathBuf;
use std::time::Instant;

use tch::{Device, Tensor};

use crate::encoder::{Backbone, LongPolicy};
use crate::error::Result;
use crate::fit::{self, FitOptions, FitReport};
use crate::head::{self, Mlp, TargetPrediction};
use crate::spec::Task;

use super::rows::{Fold, Setup};
use super::{cannot, Event, Mode, Request, Settings};

/// The frozen backbone's embeddings of the usable rows.
pub(crate) struct Embedded {
    /// `[rows, hidden]`, on the CPU.
    pub(crate) x: Tensor,
    pub(crate) seconds: f64,
}

/// Embeds the usable rows (or reads them from the cache, keyed by the weights, the window and every row's tokens),
/// then reports the split.
pub(crate) fn embed(
    backbone: &Backbone,
    setup: &Setup,
    tokens: &[&[i64]],
    weights_sha256: &str,
    batch_tokens: usize,
    s: &Settings,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Embedded> {
    let (n, max_length) = (tokens.len(), setup.max_length);
    let started = Instant::now();
    let cache_file: Option<PathBuf> = s
        .embedding_cache
        .as_ref()
        .map(|dir| dir.join(format!("{}.safetensors", cache_key(weights_sha256, max_length, s.long, tokens))));
    let cached = cache_file
        .as_ref()
        .filter(|f| f.is_file())
        .and_then(|f| Tensor::read_safetensors(f).ok())
        .and_then(|mut t| t.pop())
        .map(|(_, x)| x);
    let x = match (cached, &cache_file) {
        (Some(x), Some(file)) if x.size() == [n as i64, backbone.hidden_size()] => {
            on_event(Event::Cached { file });
            x
        }
        _ => {
            on_event(Event::Embedding { done: 0, total: n });
            let x = backbone.embed_all(tokens, max_length, batch_tokens, &mut |done| {
                on_event(Event::Embedding { done, total: n })
            })?;
            if let Some(file) = &cache_file {
                std::fs::create_dir_all(file.parent().expect("a file in the cache folder"))?;
                let tmp = file.with_extension("tmp");
                Tensor::write_safetensors(&[("embeddings", &x)], &tmp)?;
                std::fs::rename(&tmp, file)?;
            }
            x
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let sizes: Vec<_> = setup.folds.iter().map(Fold::sizes).collect();
    on_event(Event::Embedded {
        rows: n,
        hidden: backbone.hidden_size(),
        seconds,
        truncated: setup.rows.iter().filter(|&&r| setup.prepared[r].truncated).count(),
        windowed: tokens.iter().filter(|t| t.len() > max_length).count(),
        max_length,
        split: &setup.split,
        folds: &sizes,
    });
    Ok(Embedded { x, seconds })
}

/// The name of cached embeddings: a hash of the weights, the window and every row's tokens.
fn cache_key(weights_sha: &str, max_length: usize, long: LongPolicy, tokens: &[&[i64]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("biotorch-embeddings-v1 {weights_sha} {max_length} {long:?} {}\n", tokens.len()));
    for t in tokens {
        h.update((t.len() as u64).to_le_bytes());
        for id in *t {
            h.update(id.to_le_bytes());
        }
    }
    format!("{:x}", h.finalize())
}

/// The trained members and their held-out predictions.
pub(crate) struct Trained {
    pub(crate) members: Vec<Mlp>,
    /// Full fine-tuning: the saved encoders' folders, relative to the output folder.
    pub(crate) encoders: Vec<String>,
    /// LoRA: the saved adapters' folders, relative to the output folder.
    pub(crate) adapters: Vec<String>,
    /// LoRA: the adapter config used (targets filled in for the architecture).
    pub(crate) lora: Option<biotorch_models::LoraConfig>,
    /// The weights the encoder side trained (0 for frozen heads).
    pub(crate) trainable_parameters: i64,
    pub(crate) reports: Vec<FitReport>,
    /// Per fold, per target: the ensemble's predictions for the fold's evaluation rows.
    pub(crate) fold_preds: Vec<Vec<TargetPrediction>>,
    /// Per fold, the members' raw outputs on the rows calibration needs.
    pub(crate) fold_outputs: Vec<FoldOutputs>,
    pub(crate) options: FitOptions,
}

/// One fold's members' raw outputs (`[rows, outputs]` each, on the CPU): on its evaluation rows, on its validation
/// rows (only when some target is a classification: temperature scaling) and on its calibration rows.
#[derive(Default)]
pub(crate) struct FoldOutputs {
    pub(crate) eval: Vec<Tensor>,
    pub(crate) valid: Vec<Tensor>,
    pub(crate) calibration: Vec<Tensor>,
}

/// The fit options of `s` (defaults by mode).
pub(crate) fn fit_options(s: &Settings, max_length: usize, batch_tokens: usize) -> FitOptions {
    let full = s.mode.trains_encoder();
    FitOptions {
        epochs: s.epochs.unwrap_or(if full { 20 } else { 300 }),
        patience: s.patience.unwrap_or(if full { 4 } else { 30 }),
        lr: s.lr.unwrap_or(1e-3),
        encoder_lr: s.encoder_lr,
        weight_decay: s.weight_decay,
        batch_size: s.batch_size.unwrap_or(if full { 16 } else { 64 }),
        seed: s.seed,
        max_length,
        batch_tokens,
    }
}

/// Trains every fold × ensemble member (seed `seed + 1000 * fold + k`); fine-tuned encoders are saved into the
/// output folder as they finish.
/// The embeddings' width is the backbone's hidden size; with full fine-tuning, each member reloads the backbone from
/// `request.model.path` on `device`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn members(
    request: &Request,
    setup: &Setup,
    tokens: &[&[i64]],
    embedded: &Embedded,
    device: Device,
    batch_tokens: usize,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Trained> {
    let s = &request.settings;
    let (x, full) = (&embedded.x, s.mode.trains_encoder());
    let hidden_size = x.size()[1];
    let max_length = setup.max_length;
    let options = fit_options(s, max_length, batch_tokens);
    std::fs::create_dir_all(&s.output).map_err(|e| cannot(e, format!("cannot create {}", s.output.display())))?;
    let mut trained = Trained {
        members: Vec::new(),
        encoders: Vec::new(),
        adapters: Vec::new(),
        lora: None,
        trainable_parameters: 0,
        reports: Vec::new(),
        fold_preds: Vec::new(),
        fold_outputs: Vec::new(),
        options,
    };
    let total_members = setup.folds.len() * s.ensemble;
    let classification = setup.targets.iter().any(|t| t.task == Task::Classification);
    for (f, fold) in setup.folds.iter().enumerate() {
        // The rows predicted after training: evaluation, validation (temperature scaling), calibration.
        let valid: &[usize] = if classification { &fold.valid } else { &[] };
        let (n_eval, n_valid) = (fold.eval().len() as i64, valid.len() as i64);
        let eval: Vec<usize> = fold.eval().iter().chain(valid).chain(&fold.calibration).copied().collect();
        let eval = eval.as_slice();
        let mut fold_outputs = FoldOutputs::default();
        for k in 0..s.ensemble {
            let m = f * s.ensemble + k;
            let seed = s.seed + 1000 * f as u64 + k as u64;
            tch::manual_seed(seed as i64);
            let mut mlp = Mlp::new(hidden_size, s.hidden, setup.output_size(), s.dropout, device);
            mlp.set_input_stats(&x.index_select(0, &index(&fold.train)));
            let fold_opts = FitOptions { seed, ..trained.options.clone() };
            on_event(Event::MemberStarted { member: m, epochs: fold_opts.epochs });
            let mut on_epoch = |epoch: usize, train_loss: f64, valid_loss: Option<f64>| {
                on_event(Event::Epoch { member: m, epoch, train_loss, valid_loss })
            };
            let (report, out) = if full {
                let mut tuned = Backbone::load(&request.model.path, device)?;
                if s.mode == Mode::Lora {
                    trained.lora = Some(tuned.add_lora(s.lora.clone())?);
                } else {
                    tuned.set_trainable(s.train_layers);
                }
                trained.trainable_parameters = tuned.trainable_parameters();
                let report = fit::fit_full(
                    &tuned,
                    &mut mlp,
                    tokens,
                    &setup.labels,
                    &fold.train,
                    &fold.valid,
                    &setup.targets,
                    &fold_opts,
                    &mut on_epoch,
                )?;
                let eval_tokens: Vec<&[i64]> = eval.iter().map(|&p| tokens[p]).collect();
                let ex = tuned.embed_all(&eval_tokens, max_length, batch_tokens, &mut |_| {})?;
                if s.mode == Mode::Lora {
                    let name = format!("adapter-{m}");
                    tuned.save_adapter(&s.output.join(&name), &request.model.name)?;
                    trained.adapters.push(name);
                } else {
                    let name = format!("encoder-{m}");
                    tuned.save(&s.output.join(&name))?;
                    trained.encoders.push(name);
                }
                (report, fit::outputs(&mlp, &ex))
            } else {
                let report = fit::fit_frozen(
                    &mut mlp,
                    x,
                    &setup.labels,
                    &fold.train,
                    &fold.valid,
                    &setup.targets,
                    &fold_opts,
                    &mut on_epoch,
                )?;
                (report, fit::outputs(&mlp, &x.index_select(0, &index(eval))))
            };
            let fold_no = (setup.folds.len() > 1).then_some(f);
            on_event(Event::MemberDone { member: m, members: total_members, fold: fold_no, report: &report });
            let out = out.to_device(Device::Cpu);
            fold_outputs.eval.push(out.narrow(0, 0, n_eval));
            fold_outputs.valid.push(out.narrow(0, n_eval, n_valid));
            fold_outputs.calibration.push(out.narrow(0, n_eval + n_valid, out.size()[0] - n_eval - n_valid));
            trained.members.push(mlp);
            trained.reports.push(report);
        }
        trained.fold_preds.push(head::decode(&fold_outputs.eval, &setup.targets));
        trained.fold_outputs.push(fold_outputs);
    }
    Ok(trained)
}

/// An index tensor (CPU) of positions.
pub(crate) fn index(positions: &[usize]) -> Tensor {
    Tensor::from_slice(&positions.iter().map(|&p| p as i64).collect::<Vec<_>>())
}
