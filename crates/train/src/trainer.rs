//! The training loop.
//!
//! One optimizer step takes `accumulate` micro-batches from the epoch plans (see
//! [`crate::data`]), prepares them with the objective, and accumulates gradients of
//! `sum(cross-entropy over targets) / targets in the whole step`, so the update equals that
//! of one large batch. Then: NaN/inf check, gradient-norm clipping, AdamW with the
//! scheduled learning rate. Every `eval_every` steps (and before the first and after the
//! last) the validation set is scored; a lower validation loss writes the model to the
//! output folder. Every `save_every` steps (and at the end) a checkpoint is written.
//!
//! Determinism: the batch plan of epoch `e` depends on (seed, e); the crop and mask of a
//! record on (seed, e, record); dropout on (seed, e, batch), through `tch::manual_seed`.
//! Nothing depends on how many steps ran before in this process, so a resumed run takes
//! exactly the steps the uninterrupted run would have taken.

use std::path::{Path, PathBuf};
use std::time::Instant;

use biotorch_tokenizers::Tokenizer;
use serde_json::json;
use tch::{Device, Kind, Reduction, Tensor};

use crate::checkpoint::{
    utc_now, write_checkpoint, Checkpoint, TrainerState, CHECKPOINT_DIR, METRICS_FILE, OPTIMIZER_FILE, PROVENANCE_FILE,
};
use crate::config::TrainConfig;
use crate::data::{plan_epoch, plan_eval, Dataset};
use crate::error::{Error, Result};
use crate::metrics::{write_metrics, MetricsRow};
use crate::model::{Augment, LanguageModel};
use crate::objective::{Objective, IGNORE_INDEX};
use crate::optim::AdamW;
use crate::rng::{stream, Rng};

/// Provenance a caller records with the run.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The full command line.
    pub command: String,
    /// Where the initial weights came from: `random:<arch>` or `init:<model>`.
    pub model_source: String,
}

