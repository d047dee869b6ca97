//! `biotorch train`: masked-LM pretraining of an ESM-2-style encoder on protein or DNA FASTA, or causal-LM
//! pretraining of the SMILES decoder on a SMILES file. The options become a [`RunRequest`] that biotorch-train sets
//! up (a new model from `--arch` or `--init`, or the `--resume` of the run in `MODEL_DIR/checkpoint` with its stored
//! settings) and runs; this command shows its progress, draws the loss curves and prints the summary. The SMILES
//! randomisation of `--augment` is RDKit's, handed to the trainer here.

use std::path::PathBuf;

use anyhow::Result;
use biotorch_train::{Event, MetricsRow, ObjectiveKind, Overrides, Run, RunRequest, Schedule, SetupEvent, Summary};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::args::{positive, positive_u64, DeviceArg, DtypeArg};
use crate::ctx::Ctx;
use crate::exit::bad_input;

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ObjectiveArg {
    /// Masked language modelling (ESM-2 recipe) of an encoder.
    Mlm,
    /// Causal (next-token) language modelling of the SMILES decoder.
    Clm,
}

/// How the learning rate decays after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScheduleArg {
    Cosine,
    Linear,
}

/// Training options. Those left out take their defaults on a new run and the checkpoint's values on --resume.
#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// mlm (masked LM, ESM-2 recipe, on FASTA) or clm (causal LM of the SMILES decoder, on .smi/CSV/TSV/Parquet).
    /// Required for a new run; on --resume, the checkpoint's.
    #[arg(long, value_enum)]
    pub(crate) objective: Option<ObjectiveArg>,
    /// A new model: esm2-tiny, esm2-small, esm2_t6_8M (mlm); gpt-tiny, gpt-mini, gpt-small (clm); or the path of an
    /// HF config.json.
    #[arg(long, value_name = "NAME|CONFIG", conflicts_with = "init")]
    pub(crate) arch: Option<String>,
    /// Continue from an existing model (folder, bundled name or HF repo id in the cache), its tokenizer included.
    #[arg(long, value_name = "MODEL")]
    pub(crate) init: Option<String>,
    /// Training data: FASTA for mlm (protein for esm2, DNA for dna/dna-kmer:K), SMILES for clm. On --resume, default:
    /// the checkpoint's.
    #[arg(long, value_name = "FILE")]
    pub(crate) train: Option<PathBuf>,
    /// Validation data, as --train (default: hold out --valid-fraction of --train, chosen by --seed).
    #[arg(long, value_name = "FILE")]
    pub(crate) valid: Option<PathBuf>,
    /// Fraction of --train held out for validation when no --valid is given [default: 0.05].
    #[arg(long, value_name = "F")]
    pub(crate) valid_fraction: Option<f64>,
    /// Output folder: the model (HF layout), metrics.parquet, loss.png, biotorch.json and checkpoint/.
    #[arg(short, long, value_name = "MODEL_DIR")]
    pub(crate) output: PathBuf,
    /// Continue the run in MODEL_DIR/checkpoint exactly where it stopped.
    #[arg(long)]
    pub(crate) resume: bool,
    /// mlm: esm2, dna or dna-kmer:K [default: esm2]; clm: smiles (vocabulary built from the data) or
    /// smiles:VOCAB.json [default: smiles]. --init models bring their own.
    #[arg(long, value_name = "SPEC")]
    pub(crate) tokenizer: Option<String>,
    /// Optimizer steps in total (with --epochs: whichever ends first; neither: one epoch).
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) steps: Option<u64>,
    /// Passes over the training data.
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) epochs: Option<u64>,
    /// Peak learning rate [default: 4e-4].
    #[arg(long, value_name = "LR")]
    pub(crate) lr: Option<f64>,
    /// Warm-up steps, the learning rate rising linearly [default: 5% of the steps, at most 2000].
    #[arg(long, value_name = "N")]
    pub(crate) warmup: Option<u64>,
    /// Decay after the warm-up, down to 10% of the peak at the last step [default: cosine].
    #[arg(long, value_enum)]
    pub(crate) schedule: Option<ScheduleArg>,
    /// Token budget of a micro-batch: sequences x padded length [default: 4096].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) batch_tokens: Option<usize>,
    /// Micro-batches per optimizer step (gradient accumulation) [default: 1].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) accumulate: Option<usize>,
    /// Clip the global gradient norm to this; 0 disables [default: 1.0].
    #[arg(long, value_name = "NORM")]
    pub(crate) clip: Option<f64>,
    /// AdamW weight decay, not applied to biases and LayerNorms [default: 0.01].
    #[arg(long, value_name = "W")]
    pub(crate) weight_decay: Option<f64>,
    /// Evaluate on the validation set every N steps (and before the first and after the last) [default: 500].
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) eval_every: Option<u64>,
    /// Write a checkpoint every N steps (and at the end) [default: 1000].
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) save_every: Option<u64>,
    /// Stop after N evaluations without a lower validation loss [default: never].
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) patience: Option<u64>,
    /// Seed of every random choice: initial weights, validation split, batches, masks, dropout [default: 0].
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// Longest sequence in tokens, specials excluded; mlm crops longer ones at a seeded random offset, clm leaves them
    /// out [default: 1022 for mlm, the model's positions less 2 for clm].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) max_length: Option<usize>,
    /// clm: the SMILES column of a CSV/TSV/Parquet training file [default: the column named smiles].
    #[arg(long, value_name = "NAME")]
    pub(crate) smiles_column: Option<String>,
    /// clm: SMILES enumeration: in each epoch, every training molecule is written as a randomized SMILES (RDKit,
    /// seeded by --seed, epoch and record); validation keeps the SMILES as given.
    #[arg(long)]
    pub(crate) augment: bool,
    /// Stop after N steps in this invocation (with a checkpoint), to be continued with --resume.
    #[arg(long, value_name = "N", value_parser = positive_u64)]
    pub(crate) stop_after: Option<u64>,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
    /// f32, or bf16 mixed precision: forward and backward in bf16, AdamW on fp32 master weights, the model saved in
    /// fp32 (see docs/training.md). f16 is refused (it needs loss scaling).
    #[command(flatten)]
    pub(crate) dtype: DtypeArg,
}

