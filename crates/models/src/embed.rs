//! The embedding engine: token ids in, pooled vectors (or per-token vectors) out, for any model that implements
//! [`Encoder`] (ESM-2-style encoders and the SMILES decoder). `biotorch embed`, the property heads' backbone
//! (frozen embeddings and full fine-tuning) and the server all embed through it, so a sequence gets the same
//! vector whichever front end asks.
//!
//! An [`EmbedPlan`] says what to compute: output [`Column`]s (a [`Pooling`] of one hidden state each), the longest
//! input given to the model at once (`max_length` tokens, specials excluded), what to do with longer inputs
//! ([`LongPolicy`]) and the token budget of a batch. [`Embedder::embed`] then:
//!
//! 1. cuts every input into segments: the whole input, its first `max_length` tokens (truncate), or windows of
//!    `max_length` tokens starting every `max_length / 2` tokens with the last one aligned to the end (window);
//! 2. sorts the segments by length, longest first, and packs them into batches of at most `batch_tokens` tokens
//!    (batch size × padded width, specials included; padding is what costs time on CPU);
//! 3. runs each batch (`[start] tokens [eos] [pad]...`) through the model, on one device or on several replicas in
//!    rounds (each replica its own batch, at the same time; results applied in batch order, so the output is the
//!    same as on one device); a batch that does not fit in the device's memory runs as two halves, split again
//!    while they do not fit (the rows are the same: a row's values do not depend on its batch), and one segment
//!    that does not fit on its own is [`Error::OutOfMemory`] (see [`crate::memory`]);
//! 4. pools: `mean` over the tokens of [`Encoder::mean_span`] (residues for ESM-style encoders; for a causal decoder
//!    every token after `<bos>`, `<eos>` included, the one state that has seen the whole molecule), `cls` (the state
//!    at the start token), `per_token` (every token's state). A windowed input's token states are the mean over the
//!    windows that hold the token; its `mean` is the mean of those over the tokens (in f64), its `cls` the mean of
//!    the windows' start states.
//!
//! [`Embedder::pooled_t`] computes the same `mean` of the last layer as a tensor with gradients, for fine-tuning.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::esm2::{Esm2, Esm2Request};
use crate::memory;
use crate::smiles_gpt::SmilesGpt;

/// A model that turns padded batches of token ids into hidden states.
pub trait Encoder: Send {
    /// Width of the hidden states.
    fn hidden_size(&self) -> i64;
    /// Number of layers: hidden-state indices run from 0 (the embedding output) to this (the last layer's output,
    /// after the final norm).
    fn num_layers(&self) -> usize;
    /// Where the model's weights live.
    fn device(&self) -> Device;
    /// Which positions `mean` pooling averages.
    fn mean_span(&self) -> MeanSpan;
    /// The hidden states `[batch, seq, hidden]` with indices `layers` (increasing, each at most
    /// [`Encoder::num_layers`]) for `input_ids` and `attention_mask` (`[batch, seq]`, right padding). Records
    /// gradients; `train` turns dropout on.
    fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        layers: &[usize],
        train: bool,
    ) -> Result<Vec<Tensor>>;
}

/// The positions of a segment of `len` tokens (laid out `[start] t1..t_len [eos]`) that `mean` pooling averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeanSpan {
    /// Positions `1..=len`: the residues, start and end tokens excluded (esm-extract's `mean`).
    Residues,
    /// Positions `1..=len + 1`: every token after the start token, the end token included (causal decoders).
    AfterStart,
}

impl Encoder for Esm2 {
    fn hidden_size(&self) -> i64 {
        Esm2::hidden_size(self)
    }

    fn num_layers(&self) -> usize {
        Esm2::num_layers(self)
    }

    fn device(&self) -> Device {
        Esm2::device(self)
    }

    fn mean_span(&self) -> MeanSpan {
        MeanSpan::Residues
    }

    fn hidden_states(&self, ids: &Tensor, mask: &Tensor, layers: &[usize], train: bool) -> Result<Vec<Tensor>> {
        let request = Esm2Request::layers(layers.iter().map(|&l| l as i64).collect::<Vec<_>>());
        Ok(self.forward_t(ids, mask, &request, train)?.hidden_states)
    }
}

impl Encoder for SmilesGpt {
    fn hidden_size(&self) -> i64 {
        self.config().hidden_size
    }

    fn num_layers(&self) -> usize {
        SmilesGpt::num_layers(self)
    }

    fn device(&self) -> Device {
        SmilesGpt::device(self)
    }

    fn mean_span(&self) -> MeanSpan {
        MeanSpan::AfterStart
    }

    fn hidden_states(&self, ids: &Tensor, mask: &Tensor, layers: &[usize], train: bool) -> Result<Vec<Tensor>> {
        self.hidden_states_at(ids, mask, layers, train)
    }
}

/// How the hidden states of one input become the values of one output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The mean over [`Encoder::mean_span`].
    Mean,
    /// The state at the start token (`<cls>`, `<bos>`).
    Cls,
    /// Every token's state, specials excluded (`len × hidden` values).
    PerToken,
}

impl Pooling {
    /// Parses `mean`, `cls` (or `bos`), `per-token` (or `per_token`, `tokens`).
    pub fn parse(s: &str) -> Result<Pooling> {
        Ok(match s.trim() {
            "mean" => Pooling::Mean,
            "cls" | "bos" => Pooling::Cls,
            "per-token" | "per_token" | "tokens" => Pooling::PerToken,
            other => return Err(Error::Usage(format!("unknown pooling '{other}': use mean, cls or per-token"))),
        })
    }

