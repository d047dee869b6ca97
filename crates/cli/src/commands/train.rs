//! `biotorch train`: masked-LM pretraining of an ESM-2-style encoder on protein or DNA FASTA, or causal-LM
//! pretraining of the SMILES decoder on a SMILES file. The options become a [`RunRequest`] that biotorch-train sets
//! up (a new model from `--arch` or `--init`, or the `--resume` of the run in `MODEL_DIR/checkpoint` with its stored
//! settings) and runs; this command shows its progress, draws the loss curves and prints the summary. The SMILES
//! randomisation of `--augment` is RDKit's, handed to the trainer here.

use anyhow::Result;
use biotorch_train::{Event, MetricsRow, ObjectiveKind, Overrides, Run, RunRequest, Schedule, SetupEvent, Summary};
use serde_json::json;

use super::Ctx;
use crate::cli::{ObjectiveArg, ScheduleArg, TrainArgs};
use crate::exit::bad_input;

pub(crate) fn run(ctx: &Ctx, args: TrainArgs) -> Result<()> {
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let device = super::embed::parse_device(&args.device)?;
    match args.dtype.as_str() {
        "f32" | "fp32" | "float32" => {}
        "bf16" | "bfloat16" | "f16" | "fp16" | "float16" => ctx.info(format!(
            "note: --dtype {}: training runs in fp32 (tch 0.26 offers CUDA autocast only with float16, which needs loss \
             scaling that biotorch does not implement yet); the saved model is fp32",
            args.dtype
        )),
        other => bad_input!("--dtype {other}: use f32 (bf16 and f16 are accepted and train in fp32)"),
    }
    let request = RunRequest { device, command: command_line(), ..request(&args) };
    let mut run = request
        .prepare(&super::embed::resolver(), Some(Box::new(RandomSmiles)), &mut |event| ctx.info(describe(&event)))?;
    let summary = train_with_progress(ctx, &mut run)?;
    report(ctx, &request, &summary)
}

/// The request the options make (on the CPU, without the command line).
fn request(args: &TrainArgs) -> RunRequest {
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
    let objective = match args.objective {
        ObjectiveArg::Mlm => ObjectiveKind::Mlm,
        ObjectiveArg::Clm => ObjectiveKind::Clm,
    };
    RunRequest {
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
    }
}

/// The command line as typed (arguments with spaces quoted).
fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
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