pub(crate) fn run(ctx: &Ctx, args: TrainArgs) -> Result<()> {
    let device = args.device.one()?;
    let bf16 = match args.dtype.kind()? {
        tch::Kind::Float => false,
        tch::Kind::BFloat16 => true,
        _ => crate::exit::bad_input!(
            "--dtype {}: training runs in f32 or bf16 mixed precision (f16 would need loss scaling, which biotorch \
             does not implement); use --dtype bf16",
            args.dtype.dtype
        ),
    };
    let request = RunRequest { device, command: crate::ctx::command_line(), bf16, ..request(&args)? };
    let mut run = request
        .prepare(&crate::args::resolver(), Some(Box::new(RandomSmiles)), &mut |event| ctx.info(describe(&event)))?;
    let summary = train_with_progress(ctx, &mut run)?;
    report(ctx, &request, &summary)
}

/// The request the options make (on the CPU, without the command line).
fn request(args: &TrainArgs) -> Result<RunRequest> {
    let overrides = Overrides {
        steps: args.steps,
        epochs: args.epochs,
        lr: args.lr,
        warmup: args.warmup,
        schedule: args.schedule.map(|s| match s {
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Linear => Schedule::Linear,
        }),
        batch_tokens: args.batch_tokens,
        accumulate: args.accumulate,
        clip: args.clip,
        weight_decay: args.weight_decay,
        eval_every: args.eval_every,
        save_every: args.save_every,
        patience: args.patience,
        seed: args.seed,
        max_length: args.max_length,
        valid_fraction: args.valid_fraction,
        augment: args.augment,
    };
    let objective = match (args.objective, args.resume) {
        (Some(ObjectiveArg::Mlm), _) => ObjectiveKind::Mlm,
        (Some(ObjectiveArg::Clm), _) => ObjectiveKind::Clm,
        (None, true) => biotorch_train::Checkpoint::open(&args.output)?.state.config.objective,
        (None, false) => bad_input!("--objective mlm|clm is required for a new run (on --resume, the checkpoint's)"),
    };
    Ok(RunRequest {
        resume: args.resume,
        arch: args.arch.clone(),
        init: args.init.clone(),
        tokenizer: args.tokenizer.clone(),
        train: args.train.clone(),
        valid: args.valid.clone(),
        smiles_column: args.smiles_column.clone(),
        overrides,
        stop_after: args.stop_after,
        ..RunRequest::new(objective, &args.output)
    })
}

/// A line about the set-up.
fn describe(event: &SetupEvent<'_>) -> String {
    match event {
        SetupEvent::StandardVocabulary { dir } => {
            format!("{}: no vocab.txt; using the standard ESM-2 vocabulary", dir.display())
        }
        SetupEvent::LeftOut { path, molecules, max_length } => {
            format!("{}: left out {molecules} molecules longer than --max-length {max_length} tokens", path.display())
        }
        SetupEvent::Starting { architecture, source, train_path, train, valid, held_out } => format!(
            "training {architecture} ({source}) on {} ({} records, {} tokens), validating on {} records{}",
            train_path.display(),
            train.len(),
            train.info().tokens,
            valid.len(),
            held_out.map_or(String::new(), |f| format!(" held out ({:.0}%)", f * 100.0)),
        ),
        SetupEvent::Resuming { source, step, dir } => {
            format!("resuming {source} at step {step} from {}", dir.display())
        }
    }
}

/// SMILES enumeration for `--augment`: a randomized SMILES of the same molecule (RDKit, seeded).
struct RandomSmiles;

impl biotorch_train::Augment for RandomSmiles {
    fn variant(&self, text: &str, seed: u64) -> Option<String> {
        biotorch_chem::Molecule::from_smiles(text).ok()?.try_randomized_smiles(seed).ok()
    }
}