    /// The name used in column names and metadata (`mean`, `cls`, `per_token`).
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::PerToken => "per_token",
        }
    }
}

/// What happens to inputs longer than [`EmbedPlan::max_length`] tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LongPolicy {
    /// Keep the first `max_length` tokens (the input is flagged as truncated).
    Truncate,
    /// Overlapping windows cover the whole input; each token's state is the mean over the windows holding it.
    /// Models whose mean includes the end token ([`MeanSpan::AfterStart`]) truncate instead.
    Window,
}

/// One output column: a pooling of one hidden state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name (`embedding`, `embedding_cls_l6`, ...).
    pub name: String,
    pub pooling: Pooling,
    /// Hidden-state index: 0 the embedding output, `num_layers` the last layer.
    pub layer: usize,
}

impl Column {
    /// Every (layer, pooling) pair in this order, each once, named as `biotorch embed` names them: the first
    /// `embedding`, the others `embedding_<pooling>_l<layer>`.
    pub fn grid(poolings: &[Pooling], layers: &[usize]) -> Vec<Column> {
        let mut columns: Vec<Column> = Vec::new();
        for &layer in layers {
            for &pooling in poolings {
                let name = if columns.is_empty() {
                    "embedding".to_string()
                } else {
                    format!("embedding_{}_l{layer}", pooling.name())
                };
                if !columns.iter().any(|c| c.name == name || (c.pooling == pooling && c.layer == layer)) {
                    columns.push(Column { name, pooling, layer });
                }
            }
        }
        columns
    }
}

/// A hidden-state index as given by a user (negative ones count from the end: -1 is the last layer) for a model of
/// `num_layers` layers.
pub fn resolve_layer(layer: i64, num_layers: usize) -> Result<usize> {
    let index = if layer < 0 { layer + num_layers as i64 + 1 } else { layer };
    if (0..=num_layers as i64).contains(&index) {
        Ok(index as usize)
    } else {
        Err(Error::LayerOutOfRange { layer, num_layers })
    }
}

/// What to compute and how to batch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedPlan {
    pub columns: Vec<Column>,
    /// The longest input, in tokens without the start and end tokens, given to the model at once.
    pub max_length: usize,
    pub long: LongPolicy,
    /// The most tokens in a batch: sequences × padded width, specials included (a longer segment runs alone).
    pub batch_tokens: usize,
}

impl EmbedPlan {
    /// The mean of the last layer: what the property heads use.
    pub fn mean_of_last(num_layers: usize, max_length: usize, long: LongPolicy, batch_tokens: usize) -> EmbedPlan {
        let columns = vec![Column { name: "embedding".into(), pooling: Pooling::Mean, layer: num_layers }];
        EmbedPlan { columns, max_length, long, batch_tokens }
    }

    /// The hidden-state indices the columns need, increasing.
    pub fn layers(&self) -> Vec<usize> {
        self.columns.iter().map(|c| c.layer).collect::<BTreeSet<_>>().into_iter().collect()
    }
}

/// The special tokens around every segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    /// `<cls>` (ESM) or `<bos>` (SMILES decoder).
    pub start: i64,
    pub eos: i64,
    pub pad: i64,
}

impl Specials {
    /// The start (`start_id`, else `cls_id`, else `bos_id`), end and padding tokens of a tokenizer (padding
    /// defaults to 1, ESM's).
    pub fn of(tokenizer: &dyn biotorch_tokenizers::Tokenizer) -> Result<Specials> {
        let start = tokenizer.start_id().or(tokenizer.cls_id()).or(tokenizer.bos_id()).ok_or_else(|| {
            Error::Unsupported(format!("the {} tokenizer has no <cls> or <bos> token", tokenizer.name()))
        })?;
        let eos = tokenizer
            .eos_id()
            .ok_or_else(|| Error::Unsupported(format!("the {} tokenizer has no <eos> token", tokenizer.name())))?;
        Ok(Specials { start: i64::from(start), eos: i64::from(eos), pad: i64::from(tokenizer.pad_id().unwrap_or(1)) })
    }
}

/// The values of one input: per column of the plan, `hidden` values (pooled) or `tokens × hidden` (per token).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Embedding {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens after `max_length` were left out ([`LongPolicy::Truncate`]).
    pub truncated: bool,
    /// How many windows covered the input (0: it fitted, or was truncated).
    pub windows: usize,
}

/// A piece of an input that goes through the model: tokens `start..start + len` of input `item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    item: usize,
    start: usize,
    len: usize,
    /// One of several windows over the input.
    windowed: bool,
}

/// Runs an [`EmbedPlan`] (see the module documentation).
#[derive(Debug, Clone)]
pub struct Embedder {
    plan: EmbedPlan,
    specials: Specials,
    layers: Vec<usize>,
}

/// What one batch produced, on the CPU (or, for [`Embedder::pooled_t`], on the model's device with gradients).
struct BatchStates {
    /// `[batch, width, hidden]` per layer of [`Embedder::layers`], in fp32.
    hidden: Vec<Tensor>,
    /// `[batch, hidden]` per layer: the mean over [`Encoder::mean_span`] of each row.
    means: Vec<Tensor>,
}

/// A batch (or part of one) that ran, with its states.
type Ran<'s> = (&'s [Segment], BatchStates);

/// The running sums of a windowed input.
struct Windows {
    /// Per column: the sum of the windows' token states `[len, hidden]` (or start-token states `[hidden]`).
    sums: Vec<Option<Tensor>>,
    /// How many windows hold each token.
    counts: Vec<f32>,
    windows: usize,
}

