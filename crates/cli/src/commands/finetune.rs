//! `biotorch finetune`: a property-prediction head on a backbone. Reads the labelled table, loads the backbone and
//! runs the experiment of biotorch-heads (`experiment::run`: targets, splits or k folds, frozen or full fine-tuning,
//! ensembles, trivial and ridge baselines, the head written into HEAD_DIR), showing its progress; then prints the
//! held-out metrics next to the baselines and draws predicted-vs-measured and ROC plots into HEAD_DIR.

mod plots;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_heads::experiment::{self, Event, Mode, ModelInfo, Outcome, Request, Settings, SplitChoice, Table};
use biotorch_heads::label::TaskChoice;
use biotorch_heads::score::{format_table, Scores};
use biotorch_heads::{encoder, Backbone, Modality, Task};
use biotorch_io::rows::SequenceRows;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;

use crate::args::{positive, DeviceArg, DtypeArg, LongPolicy, ModelArg};
use crate::ctx::Ctx;

/// Regression or classification (auto: classification for text labels or at most 10 distinct integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TaskArg {
    Auto,
    Regression,
    Classification,
}

/// How labelled rows are split into train / valid / test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SplitArg {
    /// Rows drawn at random (by --seed).
    Random,
    /// Molecules grouped by Bemis–Murcko scaffold, each scaffold on one side (chemprop's balanced split).
    Scaffold,
    /// The values train / valid / test of --split-column.
    Column,
}

/// What `finetune` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FinetuneMode {
    /// The encoder stays as it is; the head trains on embeddings computed once.
    Frozen,
    /// The encoder (all layers, or --train-layers) trains with the head.
    Full,
    /// A LoRA adapter (--lora-r, --lora-alpha, --lora-dropout, --lora-targets) on the frozen encoder trains with the
    /// head; saved as adapter-K/ in HF PEFT's layout.
    Lora,
}