fn train_with_progress(ctx: &Ctx, run: &mut Run) -> Result<Summary> {
    let bar = ctx.progress.steps(run.total_steps());
    // Lines printed above the bar (a hidden bar prints nothing itself).
    let say = |msg: String| {
        if !ctx.global.quiet {
            bar.suspend(|| eprintln!("{msg}"));
        }
    };
    let mut last_valid = String::new();
    let summary = run.run(&mut |event| match event {
        Event::Started { step, total_steps, parameters } => {
            bar.set_position(step);
            if step >= total_steps {
                say(format!("the run is already complete at step {step} (raise --steps or --epochs to go on)"));
            }
            if ctx.global.verbose > 0 {
                say(format!("{parameters} parameters, {total_steps} steps"));
            }
        }
        Event::Step(row) => {
            bar.set_position(row.step);
            bar.set_message(format!(
                "loss {:.3}{last_valid} | {} tok/s",
                row.train_loss.unwrap_or(f64::NAN),
                human(row.tokens_per_s.unwrap_or(0.0))
            ));
        }
        Event::Evaluated(row) => {
            last_valid = format!(" valid {:.3}", row.valid_loss.unwrap_or(f64::NAN));
            if ctx.global.verbose > 0 {
                say(format!(
                    "step {}: valid loss {:.4}, ppl {:.3}, accuracy {:.4}",
                    row.step,
                    row.valid_loss.unwrap_or(f64::NAN),
                    row.valid_ppl.unwrap_or(f64::NAN),
                    row.valid_acc.unwrap_or(f64::NAN)
                ));
            }
        }
        Event::BestModel { .. } => {}
        Event::Checkpoint { step, dir } => {
            if ctx.global.verbose > 0 {
                say(format!("step {step}: checkpoint {}", dir.display()));
            }
        }
    });
    bar.finish_and_clear();
    Ok(summary?)
}

fn report(ctx: &Ctx, request: &RunRequest, s: &Summary) -> Result<()> {
    let plot = s.out_dir.join("loss.png");
    loss_plot(&plot, request.objective, &s.metrics)?;
    let best = s.best_step.and_then(|b| s.metrics.iter().find(|r| r.step == b && r.valid_loss.is_some()));
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    let state = if s.stopped_early {
        "stopped early (no better validation loss in --patience evaluations)".to_string()
    } else if s.finished {
        "done".to_string()
    } else {
        format!("paused at step {} of {}: continue with the same command and --resume", s.step, s.total_steps)
    };
    ctx.info(format!(
        "trained {} steps ({} in this run, {} tokens/s); {state}\n\
         best validation loss {} (perplexity {}, {} accuracy {}) at step {}\n\
         wrote {} (model of the best step, tokenizer, biotorch.json, metrics.parquet, loss.png, checkpoint/)",
        s.step,
        s.steps_this_run,
        human(s.tokens_per_s),
        fmt(best.and_then(|r| r.valid_loss)),
        fmt(best.and_then(|r| r.valid_ppl)),
        if request.objective == ObjectiveKind::Mlm { "masked" } else { "next-token" },
        fmt(best.and_then(|r| r.valid_acc)),
        s.best_step.map_or("-".into(), |b| b.to_string()),
        s.out_dir.display()
    ));
    let last = s.metrics.last();
    ctx.write_summary(&json!({
        "output": s.out_dir.display().to_string(),
        "objective": request.objective.to_string(),
        "resumed": request.resume,
        "step": s.step,
        "total_steps": s.total_steps,
        "steps_this_run": s.steps_this_run,
        "finished": s.finished,
        "stopped_early": s.stopped_early,
        "tokens": s.tokens,
        "tokens_per_second": s.tokens_per_s,
        "seconds": s.seconds,
        "best_step": s.best_step,
        "best_valid_loss": s.best_valid_loss,
        "best_valid_ppl": best.and_then(|r| r.valid_ppl),
        "best_valid_acc": best.and_then(|r| r.valid_acc),
        "final_train_loss": last.and_then(|r| r.train_loss),
    }))
}

fn human(n: f64) -> String {
    match n {
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

/// Training loss per step and validation loss per evaluation, against the step, titled by the objective.
fn loss_plot(path: &std::path::Path, objective: ObjectiveKind, rows: &[MetricsRow]) -> Result<()> {
    let points = |loss: fn(&MetricsRow) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| loss(r).map(|l| (r.step as f64, l))).collect()
    };
    let (train, valid) = (points(|r| r.train_loss), points(|r| r.valid_loss));
    let title = format!("{} loss", objective.description());
    let last_step = rows.iter().map(|r| r.step).max().unwrap_or(1);
    let curves = biotorch_plot::LossCurves { title: &title, train: &train, valid: &valid, last_step };
    biotorch_plot::loss_curves(path, &curves).map_err(crate::plot::plot_error)
}