impl Embedder {
    /// An embedder for `plan`; `specials` frame every segment.
    pub fn new(plan: EmbedPlan, specials: Specials) -> Result<Embedder> {
        if plan.columns.is_empty() {
            return Err(Error::Usage("nothing to embed: the plan has no output column".into()));
        }
        if plan.max_length == 0 {
            return Err(Error::Usage("the longest input (max length) must be at least 1 token".into()));
        }
        if plan.batch_tokens == 0 {
            return Err(Error::Usage("the token budget of a batch must be at least 1".into()));
        }
        let layers = plan.layers();
        Ok(Embedder { plan, specials, layers })
    }

    pub fn plan(&self) -> &EmbedPlan {
        &self.plan
    }

    /// Embeds token lists (specials excluded, each at least one token) with one model, without gradients. The
    /// result is in the items' order.
    pub fn embed<E: Encoder>(&self, model: &E, items: &[&[i64]]) -> Result<Vec<Embedding>> {
        self.embed_with_progress(model, items, &mut |_, _| {})
    }

    /// [`Embedder::embed`], calling `progress(segments done, segments in all)` after each batch.
    pub fn embed_with_progress<E: Encoder>(
        &self,
        model: &E,
        items: &[&[i64]],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Embedding>> {
        self.check_model(model)?;
        let _guard = tch::no_grad_guard();
        let (segments, batches) = self.schedule(items, model.mean_span())?;
        let mut out = Output::new(self, items, model.mean_span());
        let mut done = 0;
        for range in &batches {
            let batch = &segments[range.clone()];
            for (part, states) in self.run_fitting(model, items, batch)? {
                out.apply(self, part, &states)?;
            }
            done += batch.len();
            progress(done, segments.len());
        }
        out.finish(self)
    }

    /// Embeds with several model replicas (one per device): batches go out in rounds of one per replica, each
    /// replica's batch running in its own thread, and are applied in batch order, so the result equals
    /// [`Embedder::embed`] with one replica.
    pub fn embed_replicas<E: Encoder>(&self, replicas: &mut [E], items: &[&[i64]]) -> Result<Vec<Embedding>> {
        let Some(first) = replicas.first() else {
            return Err(Error::Usage("no model replica to embed with".into()));
        };
        if replicas.len() == 1 {
            return self.embed(first, items);
        }
        for model in replicas.iter() {
            self.check_model(model)?;
        }
        let _guard = tch::no_grad_guard();
        let (segments, batches) = self.schedule(items, first.mean_span())?;
        let mut out = Output::new(self, items, first.mean_span());
        for round in batches.chunks(replicas.len()) {
            let results: Vec<Result<Vec<Ran>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = replicas
                    .iter_mut()
                    .zip(round)
                    .map(|(model, range)| {
                        let batch = &segments[range.clone()];
                        // `&mut` moves the replica into its thread (a model is Send, not Sync).
                        scope.spawn(move || {
                            let _guard = tch::no_grad_guard();
                            self.run_fitting(&*model, items, batch)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Unsupported("a replica's thread panicked".into()))))
                    .collect()
            });
            for parts in results {
                for (part, states) in parts? {
                    out.apply(self, part, &states)?;
                }
            }
        }
        out.finish(self)
    }

    /// The first column's pooling (which must be [`Pooling::Mean`]) of every item as one `[items, hidden]` fp32
    /// tensor on the model's device, recording gradients (`train` turns dropout on): all the items' segments run in
    /// one batch. Equal to [`Embedder::embed`]'s values for that column.
    pub fn pooled_t<E: Encoder>(&self, model: &E, items: &[&[i64]], train: bool) -> Result<Tensor> {
        self.check_model(model)?;
        let column = &self.plan.columns[0];
        if column.pooling != Pooling::Mean {
            return Err(Error::Usage("pooled_t computes mean pooling only".into()));
        }
        let segments = self.segments(items, model.mean_span())?;
        // All the segments are one batch, recording gradients: a batch that does not fit cannot be split here.
        let states = memory::catch_out_of_memory(|| self.run_batch(model, items, &segments, train))?
            .map_err(|detail| self.out_of_memory(model.device(), &segments, detail))?;
        let at = self.layers.binary_search(&column.layer).expect("a column's layer is in the plan");
        let (hidden, means) = (&states.hidden[at], &states.means[at]);
        let mut rows: Vec<Option<Tensor>> = (0..items.len()).map(|_| None).collect();
        let mut windows: Vec<Option<Tensor>> = (0..items.len()).map(|_| None).collect();
        let mut counts: Vec<Vec<f32>> = vec![Vec::new(); items.len()];
        for (b, s) in segments.iter().enumerate() {
            if !s.windowed {
                rows[s.item] = Some(means.get(b as i64));
                continue;
            }
            let n = items[s.item].len();
            let tokens = hidden.get(b as i64).narrow(0, 1, s.len as i64);
            windows[s.item] = Some(add_rows(windows[s.item].take(), n, s.start, &tokens));
            count_window(&mut counts[s.item], n, s);
        }
        let rows: Vec<Tensor> = rows
            .into_iter()
            .zip(windows)
            .zip(&counts)
            .map(|((row, sums), counts)| match (row, sums) {
                (Some(row), _) => row,
                (None, Some(sums)) => token_mean(&per_token(&sums, counts)),
                (None, None) => unreachable!("every item has a segment"),
            })
            .collect();
        Ok(Tensor::stack(&rows, 0))
    }

    fn check_model<E: Encoder>(&self, model: &E) -> Result<()> {
        let num_layers = model.num_layers();
        match self.layers.last() {
            Some(&deepest) if deepest > num_layers => Err(Error::LayerOutOfRange { layer: deepest as i64, num_layers }),
            _ => Ok(()),
        }
    }