#[derive(Debug, Args)]
pub(crate) struct FinetuneArgs {
    /// The backbone; its tokenizer decides the modality (protein, DNA, or SMILES for the decoder).
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// Labelled table: CSV, TSV (maybe .gz) or Parquet with a header.
    #[arg(long, value_name = "FILE")]
    pub(crate) data: PathBuf,
    /// The column with the sequences or SMILES [default: sequence, or smiles for a SMILES model].
    #[arg(long, value_name = "COL")]
    pub(crate) sequence_column: Option<String>,
    /// Target column(s), comma-separated; empty cells (or NA, NaN) are missing and left out of the loss.
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',', required = true)]
    pub(crate) target: Vec<String>,
    /// regression, classification or auto; one for all targets or one per target.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) task: Vec<TaskArg>,
    /// Output folder: head.safetensors, head.json, metrics.json, plots (and encoder-K/ with --mode full, adapter-K/
    /// with --mode lora).
    #[arg(short, long, value_name = "HEAD_DIR")]
    pub(crate) output: PathBuf,
    /// Replace a head already in HEAD_DIR.
    #[arg(long)]
    pub(crate) force: bool,
    /// frozen (MLP on cached embeddings), full (fine-tune the encoder too) or lora (a LoRA adapter on the encoder).
    #[arg(long, value_enum, default_value = "frozen")]
    pub(crate) mode: FinetuneMode,
    /// Same as --mode lora.
    #[arg(long, conflicts_with = "mode")]
    pub(crate) lora: bool,
    /// LoRA rank.
    #[arg(long, default_value_t = 8, value_name = "R", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) lora_r: i64,
    /// LoRA alpha (the update is scaled by alpha / r).
    #[arg(long, default_value_t = 16.0, value_name = "A")]
    pub(crate) lora_alpha: f64,
    /// Dropout on the adapters' inputs while training.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub(crate) lora_dropout: f64,
    /// Modules that get adapters, PEFT's names [default: query,key,value,dense for ESM encoders (dense: the
    /// attention output, intermediate and output projections); q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
    /// for SMILES decoders].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) lora_targets: Vec<String>,
    /// With --mode full: train only the top N encoder layers (and the final norm) [default: all, embeddings too].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) train_layers: Option<usize>,
    /// random, scaffold (molecules) or column (--split-column).
    #[arg(long, value_enum, default_value = "random")]
    pub(crate) split: SplitArg,
    /// With --split column: the column holding train / valid / test (without valid rows, --valid-fraction of train
    /// is held out).
    #[arg(long, default_value = "split", value_name = "COL")]
    pub(crate) split_column: String,
    /// Fraction of the rows for validation (early stopping).
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub(crate) valid_fraction: f64,
    /// Fraction of the rows held out for testing (random and scaffold splits).
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub(crate) test_fraction: f64,
    /// K-fold cross-validation: K models, each tested on its fold (metrics out-of-fold); the head is their ensemble.
    #[arg(long, value_name = "K")]
    pub(crate) folds: Option<usize>,
    /// Seed of the split, the initial weights and the batch order (ensemble member k uses seed + k).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) seed: u64,
    /// Train K members with different seeds; predictions are their mean, `<target>_std` their spread.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = positive)]
    pub(crate) ensemble: usize,
    /// Most epochs [default: 300 frozen, 20 full].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) epochs: Option<usize>,
    /// Stop after N epochs without a lower validation loss [default: 30 frozen, 4 full].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) patience: Option<usize>,
    /// Learning rate of the head (AdamW) [default: 1e-3].
    #[arg(long, value_name = "LR")]
    pub(crate) lr: Option<f64>,
    /// Learning rate of the encoder with --mode full, of the adapters with --mode lora [default: 1e-4 full, 1e-3
    /// lora].
    #[arg(long, value_name = "LR")]
    pub(crate) encoder_lr: Option<f64>,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01, value_name = "W")]
    pub(crate) weight_decay: f64,
    /// Rows per mini-batch [default: 64 frozen, 16 full].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) batch_size: Option<usize>,
    /// Hidden width of the MLP.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub(crate) hidden: i64,
    /// Dropout of the MLP.
    #[arg(long, default_value_t = 0.1, value_name = "P")]
    pub(crate) dropout: f64,
    /// Longest input in tokens without specials [default: the model's window, 1022 for ESM-2].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) max_length: Option<usize>,
    /// Longer sequences: truncate, or windows as `embed --long window` (ESM-style encoders).
    #[arg(long, value_enum, default_value = "truncate")]
    pub(crate) long: LongPolicy,
    /// Token budget of an embedding batch [default: 4096 on CPU, 16384 on CUDA].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) batch_tokens: Option<usize>,
    /// Also fit a ridge-regression baseline on Morgan fingerprints (molecules) or k-mer frequencies (sequences).
    #[arg(long)]
    pub(crate) baseline: bool,
    /// Regression targets: hold out --calibration-fraction of the training rows (trained and early-stopped on by no
    /// member) and keep the head's absolute errors on them in head.json, so that `predict` gives split-conformal
    /// intervals <target>_lo..<target>_hi of --coverage. Not with --folds.
    #[arg(long)]
    pub(crate) conformal: bool,
    /// With --conformal: the fraction of the training rows held out for calibration.
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub(crate) calibration_fraction: f64,
    /// The interval coverage the held-out metrics report with --conformal (predict chooses its own).
    #[arg(long, default_value_t = 0.9, value_name = "P")]
    pub(crate) coverage: f64,
    /// Keep the frozen backbone's embeddings in this folder, named by a hash of the weights and the rows' tokens, and
    /// reuse them in later runs on the same data.
    #[arg(long, value_name = "DIR")]
    pub(crate) embedding_cache: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    #[command(flatten)]
    pub(crate) dtype: DtypeArg,
}