/// What the trainer reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// Training starts (or resumes) at `step` of `total_steps`.
    Started { step: u64, total_steps: u64, parameters: i64 },
    /// An optimizer step finished (its row; validation values when it evaluated).
    Step(&'a MetricsRow),
    /// The validation set was scored (step 0 included).
    Evaluated(&'a MetricsRow),
    /// A lower validation loss: the model was written to the output folder.
    BestModel { step: u64, valid_loss: f64 },
    /// A checkpoint was written.
    Checkpoint { step: u64, dir: &'a Path },
}

/// The outcome of [`Trainer::run`].
#[derive(Debug, Clone)]
pub struct Summary {
    /// Steps done in total (over all runs of this output folder).
    pub step: u64,
    pub total_steps: u64,
    /// Steps done by this call.
    pub steps_this_run: u64,
    pub stopped_early: bool,
    /// Whether the run is complete (all steps done, or stopped early).
    pub finished: bool,
    pub best_step: Option<u64>,
    pub best_valid_loss: Option<f64>,
    pub tokens: u64,
    /// Training tokens per second in this call.
    pub tokens_per_s: f64,
    pub seconds: f64,
    pub metrics: Vec<MetricsRow>,
    pub out_dir: PathBuf,
}

/// A batch ready for the model.
struct Prepared {
    input_ids: Tensor,
    attention_mask: Tensor,
    labels: Tensor,
    tokens: u64,
    targets: u64,
}

/// The masked-LM (or any [`Objective`]) trainer of a [`LanguageModel`].
pub struct Trainer<M: LanguageModel> {
    model: M,
    tokenizer: Box<dyn Tokenizer>,
    objective: Box<dyn Objective>,
    optimizer: AdamW,
    config: TrainConfig,
    train: Dataset,
    train_lengths: Vec<usize>,
    valid_batches: Vec<Prepared>,
    out_dir: PathBuf,
    state: TrainerState,
    device: Device,
    total_steps: u64,
    stop_after: Option<u64>,
    plan: Option<(u64, Vec<Vec<u32>>)>,
    specials: (u32, u32, u32),
    last_checkpoint: Option<u64>,
    augment: Option<Box<dyn Augment>>,
    /// The output folder's lock, held while the trainer lives.
    lock: Option<biotorch_io::DirLock>,
}

impl<M: LanguageModel> Trainer<M> {
    /// A fresh run writing into `out_dir` (created if needed).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: M,
        tokenizer: Box<dyn Tokenizer>,
        objective: Box<dyn Objective>,
        config: TrainConfig,
        train: Dataset,
        valid: Dataset,
        out_dir: impl Into<PathBuf>,
        provenance: Provenance,
    ) -> Result<Self> {
        let state = TrainerState::new(
            config.clone(),
            provenance.model_source,
            tokenizer.name().to_owned(),
            train.info().clone(),
            valid.info().clone(),
            provenance.command,
        );
        Self::build(model, tokenizer, objective, config, train, valid, out_dir.into(), state, None)
    }

    /// Continues the run of `checkpoint` with the model and tokenizer loaded from it. The
    /// data must be the same files (checked by SHA-256) and `config` the checkpoint's, except
    /// `steps`, `epochs`, `eval_every`, `save_every` and `patience`.
    #[allow(clippy::too_many_arguments)]
    pub fn resume(
        checkpoint: Checkpoint,
        model: M,
        tokenizer: Box<dyn Tokenizer>,
        objective: Box<dyn Objective>,
        config: TrainConfig,
        train: Dataset,
        valid: Dataset,
        out_dir: impl Into<PathBuf>,
        command: String,
    ) -> Result<Self> {
        let out_dir = out_dir.into();
        let Checkpoint { dir, mut state } = checkpoint;
        let mut differences = state.config.resume_differences(&config);
        for (what, stored, given) in
            [("training", &state.train, train.info()), ("validation", &state.valid, valid.info())]
        {
            if stored.sha256 != given.sha256 {
                differences.push(format!(
                    "the {what} data {} (SHA-256 {}) is not the file the checkpoint was trained on ({}, SHA-256 {})",
                    given.path, given.sha256, stored.path, stored.sha256
                ));
            } else if stored.records != given.records || stored.holdout_fraction != given.holdout_fraction {
                differences.push(format!(
                    "the {what} set has {} records, the checkpoint's had {} (a different --valid or --valid-fraction?)",
                    given.records, stored.records
                ));
            }
        }
        if tokenizer.name() != state.tokenizer {
            differences.push(format!(
                "the tokenizer is {} but the checkpoint was trained with {}",
                tokenizer.name(),
                state.tokenizer
            ));
        }
        if !differences.is_empty() {
            return Err(Error::ResumeMismatch { dir, differences });
        }
        state.config = config.clone();
        state.stopped_early = config.patience.is_some_and(|p| state.evals_since_best >= p);
        state.commands.push(command);
        let optimizer_path = dir.join(OPTIMIZER_FILE);
        let step = state.step;
        Self::build(model, tokenizer, objective, config, train, valid, out_dir, state, Some((optimizer_path, step)))
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        model: M,
        tokenizer: Box<dyn Tokenizer>,
        objective: Box<dyn Objective>,
        config: TrainConfig,
        train: Dataset,
        valid: Dataset,
        out_dir: PathBuf,
        state: TrainerState,
        optimizer_state: Option<(PathBuf, u64)>,
    ) -> Result<Self> {
        config.validate()?;
        if objective.kind() != config.objective {
            return Err(Error::Setting(format!(
                "the objective is {} but the settings say {}",
                objective.kind(),
                config.objective
            )));
        }
        let missing = |what: &str| Error::Mismatch(format!("the {} tokenizer has no {what} token", tokenizer.name()));
        let start = tokenizer.start_id().ok_or_else(|| missing("start (<cls>/<bos>)"))?;
        let end = tokenizer.eos_id().ok_or_else(|| missing("<eos>"))?;
        let pad = tokenizer.pad_id().ok_or_else(|| missing("<pad>"))?;
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        let device = model.var_store().device();
        let mut optimizer = AdamW::new(model.var_store(), &config);
        let last_checkpoint = match optimizer_state {
            Some((path, step)) => {
                optimizer.load(&path)?;
                Some(step)
            }
            None => None,
        };
        let crop = |len: usize| len.min(config.max_length) + 2;
        let train_lengths: Vec<usize> = (0..train.len()).map(|i| crop(train.sequence(i).len())).collect();
        let valid_lengths: Vec<usize> = (0..valid.len()).map(|i| crop(valid.sequence(i).len())).collect();
        let mut trainer = Self {
            model,
            tokenizer,
            objective,
            optimizer,
            config,
            train,
            train_lengths,
            valid_batches: Vec::new(),
            out_dir,
            state,
            device,
            total_steps: 0,
            stop_after: None,
            plan: None,
            specials: (start, end, pad),
            last_checkpoint,
            augment: None,
            lock: None,
        };
        let seed = trainer.config.seed;
        trainer.valid_batches = plan_eval(&valid_lengths, trainer.config.batch_tokens)
            .iter()
            .map(|records| {
                trainer.prepare(
                    &valid,
                    records,
                    |r| Rng::at(seed, &[stream::VALID_CROP, u64::from(r)]),
                    |r| Rng::at(seed, &[stream::VALID_MASK, u64::from(r)]),
                    None,
                )
            })
            .collect();
        trainer.total_steps = trainer.compute_total_steps();
        Ok(trainer)
    }

    /// Sets how training records are varied when the settings ask for augmentation
    /// (`augment`); without one, such a run fails to start.
    pub fn with_augmentation(mut self, augment: Box<dyn Augment>) -> Self {
        self.augment = Some(augment);
        self
    }

    /// Stops this call of [`Trainer::run`] after `steps` optimizer steps (with a checkpoint),
    /// to be continued later by a resume. The schedule still spans the whole run.
    pub fn stop_after(mut self, steps: Option<u64>) -> Self {
        self.stop_after = steps;
        self
    }

    /// Trains in bf16 mixed precision when `bf16` is true (see [`AdamW::use_bf16`]): forward and backward in bf16,
    /// updates on fp32 master weights; the model, best model and checkpoints are written in fp32.
    pub fn bf16(mut self, bf16: bool) -> Result<Self> {
        if bf16 {
            self.optimizer.use_bf16(self.model.var_store())?;
        }
        Ok(self)
    }

    /// Holds `lock` (on the output folder) for as long as the trainer lives.
    pub fn holding(mut self, lock: biotorch_io::DirLock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// The number of optimizer steps of the whole run.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// The model being trained.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The state so far (step, metrics, best validation loss, ...).
    pub fn state(&self) -> &TrainerState {
        &self.state
    }

    /// The weight groups of the optimizer: (with weight decay, without).
    pub fn weight_decay_groups(&self) -> (Vec<&str>, Vec<&str>) {
        self.optimizer.groups()
    }

    fn epoch_plan(&mut self, epoch: u64) -> &[Vec<u32>] {
        if self.plan.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let plan = plan_epoch(
                &self.train_lengths,
                self.config.batch_tokens,
                self.config.lookahead,
                self.config.seed,
                epoch,
            );
            self.plan = Some((epoch, plan));
        }
        &self.plan.as_ref().expect("set above").1
    }

    fn compute_total_steps(&mut self) -> u64 {
        let acc = self.config.accumulate as u64;
        let by_epochs = |this: &mut Self, epochs: u64| {
            let micro: u64 = (0..epochs).map(|e| this.epoch_plan(e).len() as u64).sum();
            micro.div_ceil(acc)
        };
        match (self.config.steps, self.config.epochs) {
            (Some(steps), None) => steps,
            (steps, Some(epochs)) => {
                let n = by_epochs(self, epochs);
                steps.map_or(n, |s| s.min(n))
            }
            (None, None) => by_epochs(self, 1),
        }
    }

    /// Inputs, mask and labels of the given records, cropped to `max_length` and prepared by
    /// the objective with the given generators.
    fn prepare(
        &self,
        data: &Dataset,
        records: &[u32],
        crop_rng: impl Fn(u32) -> Rng,
        mask_rng: impl Fn(u32) -> Rng,
        augment_epoch: Option<u64>,
    ) -> Prepared {
        let (start, end, pad) = self.specials;
        let max_len = self.config.max_length;
        let rows: Vec<(Vec<i64>, Vec<i64>)> = records
            .iter()
            .map(|&r| {
                let varied = self.varied(data, r, augment_epoch);
                let seq = varied.as_deref().unwrap_or_else(|| data.sequence(r as usize));
                let offset =
                    if seq.len() > max_len { crop_rng(r).below((seq.len() - max_len + 1) as u64) as usize } else { 0 };
                let body = &seq[offset..offset + seq.len().min(max_len)];
                let mut tokens = Vec::with_capacity(body.len() + 2);
                tokens.push(start);
                tokens.extend_from_slice(body);
                tokens.push(end);
                self.objective.prepare(&tokens, &mut mask_rng(r))
            })
            .collect();
        let width = rows.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
        let n = rows.len();
        let mut ids = vec![i64::from(pad); n * width];
        let mut mask = vec![0i64; n * width];
        let mut labels = vec![IGNORE_INDEX; n * width];
        let (mut tokens, mut targets) = (0u64, 0u64);
        for (b, (row_ids, row_labels)) in rows.iter().enumerate() {
            let at = b * width;
            ids[at..at + row_ids.len()].copy_from_slice(row_ids);
            mask[at..at + row_ids.len()].fill(1);
            labels[at..at + row_labels.len()].copy_from_slice(row_labels);
            tokens += row_ids.len() as u64;
            targets += row_labels.iter().filter(|&&l| l != IGNORE_INDEX).count() as u64;
        }
        let shape = [n as i64, width as i64];
        // On CUDA through pinned memory, without blocking the host (see biotorch_models::memory::upload).
        let to = |v: &[i64]| biotorch_models::memory::upload(&Tensor::from_slice(v).view(shape), self.device);
        Prepared { input_ids: to(&ids), attention_mask: to(&mask), labels: to(&labels), tokens, targets }
    }

    /// The token ids of a variant of record `r` for epoch `epoch` when augmenting: drawn from
    /// (seed, epoch, record); `None` (the record as it is) when the variant does not tokenize
    /// or is longer than `max_length`.
    fn varied(&self, data: &Dataset, r: u32, epoch: Option<u64>) -> Option<Vec<u32>> {
        let (epoch, augment) = (epoch?, self.augment.as_ref()?);
        if !self.config.augment {
            return None;
        }
        let text = data.text(r as usize)?;
        let seed = Rng::at(self.config.seed, &[stream::AUGMENT, epoch, u64::from(r)]).next_u64();
        let ids = self.tokenizer.encode_no_special(&augment.variant(text, seed)?).ok()?;
        let unknown = self.tokenizer.unk_id().is_some_and(|u| ids.contains(&u));
        (!ids.is_empty() && !unknown && ids.len() <= self.config.max_length).then_some(ids)
    }

    /// Summed cross-entropy over the targets of a batch, and the number predicted right. The
    /// model computes logits at the labelled positions only (see
    /// [`LanguageModel::logits_at`]).
    fn batch_loss(&self, batch: &Prepared, train: bool) -> Result<(Tensor, Tensor)> {
        let select = batch.labels.ne(IGNORE_INDEX);
        let logits = self.model.logits_at(&batch.input_ids, &batch.attention_mask, &select, train)?;
        let flat = logits.to_kind(Kind::Float);
        let labels = batch.labels.masked_select(&select);
        let loss = flat.cross_entropy_loss::<Tensor>(&labels, None, Reduction::Sum, IGNORE_INDEX, 0.0);
        let correct = flat.detach().argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64);
        Ok((loss, correct))
    }

    /// Validation loss, perplexity and accuracy over the targets of the validation set.
    fn evaluate(&self) -> Result<(f64, f64, f64)> {
        let _guard = tch::no_grad_guard();
        let (mut loss, mut correct, mut targets) = (0f64, 0i64, 0u64);
        for batch in &self.valid_batches {
            let (l, c) = self.batch_loss(batch, false)?;
            loss += l.double_value(&[]);
            correct += c.int64_value(&[]);
            targets += batch.targets;
        }
        let targets = targets.max(1) as f64;
        let mean = loss / targets;
        Ok((mean, mean.exp(), correct as f64 / targets))
    }

    /// Scores the validation set, records it in `row`, keeps the best model and counts
    /// evaluations without improvement.
    fn evaluate_into(&mut self, row: &mut MetricsRow, on_event: &mut dyn FnMut(Event<'_>)) -> Result<()> {
        let (loss, ppl, acc) = self.evaluate()?;
        row.valid_loss = Some(loss);
        row.valid_ppl = Some(ppl);
        row.valid_acc = Some(acc);
        on_event(Event::Evaluated(row));
        let improved = loss.is_finite() && self.state.best_valid_loss.is_none_or(|best| loss < best);
        if improved {
            self.state.best_valid_loss = Some(loss);
            self.state.best_step = Some(row.step);
            self.state.evals_since_best = 0;
            self.save_model(&self.out_dir)?;
            on_event(Event::BestModel { step: row.step, valid_loss: loss });
        } else {
            self.state.evals_since_best += 1;
            if self.config.patience.is_some_and(|p| self.state.evals_since_best >= p) {
                self.state.stopped_early = true;
            }
        }
        Ok(())
    }

    fn save_model(&self, dir: &Path) -> Result<()> {
        self.optimizer.with_f32_weights(|| self.model.save(dir))?;
        self.tokenizer.save(dir)?;
        Ok(())
    }

    fn epoch_fraction(&mut self) -> f64 {
        let (epoch, batch) = (self.state.epoch, self.state.batch);
        let len = self.epoch_plan(epoch).len().max(1);
        epoch as f64 + batch as f64 / len as f64
    }

    /// Runs until the last step, early stopping, or [`Trainer::stop_after`]. Errors leave the
    /// last checkpoint as it was.
    pub fn run(&mut self, on_event: &mut dyn FnMut(Event<'_>)) -> Result<Summary> {
        if self.config.augment && (self.augment.is_none() || self.train.text(0).is_none()) {
            return Err(Error::Setting(
                "augmentation is on but the trainer has no augmenter or the data no texts (SMILES files only)".into(),
            ));
        }
        let started = Instant::now();
        let seconds_before = self.state.seconds;
        let tokens_before = self.state.tokens;
        let first_step = self.state.step;
        on_event(Event::Started {
            step: self.state.step,
            total_steps: self.total_steps,
            parameters: self.model.num_parameters(),
        });
        if self.state.metrics.is_empty() {
            let mut row = MetricsRow {
                step: 0,
                epoch: 0.0,
                lr: 0.0,
                train_loss: None,
                tokens: 0,
                tokens_per_s: None,
                valid_loss: None,
                valid_ppl: None,
                valid_acc: None,
            };
            self.evaluate_into(&mut row, on_event)?;
            self.state.metrics.push(row);
        }
        let seed = self.config.seed;
        let epochs_limit = self.config.epochs;
        while self.state.step < self.total_steps
            && !self.state.stopped_early
            && self.stop_after.is_none_or(|n| self.state.step - first_step < n)
        {
            let step_started = Instant::now();
            let step = self.state.step + 1;
            let lr = self.config.lr_at(step, self.total_steps);
            // Take the step's micro-batches, advancing the cursor.
            let mut micro = Vec::with_capacity(self.config.accumulate);
            for _ in 0..self.config.accumulate {
                if epochs_limit.is_some_and(|e| self.state.epoch >= e) {
                    break;
                }
                let (epoch, index) = (self.state.epoch, self.state.batch);
                let plan = self.epoch_plan(epoch);
                let records = plan[index as usize].clone();
                let plan_len = plan.len() as u64;
                micro.push((epoch, index, records));
                self.state.batch += 1;
                if self.state.batch == plan_len {
                    self.state.epoch += 1;
                    self.state.batch = 0;
                }
            }
            let batches: Vec<(u64, u64, Prepared)> = micro
                .iter()
                .map(|(epoch, index, records)| {
                    let e = *epoch;
                    let batch = self.prepare(
                        &self.train,
                        records,
                        |r| Rng::at(seed, &[stream::CROP, e, u64::from(r)]),
                        |r| Rng::at(seed, &[stream::MASK, e, u64::from(r)]),
                        Some(e),
                    );
                    (*epoch, *index, batch)
                })
                .collect();
            let targets: u64 = batches.iter().map(|(_, _, b)| b.targets).sum();
            let tokens: u64 = batches.iter().map(|(_, _, b)| b.tokens).sum();
            self.optimizer.zero_grad();
            let mut loss_value = 0f64;
            for (epoch, index, batch) in &batches {
                tch::manual_seed(Rng::at(seed, &[stream::DROPOUT, *epoch, *index]).torch_seed());
                let (loss, _) = self.batch_loss(batch, true)?;
                let loss = loss / targets.max(1) as f64;
                loss.backward();
                loss_value += loss.double_value(&[]);
            }
            if !loss_value.is_finite() {
                return Err(self.diverged(step, "training loss", loss_value));
            }
            let norm = self.optimizer.grad_norm();
            if !norm.is_finite() {
                return Err(self.diverged(step, "gradient norm", norm));
            }
            if self.config.clip > 0.0 {
                self.optimizer.clip(norm, self.config.clip);
            }
            self.optimizer.step(lr);
            self.state.step = step;
            self.state.tokens += tokens;
            let secs = step_started.elapsed().as_secs_f64();
            let mut row = MetricsRow {
                step,
                epoch: self.epoch_fraction(),
                lr,
                train_loss: Some(loss_value),
                tokens: self.state.tokens,
                tokens_per_s: Some(tokens as f64 / secs.max(1e-9)),
                valid_loss: None,
                valid_ppl: None,
                valid_acc: None,
            };
            let last = step == self.total_steps;
            if step % self.config.eval_every == 0 || last {
                self.evaluate_into(&mut row, on_event)?;
            }
            on_event(Event::Step(&row));
            self.state.metrics.push(row);
            self.state.seconds = seconds_before + started.elapsed().as_secs_f64();
            let pausing = self.stop_after.is_some_and(|n| step - first_step >= n);
            if step % self.config.save_every == 0 || last || self.state.stopped_early || pausing {
                let dir = self.checkpoint()?;
                on_event(Event::Checkpoint { step, dir: &dir });
            }
        }
        self.state.seconds = seconds_before + started.elapsed().as_secs_f64();
        if self.last_checkpoint != Some(self.state.step) {
            self.checkpoint()?;
        } else {
            self.write_outputs()?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        Ok(Summary {
            step: self.state.step,
            total_steps: self.total_steps,
            steps_this_run: self.state.step - first_step,
            stopped_early: self.state.stopped_early,
            finished: self.finished(),
            best_step: self.state.best_step,
            best_valid_loss: self.state.best_valid_loss,
            tokens: self.state.tokens,
            tokens_per_s: (self.state.tokens - tokens_before) as f64 / elapsed.max(1e-9),
            seconds: self.state.seconds,
            metrics: self.state.metrics.clone(),
            out_dir: self.out_dir.clone(),
        })
    }

    fn finished(&self) -> bool {
        self.state.stopped_early || self.state.step >= self.total_steps
    }

    fn diverged(&self, step: u64, what: &'static str, value: f64) -> Error {
        // Keep what was measured so far; the checkpoint stays as it was.
        let _ = write_metrics(&self.out_dir.join(METRICS_FILE), &self.state.metrics, self.metrics_metadata());
        Error::NonFinite {
            step,
            what,
            value,
            checkpoint: self.last_checkpoint.map(|s| (self.out_dir.join(CHECKPOINT_DIR), s)),
        }
    }

    /// Writes the checkpoint, then `metrics.parquet` and `biotorch.json`.
    fn checkpoint(&mut self) -> Result<PathBuf> {
        let model = &self.model;
        let tokenizer = &self.tokenizer;
        let optimizer = &self.optimizer;
        let dir = write_checkpoint(&self.out_dir, &mut self.state, |tmp| {
            optimizer.with_f32_weights(|| model.save(tmp))?;
            tokenizer.save(tmp)?;
            optimizer.save(&tmp.join(OPTIMIZER_FILE))
        })?;
        self.last_checkpoint = Some(self.state.step);
        self.write_outputs()?;
        Ok(dir)
    }

    fn metrics_metadata(&self) -> Vec<(String, String)> {
        vec![
            ("biotorch.version".into(), env!("CARGO_PKG_VERSION").into()),
            ("biotorch.command".into(), "train".into()),
            ("biotorch.input".into(), self.state.train.path.clone()),
            ("biotorch.argv".into(), self.state.commands.join(" ; ")),
        ]
    }

    fn write_outputs(&self) -> Result<()> {
        write_metrics(&self.out_dir.join(METRICS_FILE), &self.state.metrics, self.metrics_metadata())?;
        let mut text = serde_json::to_string_pretty(&self.provenance()).expect("JSON serializes");
        text.push('\n');
        biotorch_io::write_atomic(self.out_dir.join(PROVENANCE_FILE), text.as_bytes())?;
        Ok(())
    }

    /// The content of `biotorch.json`.
    fn provenance(&self) -> serde_json::Value {
        let s = &self.state;
        let last = s.metrics.last();
        let last_valid = s.metrics.iter().rev().find(|r| r.valid_loss.is_some());
        let best = s.best_step.and_then(|b| s.metrics.iter().find(|r| r.step == b && r.valid_loss.is_some()));
        let params = self.model.num_parameters();
        let data_name = Path::new(&s.train.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| s.train.path.clone());
        let summary = format!(
            "{} ({}, {} parameters, {} tokenizer), {} on {} ({} records), {} steps{}: valid loss {} (ppl {}, accuracy {}) at step {}",
            self.model.architecture(),
            s.model_source,
            human(params as f64),
            s.tokenizer,
            s.config.objective,
            data_name,
            s.train.records,
            s.step,
            if s.stopped_early { " (stopped early)" } else { "" },
            fmt_opt(best.and_then(|r| r.valid_loss), 4),
            fmt_opt(best.and_then(|r| r.valid_ppl), 3),
            fmt_opt(best.and_then(|r| r.valid_acc), 4),
            s.best_step.map_or("-".into(), |b| b.to_string()),
        );
        json!({
            "summary": summary,
            "biotorch_version": env!("CARGO_PKG_VERSION"),
            "date": utc_now(),
            "started": s.started,
            "finished": self.finished(),
            "objective": s.config.objective,
            "command": s.commands.first(),
            "resumed_with": &s.commands[1..],
            "seed": s.config.seed,
            "model": {
                "architecture": self.model.architecture(),
                "source": s.model_source,
                "parameters": params,
                "tokenizer": s.tokenizer,
                "weights": "the step with the lowest validation loss (best.step)",
            },
            "data": { "train": s.train, "valid": s.valid },
            "training": {
                "steps": s.step,
                "total_steps": self.total_steps,
                "epochs": last.map(|r| r.epoch),
                "tokens": s.tokens,
                "seconds": s.seconds,
                "stopped_early": s.stopped_early,
                "config": s.config,
            },
            "best": {
                "step": s.best_step,
                "valid_loss": best.and_then(|r| r.valid_loss),
                "valid_ppl": best.and_then(|r| r.valid_ppl),
                "valid_acc": best.and_then(|r| r.valid_acc),
            },
            "final": {
                "step": s.step,
                "train_loss": last.and_then(|r| r.train_loss),
                "valid_step": last_valid.map(|r| r.step),
                "valid_loss": last_valid.and_then(|r| r.valid_loss),
                "valid_ppl": last_valid.and_then(|r| r.valid_ppl),
                "valid_acc": last_valid.and_then(|r| r.valid_acc),
            },
        })
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// 1234567 -> "1.23M".
pub(crate) fn human(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}