    /// Whether an input is covered by windows.
    fn windowed(&self, tokens: &[i64], span: MeanSpan) -> bool {
        tokens.len() > self.plan.max_length && self.plan.long == LongPolicy::Window && span == MeanSpan::Residues
    }

    /// The segments of every item, in item order (an item's windows in order of their start).
    fn segments(&self, items: &[&[i64]], span: MeanSpan) -> Result<Vec<Segment>> {
        let w = self.plan.max_length;
        let mut segments = Vec::with_capacity(items.len());
        for (item, tokens) in items.iter().enumerate() {
            let n = tokens.len();
            if n == 0 {
                return Err(Error::Input(format!("input {item} has no tokens")));
            }
            if !self.windowed(tokens, span) {
                segments.push(Segment { item, start: 0, len: n.min(w), windowed: false });
                continue;
            }
            let stride = (w / 2).max(1);
            let mut start = 0;
            loop {
                let s = start.min(n - w);
                segments.push(Segment { item, start: s, len: w, windowed: true });
                if s + w >= n {
                    break;
                }
                start += stride;
            }
        }
        Ok(segments)
    }

    /// The segments sorted longest first (stable) and cut into batches under the token budget.
    fn schedule(&self, items: &[&[i64]], span: MeanSpan) -> Result<(Vec<Segment>, Vec<std::ops::Range<usize>>)> {
        let mut segments = self.segments(items, span)?;
        segments.sort_by_key(|s| std::cmp::Reverse(s.len));
        let mut batches = Vec::new();
        let mut i = 0;
        while i < segments.len() {
            let width = segments[i].len + 2;
            let j = (i + (self.plan.batch_tokens / width).max(1)).min(segments.len());
            batches.push(i..j);
            i = j;
        }
        Ok((segments, batches))
    }

    /// Runs one batch without gradients, its states copied to the CPU. A batch that does not fit in the device's
    /// memory runs as two halves instead, each split again while it does not fit; one segment that does not fit on
    /// its own is [`Error::OutOfMemory`]. Returns the parts that ran, in order, with their states: the rows are those
    /// of the whole batch (each row's values do not depend on the others in its batch).
    fn run_fitting<'s, E: Encoder>(&self, model: &E, items: &[&[i64]], batch: &'s [Segment]) -> Result<Vec<Ran<'s>>> {
        let mut done = Vec::with_capacity(1);
        // Parts still to run, the next one last.
        let mut pending = vec![batch];
        while let Some(part) = pending.pop() {
            match memory::catch_out_of_memory(|| Ok(self.run_batch(model, items, part, false)?.into_cpu()))? {
                Ok(states) => done.push((part, states)),
                Err(_) if part.len() > 1 => {
                    let (first, second) = part.split_at(part.len() / 2);
                    pending.extend([second, first]);
                }
                Err(detail) => return Err(self.out_of_memory(model.device(), part, detail)),
            }
        }
        Ok(done)
    }

    /// [`Error::OutOfMemory`] for `batch` on `device`.
    fn out_of_memory(&self, device: Device, batch: &[Segment], detail: String) -> Error {
        Error::OutOfMemory {
            device: memory::device_name(device),
            rows: batch.len(),
            tokens: batch.len() * batch_width(batch),
            batch_tokens: self.plan.batch_tokens,
            detail,
        }
    }

    /// Runs one batch of segments: `[start] tokens [eos] [pad]...` per row.
    fn run_batch<E: Encoder>(
        &self,
        model: &E,
        items: &[&[i64]],
        batch: &[Segment],
        train: bool,
    ) -> Result<BatchStates> {
        let Specials { start, eos, pad } = self.specials;
        let width = batch_width(batch);
        let mut ids = vec![pad; batch.len() * width];
        let mut mask = vec![0i64; batch.len() * width];
        for (b, s) in batch.iter().enumerate() {
            let row = &mut ids[b * width..(b + 1) * width];
            row[0] = start;
            row[1..=s.len].copy_from_slice(&items[s.item][s.start..s.start + s.len]);
            row[s.len + 1] = eos;
            mask[b * width..b * width + s.len + 2].fill(1);
        }
        let device = model.device();
        let shape = [batch.len() as i64, width as i64];
        let ids = memory::upload(&Tensor::from_slice(&ids).view(shape), device);
        let mask = memory::upload(&Tensor::from_slice(&mask).view(shape), device);
        let hidden = model.hidden_states(&ids, &mask, &self.layers, train)?;
        let span = model.mean_span();
        let means = hidden.iter().map(|h| mean_pool(h, &mask, span)).collect();
        let hidden = hidden.into_iter().map(|h| h.to_kind(Kind::Float)).collect();
        Ok(BatchStates { hidden, means })
    }
}

/// The padded width of a batch: its longest segment and the two specials.
fn batch_width(batch: &[Segment]) -> usize {
    batch.iter().map(|s| s.len).max().unwrap_or(0) + 2
}

impl BatchStates {
    fn into_cpu(self) -> BatchStates {
        let cpu = |t: Tensor| t.to_device(Device::Cpu);
        BatchStates {
            hidden: self.hidden.into_iter().map(cpu).collect(),
            means: self.means.into_iter().map(cpu).collect(),
        }
    }
}

/// The results being gathered for [`Embedder::embed`]: each item's values, or its windows' running sums.
struct Output {
    rows: Vec<Embedding>,
    windows: Vec<Option<Windows>>,
    lengths: Vec<usize>,
}