pub(crate) fn run(ctx: &Ctx, args: FinetuneArgs) -> Result<()> {
    let started = Instant::now();
    let device = args.device.one()?;
    let settings = settings(&args);
    settings.check()?;
    let resolved = args.model.resolve()?;
    let name = &args.model.model;
    let precision = args.dtype.precision()?;
    if precision != biotorch_models::Precision::F32 && settings.mode != Mode::Frozen {
        crate::exit::bad_input!(
            "--dtype {}: --mode full and lora train with the encoder, which runs in f32",
            precision.name()
        );
    }
    let mut backbone = Backbone::load(&resolved.path, device).with_context(|| format!("--model {name}"))?;
    backbone.set_precision(precision).with_context(|| format!("--model {name}"))?;
    let modality = backbone.modality;
    settings.check_backbone(name, modality)?;
    if settings.mode == Mode::Lora {
        backbone.lora_config(settings.lora.clone()).map_err(|e| crate::exit::BadInput(format!("--lora-*: {e}")))?;
    }
    let sequence_column = args.sequence_column.clone().unwrap_or_else(|| default_sequence_column(modality).to_string());
    let data = read_table(&args.data, &sequence_column)?;
    let request = Request {
        model: ModelInfo { name: name.clone(), path: resolved.path, source: resolved.source },
        data,
        data_sha256: biotorch_io::digest::file_sha256(&args.data)?,
        sequence_column,
        command: crate::ctx::command_line(),
        settings,
    };
    let mut events = Events { ctx, args: &args, modality, bar: None };
    let outcome = experiment::run(&backbone, &request, &mut |event| events.show(event))?;
    report(ctx, &args, &outcome)?;
    for warning in outcome.warnings() {
        ctx.warn(warning);
    }
    ctx.info(format!(
        "wrote {} (head.safetensors, head.json, metrics.json, plots; {} member(s), {:.3} s/epoch, {:.1} s in all)",
        args.output.display(),
        outcome.spec.members,
        outcome.seconds_per_epoch,
        started.elapsed().as_secs_f64()
    ));
    ctx.write_summary(&outcome.metrics)
}

/// The experiment's settings from the arguments.
fn settings(args: &FinetuneArgs) -> Settings {
    let task = |t: &TaskArg| match t {
        TaskArg::Auto => TaskChoice::Auto,
        TaskArg::Regression => TaskChoice::Regression,
        TaskArg::Classification => TaskChoice::Classification,
    };
    let mode = match (args.lora, args.mode) {
        (true, _) | (_, FinetuneMode::Lora) => Mode::Lora,
        (false, FinetuneMode::Frozen) => Mode::Frozen,
        (false, FinetuneMode::Full) => Mode::Full,
    };
    Settings {
        targets: args.target.clone(),
        tasks: args.task.iter().map(task).collect(),
        mode,
        lora: biotorch_models::LoraConfig::new(
            args.lora_r,
            args.lora_alpha,
            args.lora_dropout,
            args.lora_targets.clone(),
        ),
        train_layers: args.train_layers,
        split: match args.split {
            SplitArg::Random => SplitChoice::Random,
            SplitArg::Scaffold => SplitChoice::Scaffold,
            SplitArg::Column => SplitChoice::Column,
        },
        split_column: args.split_column.clone(),
        valid_fraction: args.valid_fraction,
        test_fraction: args.test_fraction,
        folds: args.folds,
        seed: args.seed,
        ensemble: args.ensemble,
        epochs: args.epochs,
        patience: args.patience,
        lr: args.lr,
        encoder_lr: args.encoder_lr.unwrap_or(if mode == Mode::Lora { 1e-3 } else { 1e-4 }),
        weight_decay: args.weight_decay,
        batch_size: args.batch_size,
        hidden: args.hidden,
        dropout: args.dropout,
        max_length: args.max_length,
        long: match args.long {
            LongPolicy::Truncate => encoder::LongPolicy::Truncate,
            LongPolicy::Window => encoder::LongPolicy::Window,
        },
        batch_tokens: args.batch_tokens,
        baseline: args.baseline,
        conformal: args.conformal,
        calibration_fraction: args.calibration_fraction,
        coverage: args.coverage,
        embedding_cache: args.embedding_cache.clone(),
        output: args.output.clone(),
        force: args.force,
    }
}

