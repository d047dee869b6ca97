//! `biotorch finetune`: a property-prediction head on a backbone. Reads the labelled table, loads the backbone and
//! runs the experiment of biotorch-heads (`experiment::run`: targets, splits or k folds, frozen or full fine-tuning,
//! ensembles, trivial and ridge baselines, the head written into HEAD_DIR), showing its progress; then prints the
//! held-out metrics next to the baselines and draws predicted-vs-measured and ROC plots into HEAD_DIR.

mod plots;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_heads::experiment::{self, Event, Mode, ModelInfo, Outcome, Request, Settings, SplitChoice, Table};
use biotorch_heads::label::TaskChoice;
use biotorch_heads::score::{format_table, Scores};
use biotorch_heads::{encoder, Backbone, Modality, Task};
use biotorch_io::{SmilesOptions, SmilesReader};
use indicatif::ProgressBar;

use super::Ctx;
use crate::cli::{FinetuneArgs, FinetuneMode, LongPolicy, SplitArg, TaskArg};
use crate::exit::bad_input;

pub(crate) fn run(ctx: &Ctx, args: FinetuneArgs) -> Result<()> {
    let started = Instant::now();
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let device = super::embed::parse_device(&args.device)?;
    let settings = settings(&args);
    heads(settings.check())?;
    let resolved = super::embed::resolver().resolve(&args.model)?;
    let backbone = heads(Backbone::load(&resolved.path, device)).with_context(|| format!("--model {}", args.model))?;
    let modality = backbone.modality;
    heads(settings.check_backbone(&args.model, modality))?;
    let sequence_column = args.sequence_column.clone().unwrap_or_else(|| default_sequence_column(modality).to_string());
    let data = read_table(&args.data, &sequence_column)?;
    let request = Request {
        model: ModelInfo { name: args.model.clone(), path: resolved.path, source: resolved.source },
        data,
        data_sha256: crate::dataset::files_sha256(std::slice::from_ref(&args.data))?,
        sequence_column,
        command: command_line(),
        settings,
    };
    let mut events = Events { ctx, args: &args, modality, bar: None };
    let outcome = heads(experiment::run(&backbone, &request, &mut |event| events.show(event)))?;
    report(ctx, &args, &outcome)?;
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
    Settings {
        targets: args.target.clone(),
        tasks: args.task.iter().map(task).collect(),
        mode: match args.mode {
            FinetuneMode::Frozen => Mode::Frozen,
            FinetuneMode::Full => Mode::Full,
        },
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
        encoder_lr: args.encoder_lr,
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
    let options = SmilesOptions { smiles_column: Some(sequence_column.to_string()), ..SmilesOptions::default() };
    let reader = SmilesReader::open(path, &options).map_err(|e| {
        crate::exit::BadInput(format!(
            "{e} (the sequences or SMILES are read from --sequence-column, default: sequence or smiles)"
        ))
    })?;
    if reader.columns().is_empty() {
        bad_input!("{}: expected a table with a header (.csv, .tsv, .parquet)", path.display());
    }
    let mut table = Table { name: path.display().to_string(), columns: reader.columns().to_vec(), ..Table::default() };
    for record in reader {
        let record = record?;
        table.sequences.push(record.smiles);
        table.lines.push(record.line);
        table.rows.push(record.fields);
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
                    args.model,
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
                let sizes: Vec<String> = folds.iter().map(|f| format!("{}/{}/{}", f.train, f.valid, f.test)).collect();
                ctx.info(format!(
                    "embedded {rows} rows with {} ({hidden}-d) in {seconds:.1} s ({truncated} truncated, {windowed} \
                     windowed at {max_length} tokens); split: {split}, {} train/valid/test",
                    args.model,
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
            }
        }
    }
    Ok(())
}

fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A file-name-safe version of a column name.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// A heads-crate result for the exit-code table: its usage errors as bad input (exit code 2), contexts kept as
/// `caused by` lines. shim: removed when crate::exit classifies biotorch_heads::Error itself.
fn heads<T>(r: biotorch_heads::Result<T>) -> Result<T> {
    r.map_err(heads_error)
}

fn heads_error(e: biotorch_heads::Error) -> anyhow::Error {
    match e {
        biotorch_heads::Error::Context { context, source } => heads_error(*source).context(context),
        e if e.is_bad_input() => anyhow::Error::new(crate::exit::BadInput(e.to_string())),
        e => anyhow::Error::new(e),
    }
}