impl Output {
    fn new(embedder: &Embedder, items: &[&[i64]], span: MeanSpan) -> Output {
        let plan = &embedder.plan;
        let rows = items
            .iter()
            .map(|t| Embedding {
                vectors: vec![Vec::new(); plan.columns.len()],
                truncated: t.len() > plan.max_length && !embedder.windowed(t, span),
                windows: 0,
            })
            .collect();
        Output {
            rows,
            windows: (0..items.len()).map(|_| None).collect(),
            lengths: items.iter().map(|t| t.len()).collect(),
        }
    }

    /// Stores a batch's results: pooled vectors of whole inputs, running sums of windowed ones.
    fn apply(&mut self, embedder: &Embedder, batch: &[Segment], states: &BatchStates) -> Result<()> {
        let plan = &embedder.plan;
        for (b, s) in batch.iter().enumerate() {
            let n = self.lengths[s.item];
            let windowed = s.windowed;
            if windowed && self.windows[s.item].is_none() {
                self.windows[s.item] = Some(Windows {
                    sums: (0..plan.columns.len()).map(|_| None).collect(),
                    counts: Vec::new(),
                    windows: 0,
                });
            }
            for (c, column) in plan.columns.iter().enumerate() {
                let at = embedder.layers.binary_search(&column.layer).expect("a column's layer is in the plan");
                let row = states.hidden[at].get(b as i64);
                match (self.windows[s.item].as_mut().filter(|_| windowed), column.pooling) {
                    (None, Pooling::Mean) => self.rows[s.item].vectors[c] = to_vec(&states.means[at].get(b as i64))?,
                    (None, Pooling::Cls) => self.rows[s.item].vectors[c] = to_vec(&row.get(0))?,
                    (None, Pooling::PerToken) => {
                        self.rows[s.item].vectors[c] = to_vec(&row.narrow(0, 1, s.len as i64))?;
                    }
                    (Some(w), Pooling::Cls) => {
                        let start = row.get(0);
                        w.sums[c] = Some(match w.sums[c].take() {
                            Some(sum) => sum + start,
                            None => start.zeros_like() + start,
                        });
                    }
                    (Some(w), Pooling::Mean | Pooling::PerToken) => {
                        w.sums[c] = Some(add_rows(w.sums[c].take(), n, s.start, &row.narrow(0, 1, s.len as i64)));
                    }
                }
            }
            if let Some(w) = self.windows[s.item].as_mut().filter(|_| windowed) {
                count_window(&mut w.counts, n, s);
                w.windows += 1;
            }
        }
        Ok(())
    }

    fn finish(mut self, embedder: &Embedder) -> Result<Vec<Embedding>> {
        for (item, windows) in self.windows.into_iter().enumerate() {
            let Some(w) = windows else { continue };
            let row = &mut self.rows[item];
            row.windows = w.windows;
            for (c, (column, sum)) in embedder.plan.columns.iter().zip(w.sums).enumerate() {
                let sum = sum.expect("every column of a windowed input has sums");
                row.vectors[c] = match column.pooling {
                    Pooling::Cls => to_vec(&(sum / w.windows.max(1) as f64))?,
                    Pooling::Mean => to_vec(&token_mean(&per_token(&sum, &w.counts)))?,
                    Pooling::PerToken => to_vec(&per_token(&sum, &w.counts))?,
                };
            }
        }
        Ok(self.rows)
    }
}

/// The mean of `hidden` (`[batch, seq, dim]`) over each row's [`MeanSpan`], from the attention mask (`len + 2`
/// attended tokens): `[batch, dim]` in fp32 (a row without tokens in its span gives zeros).
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor, span: MeanSpan) -> Tensor {
    let device = hidden.device();
    let mask = attention_mask.to_device(device).to_kind(Kind::Float);
    let seq = mask.size()[1];
    let count = mask.sum_dim_intlist(-1, true, None::<Kind>)
        - match span {
            MeanSpan::Residues => 2.0,
            MeanSpan::AfterStart => 1.0,
        };
    let position = Tensor::arange(seq, (Kind::Float, device)).unsqueeze(0);
    let weights = (position.ge(1.0) * position.le_tensor(&count)).to_kind(Kind::Float);
    let sums = weights.unsqueeze(1).bmm(&hidden.to_kind(Kind::Float)).squeeze_dim(1);
    sums / count.clamp_min(1.0)
}

/// `sums` (`[n, dim]`, zeros when `None`) with `rows` added at positions `start..start + rows`.
fn add_rows(sums: Option<Tensor>, n: usize, start: usize, rows: &Tensor) -> Tensor {
    let mut sums = sums.unwrap_or_else(|| Tensor::zeros([n as i64, rows.size()[1]], (rows.kind(), rows.device())));
    let index =
        Tensor::arange_start(start as i64, (start + rows.size()[0] as usize) as i64, (Kind::Int64, rows.device()));
    // In place: a copy of the whole table per window made long proteins quadratic (1M residues: ~15 minutes).
    let _ = sums.index_add_(0, &index, rows);
    sums
}

fn count_window(counts: &mut Vec<f32>, n: usize, s: &Segment) {
    counts.resize(n, 0.0);
    counts[s.start..s.start + s.len].iter_mut().for_each(|c| *c += 1.0);
}

/// Token sums divided by how many windows held each token.
fn per_token(sums: &Tensor, counts: &[f32]) -> Tensor {
    let counts = Tensor::from_slice(counts).to_device(sums.device()).clamp_min(1.0).unsqueeze(1);
    sums / counts
}