/// The default sequence column for a modality.
fn default_sequence_column(modality: Modality) -> &'static str {
    match modality {
        Modality::Molecule => "smiles",
        Modality::Protein | Modality::Dna => "sequence",
    }
}

/// Reads a whole CSV/TSV/Parquet table (maybe gzipped), the sequences or SMILES from `sequence_column`.
fn read_table(path: &Path, sequence_column: &str) -> Result<Table> {
    let mut reader = SequenceRows::open(path, biotorch_io::Modality::Protein, Some(sequence_column))?;
    let mut table = Table { name: path.display().to_string(), columns: reader.columns(), ..Table::default() };
    while let Some(row) = reader.next_row()? {
        table.sequences.push(row.sequence);
        table.lines.push(row.line);
        table.rows.push(row.fields);
    }
    Ok(table)
}

/// Shows the experiment's events: counts on stderr, progress bars, a line per member (per epoch with -v).
struct Events<'a> {
    ctx: &'a Ctx,
    args: &'a FinetuneArgs,
    modality: Modality,
    bar: Option<ProgressBar>,
}

impl Events<'_> {
    fn show(&mut self, event: Event<'_>) {
        let (ctx, args) = (self.ctx, self.args);
        match event {
            Event::Prepared { rows, usable, invalid, unlabelled } => {
                ctx.info(format!(
                    "{}: {rows} rows; {usable} usable, {} invalid for {} ({}), {unlabelled} without a label",
                    args.data.display(),
                    invalid.values().sum::<u64>(),
                    args.model.model,
                    self.modality.name()
                ));
                for (kind, count) in invalid {
                    ctx.info(format!("  invalid: {count} x {kind}"));
                }
            }
            Event::Cached { file } => ctx.info(format!("embeddings from the cache {}", file.display())),
            Event::Embedding { done, .. } => match &self.bar {
                Some(bar) => bar.set_position(done as u64),
                None => self.bar = Some(ctx.progress.records("embedding")),
            },
            Event::Embedded { rows, hidden, seconds, truncated, windowed, max_length, split, folds } => {
                self.finish_bar();
                let sizes: Vec<String> = folds
                    .iter()
                    .map(|f| match f.calibration {
                        0 => format!("{}/{}/{}", f.train, f.valid, f.test),
                        c => format!("{}/{}/{} (+{c} calibration)", f.train, f.valid, f.test),
                    })
                    .collect();
                ctx.info(format!(
                    "embedded {rows} rows with {} ({hidden}-d) in {seconds:.1} s ({truncated} truncated, {windowed} \
                     windowed at {max_length} tokens); split: {split}, {} train/valid/test",
                    args.model.model,
                    sizes.join(", ")
                ));
            }
            Event::MemberStarted { epochs, .. } => self.bar = Some(ctx.progress.steps(epochs as u64)),
            Event::Epoch { member, epoch, train_loss, valid_loss } => {
                let Some(bar) = &self.bar else { return };
                let valid_loss = valid_loss.map_or("-".into(), |v| format!("{v:.4}"));
                bar.set_position(epoch as u64);
                bar.set_message(format!("train loss {train_loss:.4}, valid loss {valid_loss}"));
                if ctx.global.verbose > 0 {
                    bar.suspend(|| {
                        eprintln!(
                            "member {}: epoch {epoch}: train loss {train_loss:.4}, valid loss {valid_loss}",
                            member + 1
                        )
                    });
                }
            }
            Event::MemberDone { member, members, fold, report } => {
                self.finish_bar();
                ctx.info(format!(
                    "member {}/{members}{}: {} epochs ({:.3} s/epoch), best validation loss {} at epoch {}",
                    member + 1,
                    fold.map_or(String::new(), |f| format!(" (fold {})", f + 1)),
                    report.epochs_run,
                    report.seconds_per_epoch(),
                    report.best_valid_loss.map_or("-".into(), |v| format!("{v:.4}")),
                    report.best_epoch
                ));
            }
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Prints each target's metrics table and draws its plot (predicted against measured values, or ROC curves).
fn report(ctx: &Ctx, args: &FinetuneArgs, outcome: &Outcome) -> Result<()> {
    for target in &outcome.targets {
        let spec = &target.spec;
        let kind = match spec.task {
            Task::Regression => "regression".to_string(),
            Task::Classification => format!("{} classes", spec.width),
        };
        let rows: Vec<(String, Scores)> = target.scores.iter().map(|m| (m.name.clone(), m.scores)).collect();
        if !ctx.global.quiet {
            let title = format!("{} ({kind}), {} rows:", spec.name, outcome.evaluated_on);
            print!("{}", format_table(&title, spec.task, &rows));
        }
        ctx.info(format!("{}: {}", spec.name, target.coverage.message()));
        if let Some(t) = &target.temperature {
            let ece = |e: Option<f64>| e.map_or("-".to_string(), |e| format!("{e:.4}"));
            ctx.info(format!(
                "{}: temperature {:.3} (fitted on {} validation rows: NLL {:.4} -> {:.4}); expected calibration error \
                 on {} rows {} -> {}",
                spec.name,
                t.temperature,
                t.valid_rows,
                t.valid_nll_before,
                t.valid_nll_after,
                outcome.evaluated_on,
                ece(t.ece_before),
                ece(t.ece_after)
            ));
        }
        if let Some(c) = &target.conformal {
            match (c.half_width, c.evaluated) {
                (Some(q), Some(e)) => ctx.info(format!(
                    "{}: conformal {:.0}% intervals from {} calibration rows: ±{q:.4}; {:.1}% of {} {} values inside",
                    spec.name,
                    100.0 * c.coverage,
                    c.calibration_rows,
                    100.0 * e.coverage,
                    e.n,
                    outcome.evaluated_on
                )),
                (Some(q), None) => ctx.info(format!(
                    "{}: conformal {:.0}% intervals from {} calibration rows: ±{q:.4}",
                    spec.name,
                    100.0 * c.coverage,
                    c.calibration_rows
                )),
                (None, _) => ctx.warn(format!(
                    "{}: {} calibration rows are too few for {:.0}% conformal intervals; use a larger \
                     --calibration-fraction",
                    spec.name,
                    c.calibration_rows,
                    100.0 * c.coverage
                )),
            }
        }
        let evaluated = &target.evaluated;
        let plot = |kind: &str| args.output.join(format!("{kind}_{}.png", sanitize(&spec.name)));
        match spec.task {
            Task::Regression => {
                let points: Vec<(f64, f64)> =
                    evaluated.labels.iter().copied().zip(evaluated.head.values.iter().copied()).collect();
                let caption = match target.scores_of("head") {
                    Some(Scores::Regression(m)) => format!(
                        "{}: {} RMSE {:.3}, R² {:.3}, n = {}",
                        spec.name, outcome.evaluated_on, m.rmse, m.r2, m.n
                    ),
                    _ => spec.name.clone(),
                };
                plots::scatter(&plot("scatter"), &points, &caption, &spec.name)?;
            }
            Task::Classification => {
                let truth: Vec<usize> = evaluated.labels.iter().map(|&c| c as usize).collect();
                let ridge = evaluated.ridge.as_ref().map(|r| r.probs.as_slice());
                plots::roc(&plot("roc"), &spec.name, &spec.classes, &truth, &evaluated.head.probs, ridge)?;
                let temperature = target.temperature.map(|t| t.temperature);
                plots::reliability(&plot("calibration"), &spec.name, &truth, &evaluated.head.probs, temperature)?;
            }
        }
    }
    Ok(())
}

/// A file-name-safe version of a column name.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