/// The mean over tokens (rows), accumulated in f64.
fn token_mean(tokens: &Tensor) -> Tensor {
    tokens.to_kind(Kind::Double).mean_dim(0, false, None::<Kind>).to_kind(Kind::Float)
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let t = t.to_kind(Kind::Float).to_device(Device::Cpu).contiguous().view(-1);
    Ok(Vec::<f32>::try_from(&t)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esm2::Esm2Config;
    use crate::smiles_gpt::SmilesGptConfig;

    fn esm() -> Esm2 {
        let config = Esm2Config {
            num_hidden_layers: 2,
            hidden_size: 16,
            intermediate_size: 32,
            num_attention_heads: 2,
            ..Esm2Config::esm2_t6_8m()
        };
        crate::seeded(1, || Esm2::new_random(config, Device::Cpu, Kind::Float).unwrap())
    }

    fn gpt() -> SmilesGpt {
        let config = SmilesGptConfig { num_hidden_layers: 2, hidden_size: 16, ..SmilesGptConfig::small(30) };
        crate::seeded(2, || SmilesGpt::new_random(config, Device::Cpu, Kind::Float).unwrap())
    }

    const SPECIALS: Specials = Specials { start: 0, eos: 2, pad: 1 };

    fn items(lengths: &[usize]) -> Vec<Vec<i64>> {
        lengths.iter().enumerate().map(|(i, &n)| (0..n).map(|t| 4 + ((i * 7 + t * 3) % 20) as i64).collect()).collect()
    }

    fn plan(columns: Vec<Column>, max_length: usize, long: LongPolicy, batch_tokens: usize) -> EmbedPlan {
        EmbedPlan { columns, max_length, long, batch_tokens }
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// The hidden states of one input run alone, `[len + 2, dim]` per layer.
    fn alone<E: Encoder>(model: &E, tokens: &[i64], layers: &[usize]) -> Vec<Tensor> {
        let mut ids = vec![SPECIALS.start];
        ids.extend_from_slice(tokens);
        ids.push(SPECIALS.eos);
        let ids = Tensor::from_slice(&ids).unsqueeze(0);
        let mask = ids.ones_like();
        let _guard = tch::no_grad_guard();
        model.hidden_states(&ids, &mask, layers, false).unwrap().into_iter().map(|h| h.get(0)).collect()
    }

    #[test]
    fn columns_are_named_as_embed_names_them() {
        let cols = Column::grid(&[Pooling::Mean, Pooling::Cls, Pooling::Mean], &[2, 0]);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["embedding", "embedding_cls_l2", "embedding_mean_l0", "embedding_cls_l0"]);
        assert_eq!(resolve_layer(-1, 6).unwrap(), 6);
        assert_eq!(resolve_layer(0, 6).unwrap(), 0);
        assert!(resolve_layer(7, 6).is_err() && resolve_layer(-8, 6).is_err());
        assert_eq!(Pooling::parse("per-token").unwrap(), Pooling::PerToken);
        assert!(Pooling::parse("max").unwrap_err().to_string().contains("use mean, cls or per-token"));
    }

    #[test]
    fn pooled_values_equal_the_model_run_alone_whatever_the_batching() {
        let model = esm();
        let data = items(&[5, 12, 1, 9, 9, 3]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let columns = Column::grid(&[Pooling::Mean, Pooling::Cls, Pooling::PerToken], &[2, 1]);
        let big = Embedder::new(plan(columns.clone(), 50, LongPolicy::Truncate, 4096), SPECIALS).unwrap();
        let small = Embedder::new(plan(columns.clone(), 50, LongPolicy::Truncate, 14), SPECIALS).unwrap();
        let (a, b) = (big.embed(&model, &refs).unwrap(), small.embed(&model, &refs).unwrap());
        for (i, tokens) in refs.iter().enumerate() {
            let states = alone(&model, tokens, &[1, 2]);
            for (c, col) in columns.iter().enumerate() {
                let h = &states[col.layer - 1];
                let expected = match col.pooling {
                    Pooling::Mean => h.narrow(0, 1, tokens.len() as i64).mean_dim(0, false, None::<Kind>),
                    Pooling::Cls => h.get(0),
                    Pooling::PerToken => h.narrow(0, 1, tokens.len() as i64),
                };
                let expected = to_vec(&expected).unwrap();
                assert!(max_diff(&a[i].vectors[c], &expected) < 1e-5, "item {i} column {}", col.name);
                assert!(max_diff(&a[i].vectors[c], &b[i].vectors[c]) < 1e-5, "batching changed item {i}");
            }
            assert!(!a[i].truncated && a[i].windows == 0);
        }
    }

    /// A model that fails as a GPU out of memory does (a panic in a tensor method, or a libtorch error) on batches
    /// of more than `max_rows` rows, or panics with `other` on any batch.
    struct Cramped<E> {
        inner: E,
        max_rows: i64,
        as_error: bool,
        other: Option<&'static str>,
        calls: std::sync::atomic::AtomicUsize,
    }

    const OOM: &str = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB";

    fn cramped<E: Encoder>(inner: E, max_rows: i64) -> Cramped<E> {
        Cramped { inner, max_rows, as_error: false, other: None, calls: Default::default() }
    }

    impl<E: Encoder> Encoder for Cramped<E> {
        fn hidden_size(&self) -> i64 {
            self.inner.hidden_size()
        }

        fn num_layers(&self) -> usize {
            self.inner.num_layers()
        }

        fn device(&self) -> Device {
            self.inner.device()
        }

        fn mean_span(&self) -> MeanSpan {
            self.inner.mean_span()
        }

        fn hidden_states(&self, ids: &Tensor, mask: &Tensor, layers: &[usize], train: bool) -> Result<Vec<Tensor>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(message) = self.other {
                panic!("{message}");
            }
            if ids.size()[0] > self.max_rows {
                if self.as_error {
                    return Err(Error::Torch(tch::TchError::Torch(format!("{OOM}\nException raised from malloc"))));
                }
                // What tch's infallible methods do with libtorch's error.
                panic!("called `Result::unwrap()` on an `Err` value: Torch({:?})", format!("{OOM}\nException raised"));
            }
            self.inner.hidden_states(ids, mask, layers, train)
        }
    }

    fn assert_same_rows(a: &[Embedding], b: &[Embedding]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!((x.truncated, x.windows), (y.truncated, y.windows), "item {i}");
            for (c, (u, v)) in x.vectors.iter().zip(&y.vectors).enumerate() {
                assert!(max_diff(u, v) < 1e-5, "item {i} column {c}");
            }
        }
    }

    #[test]
    fn a_batch_that_does_not_fit_runs_in_halves_with_the_same_rows() {
        let data = items(&[5, 12, 1, 9, 9, 3, 7, 2, 13, 4]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let columns = Column::grid(&[Pooling::Mean, Pooling::Cls, Pooling::PerToken], &[2, 1]);
        for long in [LongPolicy::Truncate, LongPolicy::Window] {
            let e = Embedder::new(plan(columns.clone(), 6, long, 4096), SPECIALS).unwrap();
            let expected = e.embed(&esm(), &refs).unwrap();
            for as_error in [false, true] {
                let model = Cramped { as_error, ..cramped(esm(), 3) };
                let mut progress = Vec::new();
                let rows = e.embed_with_progress(&model, &refs, &mut |done, all| progress.push((done, all))).unwrap();
                assert_same_rows(&rows, &expected);
                // One batch of every segment, split down to parts of at most 3 rows: several attempts, one report.
                assert!(model.calls.load(std::sync::atomic::Ordering::Relaxed) > 4);
                assert_eq!(progress.len(), 1);
            }
        }
        // Replicas split their own batches.
        let e = Embedder::new(plan(columns, 6, LongPolicy::Window, 40), SPECIALS).unwrap();
        let expected = e.embed(&esm(), &refs).unwrap();
        let mut replicas = vec![cramped(esm(), 2), cramped(esm(), 1)];
        assert_same_rows(&e.embed_replicas(&mut replicas, &refs).unwrap(), &expected);
    }

    #[test]
    fn a_sequence_that_does_not_fit_alone_is_a_clear_error() {
        let data = items(&[5, 12, 3]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let e = Embedder::new(EmbedPlan::mean_of_last(2, 50, LongPolicy::Truncate, 4096), SPECIALS).unwrap();
        let err = e.embed(&cramped(esm(), 0), &refs).unwrap_err();
        let Error::OutOfMemory { ref device, rows, tokens, batch_tokens, ref detail } = err else {
            panic!("expected OutOfMemory, got {err:?}")
        };
        // The longest segment first: 12 tokens and the two specials.
        assert_eq!((device.as_str(), rows, tokens, batch_tokens), ("cpu", 1, 14, 4096));
        assert_eq!(detail, OOM);
        let message = err.to_string();
        for part in ["out of memory on cpu", "14 tokens", "--batch-tokens (now 4096)", "--max-length", "--long window"]
        {
            assert!(message.contains(part), "{part:?} not in {message}");
        }
        assert!(!err.is_bad_input());
        // The gradient path cannot split its one batch.
        let err = e.pooled_t(&cramped(esm(), 2), &refs, true).unwrap_err();
        assert!(matches!(err, Error::OutOfMemory { rows: 3, tokens: 42, .. }), "{err:?}");
        assert!(err.to_string().contains("a batch of 3 sequences, 42 tokens"), "{err}");
        // Without a token budget (fine-tuning's one batch), none is quoted.
        let unbounded = Embedder::new(EmbedPlan::mean_of_last(2, 50, LongPolicy::Truncate, usize::MAX), SPECIALS);
        let err = unbounded.unwrap().pooled_t(&cramped(esm(), 2), &refs, true).unwrap_err().to_string();
        assert!(err.contains("give a smaller --batch-tokens or --batch-size") && !err.contains("(now"), "{err}");
    }

    #[test]
    fn other_panics_are_not_swallowed() {
        let data = items(&[5, 3]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let e = Embedder::new(EmbedPlan::mean_of_last(2, 50, LongPolicy::Truncate, 4096), SPECIALS).unwrap();
        let model = Cramped { other: Some("index 9 is out of bounds"), ..cramped(esm(), 8) };
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.embed(&model, &refs))).unwrap_err();
        assert_eq!(memory::panic_message(payload.as_ref()), Some("index 9 is out of bounds"));
        assert_eq!(model.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn windows_average_each_token_over_the_windows_that_hold_it() {
        let model = esm();
        let data = items(&[11, 4]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let columns = Column::grid(&[Pooling::Mean, Pooling::Cls, Pooling::PerToken], &[2]);
        let e = Embedder::new(plan(columns, 6, LongPolicy::Window, 16), SPECIALS).unwrap();
        let out = e.embed(&model, &refs).unwrap();
        // Windows of 6 every 3 tokens over 11 tokens: starts 0, 3, 5 (the last aligned to the end).
        assert_eq!(out[0].windows, 3);
        let starts = [0usize, 3, 5];
        let states: Vec<Tensor> = starts.iter().map(|&s| alone(&model, &refs[0][s..s + 6], &[2]).remove(0)).collect();
        let mut expected = vec![0f32; 11 * 16];
        let mut counts = [0f32; 11];
        for (&s, h) in starts.iter().zip(&states) {
            let v = to_vec(&h.narrow(0, 1, 6)).unwrap();
            for t in 0..6 {
                counts[s + t] += 1.0;
                for d in 0..16 {
                    expected[(s + t) * 16 + d] += v[t * 16 + d];
                }
            }
        }
        for t in 0..11 {
            expected[t * 16..(t + 1) * 16].iter_mut().for_each(|x| *x /= counts[t]);
        }
        assert!(max_diff(&out[0].vectors[2], &expected) < 1e-5);
        let mean: Vec<f32> = (0..16).map(|d| (0..11).map(|t| expected[t * 16 + d]).sum::<f32>() / 11.0).collect();
        assert!(max_diff(&out[0].vectors[0], &mean) < 1e-5);
        let cls: Vec<f32> =
            (0..16).map(|d| states.iter().map(|h| to_vec(&h.get(0)).unwrap()[d]).sum::<f32>() / 3.0).collect();
        assert!(max_diff(&out[0].vectors[1], &cls) < 1e-5);
        // The gradient path gives the same mean.
        let mean_plan = EmbedPlan::mean_of_last(2, 6, LongPolicy::Window, 16);
        let t = Embedder::new(mean_plan, SPECIALS).unwrap().pooled_t(&model, &refs, false).unwrap();
        assert!(max_diff(&to_vec(&t.get(0)).unwrap(), &out[0].vectors[0]) < 1e-6);
        assert!(max_diff(&to_vec(&t.get(1)).unwrap(), &out[1].vectors[0]) < 1e-6);
    }

    #[test]
    fn truncation_keeps_the_first_tokens_and_replicas_give_the_same_rows() {
        let model = esm();
        let data = items(&[20, 3, 8]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let columns = Column::grid(&[Pooling::Mean, Pooling::PerToken], &[2]);
        let e = Embedder::new(plan(columns, 8, LongPolicy::Truncate, 20), SPECIALS).unwrap();
        let one = e.embed(&model, &refs).unwrap();
        assert!(one[0].truncated && !one[1].truncated && !one[2].truncated);
        assert_eq!(one[0].vectors[1].len(), 8 * 16);
        let first8 = e.embed(&model, &[&refs[0][..8]]).unwrap();
        for c in 0..2 {
            assert!(max_diff(&first8[0].vectors[c], &one[0].vectors[c]) < 1e-5);
        }
        let mut replicas = vec![esm(), esm(), esm()];
        let many = e.embed_replicas(&mut replicas, &refs).unwrap();
        assert_eq!(many, one);
    }

    #[test]
    fn the_decoder_means_every_token_after_bos_and_never_windows() {
        let model = gpt();
        let data = items(&[7, 3]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let e = Embedder::new(EmbedPlan::mean_of_last(2, 5, LongPolicy::Window, 64), SPECIALS).unwrap();
        let out = e.embed(&model, &refs).unwrap();
        assert_eq!(out[0].windows, 0);
        let h = alone(&model, &refs[0][..5], &[2]).remove(0);
        let expected = to_vec(&h.narrow(0, 1, 6).mean_dim(0, false, None::<Kind>)).unwrap();
        assert!(max_diff(&out[0].vectors[0], &expected) < 1e-5);
        let t = e.pooled_t(&model, &refs, false).unwrap();
        assert!(max_diff(&to_vec(&t.get(0)).unwrap(), &out[0].vectors[0]) < 1e-6);
        // Inner layers of the decoder: index 0 is the embedding output.
        let all = model
            .hidden_states_at(
                &Tensor::from_slice(&[0i64, 5, 6, 2]).unsqueeze(0),
                &Tensor::ones([1, 4], (Kind::Int64, Device::Cpu)),
                &[0, 1, 2],
                false,
            )
            .unwrap();
        assert_eq!(all.len(), 3);
        let last = model
            .final_hidden_states(
                &Tensor::from_slice(&[0i64, 5, 6, 2]).unsqueeze(0),
                &Tensor::ones([1, 4], (Kind::Int64, Device::Cpu)),
                false,
            )
            .unwrap();
        assert_eq!(to_vec(&all[2]).unwrap(), to_vec(&last).unwrap());
    }

    #[test]
    fn pooled_t_records_gradients() {
        let model = esm();
        let data = items(&[9, 4]);
        let refs: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
        let e = Embedder::new(EmbedPlan::mean_of_last(2, 6, LongPolicy::Window, 64), SPECIALS).unwrap();
        let t = e.pooled_t(&model, &refs, true).unwrap();
        assert_eq!(t.size(), [2, 16]);
        t.sum(Kind::Float).backward();
        let grads = model.var_store().trainable_variables().iter().filter(|v| v.grad().defined()).count();
        assert!(grads > 0);
    }

    #[test]
    fn bad_plans_are_refused() {
        let cols = Column::grid(&[Pooling::Mean], &[1]);
        assert!(Embedder::new(plan(vec![], 5, LongPolicy::Truncate, 10), SPECIALS).is_err());
        assert!(Embedder::new(plan(cols.clone(), 0, LongPolicy::Truncate, 10), SPECIALS).is_err());
        assert!(Embedder::new(plan(cols, 5, LongPolicy::Truncate, 0), SPECIALS).is_err());
        let deep = Embedder::new(plan(Column::grid(&[Pooling::Mean], &[9]), 5, LongPolicy::Truncate, 10), SPECIALS);
        assert!(deep.unwrap().embed(&esm(), &[&[4, 5]]).is_err());
    }
}
