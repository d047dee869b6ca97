//! `biotorch train`: masked-LM pretraining of an ESM-2-style encoder on protein or DNA FASTA, or causal-LM
//! pretraining of the SMILES decoder on a SMILES file (biotorch-train), with a progress bar, a loss-curve plot and
//! a run summary. A new run builds the model from `--arch` (a named shape or an HF config.json) or loads it from
//! `--init`; `--resume` continues the run in `MODEL_DIR/checkpoint` with its stored settings. Options left out take
//! their defaults on a new run and the checkpoint's values on `--resume`; options given with `--resume` must agree
//! with the checkpoint, except --steps, --epochs, --eval-every, --save-every and --patience.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_models::{Esm2, Esm2Config, SmilesGpt, SmilesGptConfig};
use biotorch_tokenizers::{SmilesTokenizer, SmilesVocabBuilder, Tokenizer, TokenizerSpec};
use biotorch_train::{
    check_arch_fits, check_decoder_fits, named_arch, named_decoder_arch, CausalLm, Checkpoint, Dataset, Event,
    LanguageModel, MaskedLm, MetricsRow, ObjectiveKind, Provenance, Schedule, Summary, TrainConfig, Trainer,
};
use serde_json::json;
use tch::{Device, Kind};

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
    if args.valid.is_some() && args.valid_fraction.is_some() {
        bad_input!("--valid-fraction holds part of --train out for validation; it cannot be combined with --valid");
    }
    if args.smiles_column.is_some() && args.objective == ObjectiveArg::Mlm {
        bad_input!("--smiles-column names the SMILES column of a table for --objective clm; MLM trains on FASTA");
    }
    let command = command_line();
    let summary = match args.objective {
        ObjectiveArg::Mlm => {
            let trainer = if args.resume {
                resume_mlm(ctx, &args, device, command)?
            } else {
                start_mlm(ctx, &args, device, command)?
            };
            train_with_progress(ctx, &mut trainer.stop_after(args.stop_after))?
        }
        ObjectiveArg::Clm => {
            let trainer = if args.resume {
                resume_clm(ctx, &args, device, command)?
            } else {
                start_clm(ctx, &args, device, command)?
            };
            train_with_progress(ctx, &mut trainer.stop_after(args.stop_after))?
        }
    };
    report(ctx, &args, &summary)
}

/// The command line as typed (arguments with spaces quoted).
fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

fn objective_kind(arg: ObjectiveArg) -> ObjectiveKind {
    match arg {
        ObjectiveArg::Mlm => ObjectiveKind::Mlm,
        ObjectiveArg::Clm => ObjectiveKind::Clm,
    }
}

/// The settings of a new run: defaults, overridden by the options given.
fn settings(args: &TrainArgs, base: TrainConfig) -> TrainConfig {
    let mut c = base;
    c.objective = objective_kind(args.objective);
    if args.steps.is_some() {
        c.steps = args.steps;
    }
    if args.epochs.is_some() {
        c.epochs = args.epochs;
    }
    if args.warmup.is_some() {
        c.warmup = args.warmup;
    }
    if args.patience.is_some() {
        c.patience = args.patience;
    }
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = args.$field { c.$field = v; } )* };
    }
    set!(lr, batch_tokens, accumulate, clip, weight_decay, eval_every, save_every, seed, max_length, valid_fraction);
    if args.augment {
        c.augment = true;
    }
    if let Some(s) = args.schedule {
        c.schedule = match s {
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Linear => Schedule::Linear,
        };
    }
    c
}

/// Where the model of a new run comes from, as recorded in the checkpoint.
fn model_source(args: &TrainArgs) -> Option<String> {
    match (&args.arch, &args.init) {
        (Some(arch), _) => Some(format!("random:{arch}")),
        (None, Some(init)) => Some(format!("init:{init}")),
        (None, None) => None,
    }
}

/// The checks every new run makes first: no run in the output folder yet, training data and a model source given.
fn new_run_inputs<'a>(args: &'a TrainArgs, what: &str) -> Result<(&'a Path, String)> {
    let out = &args.output;
    if Checkpoint::exists(out) {
        bad_input!(
            "{}: already holds a training run (checkpoint/): pass --resume to continue it, or choose another -o",
            out.display()
        );
    }
    let Some(train_path) = &args.train else { bad_input!("--train FILE is required ({what} to train on)") };
    let Some(source) = model_source(args) else {
        bad_input!("give --arch NAME|CONFIG.json for a new model or --init MODEL to continue one (see `biotorch train --help`)")
    };
    Ok((train_path.as_path(), source))
}

fn describe_data(
    ctx: &Ctx,
    args: &TrainArgs,
    arch: &str,
    source: &str,
    train_path: &Path,
    train: &Dataset,
    valid: &Dataset,
    config: &TrainConfig,
) {
    ctx.info(format!(
        "training {arch} ({source}) on {} ({} records, {} tokens), validating on {} records{}",
        train_path.display(),
        train.len(),
        train.info().tokens,
        valid.len(),
        if args.valid.is_none() { format!(" held out ({:.0}%)", config.valid_fraction * 100.0) } else { String::new() },
    ));
}

fn start_mlm(ctx: &Ctx, args: &TrainArgs, device: Device, command: String) -> Result<Trainer<Esm2>> {
    let (train_path, source) = new_run_inputs(args, "a FASTA file")?;
    let config = settings(args, TrainConfig::default());
    config.validate()?;

    let (model, tokenizer) = if let Some(arch) = &args.arch {
        let spec = args.tokenizer.as_deref().unwrap_or("esm2");
        if spec.starts_with("smiles") {
            bad_input!("--tokenizer {spec}: masked-LM training takes esm2, dna or dna-kmer:K (SMILES models are causal LMs: --objective clm)");
        }
        let tokenizer = biotorch_tokenizers::from_spec(spec)?;
        let arch_config = if Path::new(arch).is_file() {
            let config = Esm2Config::from_file(arch)?;
            check_arch_fits(&config, tokenizer.as_ref()).with_context(|| format!("--arch {arch}"))?;
            config
        } else {
            named_arch(arch, tokenizer.as_ref())?
        };
        tch::manual_seed(config.seed as i64);
        (Esm2::new_random(arch_config, device, Kind::Float)?, tokenizer)
    } else {
        let init = args.init.as_deref().expect("model_source checked");
        let (path, dir) = super::embed::model_dir(init)?;
        let model = Esm2::load(&path, device, Kind::Float)?;
        if !model.has_lm_head() {
            bad_input!(
                "--init {init}: this checkpoint has no LM head (an EsmModel), so masked-LM training cannot continue it"
            );
        }
        let tokenizer: Box<dyn Tokenizer> = match biotorch_tokenizers::load(&dir) {
            Ok(t) => t,
            Err(_) if !dir.join("vocab.txt").exists() => {
                ctx.info(format!("{}: no vocab.txt; using the standard ESM-2 vocabulary", dir.display()));
                Box::new(biotorch_tokenizers::Esm2Tokenizer::new())
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(spec) = &args.tokenizer {
            if spec != tokenizer.name() {
                bad_input!("--tokenizer {spec}: the --init model {init} uses the {} tokenizer", tokenizer.name());
            }
        }
        check_arch_fits(model.config(), tokenizer.as_ref()).with_context(|| format!("--init {init}"))?;
        (model, tokenizer)
    };

    let data = Dataset::from_fasta(train_path, tokenizer.as_ref())?;
    let (train, valid) = match &args.valid {
        Some(path) => (data, Dataset::from_fasta(path, tokenizer.as_ref())?),
        None => data.hold_out(config.valid_fraction, config.seed)?,
    };
    describe_data(ctx, args, "EsmForMaskedLM", &source, train_path, &train, &valid, &config);
    let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), config.mask_prob)?);
    let provenance = Provenance { command, model_source: source };
    Ok(Trainer::new(model, tokenizer, objective, config, train, valid, &args.output, provenance)?)
}

/// Checks the options of `--resume` against the checkpoint; returns it with the run's settings.
fn open_resume(args: &TrainArgs) -> Result<(Checkpoint, TrainConfig)> {
    let out = &args.output;
    let checkpoint = Checkpoint::open(out)?;
    let state = &checkpoint.state;
    if state.config.objective != objective_kind(args.objective) {
        bad_input!(
            "{}: cannot resume: the run trains with --objective {}, not {}",
            out.display(),
            state.config.objective,
            objective_kind(args.objective)
        );
    }
    if let Some(source) = model_source(args) {
        if source != state.model_source {
            bad_input!(
                "{}: cannot resume: the checkpoint's model came from {}, not {source} (leave out --arch/--init on --resume)",
                out.display(),
                state.model_source
            );
        }
    }
    if let Some(spec) = &args.tokenizer {
        if spec != &state.tokenizer && !(spec.starts_with("smiles") && state.tokenizer == "smiles") {
            bad_input!(
                "{}: cannot resume: the checkpoint uses the {} tokenizer, not {spec}",
                out.display(),
                state.tokenizer
            );
        }
    }
    let config = settings(args, state.config.clone());
    Ok((checkpoint, config))
}

fn resume_mlm(ctx: &Ctx, args: &TrainArgs, device: Device, command: String) -> Result<Trainer<Esm2>> {
    let (checkpoint, config) = open_resume(args)?;
    let state = &checkpoint.state;
    let train_path = args.train.clone().unwrap_or_else(|| PathBuf::from(&state.train.path));
    let tokenizer = checkpoint.load_tokenizer()?;
    let data = Dataset::from_fasta(&train_path, tokenizer.as_ref())?;
    let (train, valid) = match (&args.valid, state.valid.holdout_fraction) {
        (Some(path), _) => (data, Dataset::from_fasta(path, tokenizer.as_ref())?),
        (None, Some(_)) => data.hold_out(config.valid_fraction, config.seed)?,
        (None, None) => (data, Dataset::from_fasta(&state.valid.path, tokenizer.as_ref())?),
    };
    ctx.info(format!("resuming {} at step {} from {}", state.model_source, state.step, checkpoint.dir.display()));
    let model = checkpoint.load_esm2(device)?;
    let objective = Box::new(MaskedLm::new(tokenizer.as_ref(), config.mask_prob)?);
    Ok(Trainer::resume(checkpoint, model, tokenizer, objective, config, train, valid, &args.output, command)?)
}

/// A SMILES vocabulary for a new decoder: `smiles:VOCAB.json` as given, or (`smiles`) built from the training and
/// validation files.
fn smiles_tokenizer(args: &TrainArgs, train_path: &Path) -> Result<SmilesTokenizer> {
    let spec: TokenizerSpec = args.tokenizer.as_deref().unwrap_or("smiles").parse()?;
    match spec {
        TokenizerSpec::Smiles(Some(vocab)) => Ok(SmilesTokenizer::from_file(vocab)?),
        TokenizerSpec::Smiles(None) => {
            let options =
                biotorch_io::SmilesOptions { smiles_column: args.smiles_column.clone(), ..Default::default() };
            let mut builder = SmilesVocabBuilder::new();
            for path in std::iter::once(train_path).chain(args.valid.as_deref()) {
                for record in biotorch_io::SmilesReader::open(path, &options)? {
                    let record = record?;
                    builder
                        .add(&record.smiles)
                        .map_err(|e| crate::exit::BadInput(format!("{}: line {}: {e}", path.display(), record.line)))?;
                }
            }
            Ok(builder.build())
        }
        other => bad_input!(
            "--tokenizer {other}: causal-LM training of the SMILES decoder takes smiles or smiles:VOCAB.json"
        ),
    }
}

/// The SMILES data of a causal-LM run: records longer than the model's context are left out (and counted), never
/// cropped.
fn clm_data(
    ctx: &Ctx,
    args: &TrainArgs,
    train_path: &Path,
    valid_path: Option<&Path>,
    tokenizer: &dyn Tokenizer,
    config: &TrainConfig,
) -> Result<(Dataset, Dataset)> {
    let column = args.smiles_column.as_deref();
    let mut data = Dataset::from_smiles(train_path, tokenizer, column)?;
    let dropped = data.drop_longer_than(config.max_length);
    if dropped > 0 {
        ctx.info(format!(
            "{}: left out {dropped} molecules longer than --max-length {} tokens",
            train_path.display(),
            config.max_length
        ));
    }
    Ok(match valid_path {
        Some(path) => {
            let mut valid = Dataset::from_smiles(path, tokenizer, column)?;
            valid.drop_longer_than(config.max_length);
            (data, valid)
        }
        None => data.hold_out(config.valid_fraction, config.seed)?,
    })
}

fn start_clm(ctx: &Ctx, args: &TrainArgs, device: Device, command: String) -> Result<Trainer<SmilesGpt>> {
    let (train_path, source) = new_run_inputs(args, "a SMILES file (.smi, CSV, TSV or Parquet)")?;
    let mut config = settings(args, TrainConfig::default());
    if let Some(arch) = &args.arch {
        if !Path::new(arch).is_file() && !biotorch_train::DECODER_ARCH_NAMES.iter().any(|(n, _)| n == arch) {
            let names: Vec<&str> = biotorch_train::DECODER_ARCH_NAMES.iter().map(|(n, _)| *n).collect();
            bad_input!(
                "unknown decoder architecture `{arch}`: use one of {} or the path of an HF config.json",
                names.join(", ")
            );
        }
    }
    let (model, tokenizer): (SmilesGpt, Box<dyn Tokenizer>) = if let Some(arch) = &args.arch {
        let tokenizer = smiles_tokenizer(args, train_path)?;
        let arch_config = if Path::new(arch).is_file() {
            let config = SmilesGptConfig::from_file(arch)?;
            check_decoder_fits(&config, &tokenizer).with_context(|| format!("--arch {arch}"))?;
            config
        } else {
            named_decoder_arch(arch, &tokenizer)?
        };
        tch::manual_seed(config.seed as i64);
        (SmilesGpt::new_random(arch_config, device, Kind::Float)?, Box::new(tokenizer))
    } else {
        let init = args.init.as_deref().expect("model_source checked");
        let (path, dir) = super::embed::model_dir(init)?;
        let model = SmilesGpt::load(&path, device, Kind::Float)?;
        let tokenizer = biotorch_tokenizers::load(&dir)?;
        if tokenizer.name() != "smiles" {
            bad_input!("--init {init}: the model's tokenizer is {}, not a SMILES vocabulary", tokenizer.name());
        }
        check_decoder_fits(model.config(), tokenizer.as_ref()).with_context(|| format!("--init {init}"))?;
        (model, tokenizer)
    };
    // Room for <bos> and <eos> in the model's positions.
    let context = (model.config().max_position_embeddings - 2).max(1) as usize;
    if args.max_length.is_none() {
        config.max_length = config.max_length.min(context);
    } else if config.max_length > context {
        bad_input!("--max-length {}: the model has {} positions, so at most {context}", config.max_length, context + 2);
    }
    config.validate()?;
    let (train, valid) = clm_data(ctx, args, train_path, args.valid.as_deref(), tokenizer.as_ref(), &config)?;
    describe_data(ctx, args, "LlamaForCausalLM", &source, train_path, &train, &valid, &config);
    let provenance = Provenance { command, model_source: source };
    let trainer = Trainer::new(model, tokenizer, Box::new(CausalLm), config, train, valid, &args.output, provenance)?;
    Ok(trainer.with_augmentation(Box::new(RandomSmiles)))
}

/// SMILES enumeration for `--augment`: a randomized SMILES of the same molecule (RDKit, seeded).
struct RandomSmiles;

impl biotorch_train::Augment for RandomSmiles {
    fn variant(&self, text: &str, seed: u64) -> Option<String> {
        biotorch_chem::Molecule::from_smiles(text).ok()?.try_randomized_smiles(seed).ok()
    }
}

fn resume_clm(ctx: &Ctx, args: &TrainArgs, device: Device, command: String) -> Result<Trainer<SmilesGpt>> {
    let (checkpoint, config) = open_resume(args)?;
    let state = &checkpoint.state;
    let train_path = args.train.clone().unwrap_or_else(|| PathBuf::from(&state.train.path));
    let tokenizer = checkpoint.load_tokenizer()?;
    let valid_path = match (&args.valid, state.valid.holdout_fraction) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(PathBuf::from(&state.valid.path)),
    };
    let (train, valid) = clm_data(ctx, args, &train_path, valid_path.as_deref(), tokenizer.as_ref(), &config)?;
    ctx.info(format!("resuming {} at step {} from {}", state.model_source, state.step, checkpoint.dir.display()));
    let model = checkpoint.load_smiles_gpt(device)?;
    let trainer =
        Trainer::resume(checkpoint, model, tokenizer, Box::new(CausalLm), config, train, valid, &args.output, command)?;
    Ok(trainer.with_augmentation(Box::new(RandomSmiles)))
}

fn train_with_progress<M: LanguageModel>(ctx: &Ctx, trainer: &mut Trainer<M>) -> Result<Summary> {
    let bar = ctx.progress.steps(trainer.total_steps());
    // Lines printed above the bar (a hidden bar prints nothing itself).
    let say = |msg: String| {
        if !ctx.global.quiet {
            bar.suspend(|| eprintln!("{msg}"));
        }
    };
    let mut last_valid = String::new();
    let summary = trainer.run(&mut |event| match event {
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

fn report(ctx: &Ctx, args: &TrainArgs, s: &Summary) -> Result<()> {
    let plot = s.out_dir.join("loss.png");
    loss_plot(&plot, objective_kind(args.objective), &s.metrics)?;
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
        if args.objective == ObjectiveArg::Mlm { "masked" } else { "next-token" },
        fmt(best.and_then(|r| r.valid_acc)),
        s.best_step.map_or("-".into(), |b| b.to_string()),
        s.out_dir.display()
    ));
    let last = s.metrics.last();
    ctx.write_summary(&json!({
        "output": s.out_dir.display().to_string(),
        "objective": objective_kind(args.objective).to_string(),
        "resumed": args.resume,
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
fn loss_plot(path: &Path, objective: ObjectiveKind, rows: &[MetricsRow]) -> Result<()> {
    let points = |loss: fn(&MetricsRow) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| loss(r).map(|l| (r.step as f64, l))).collect()
    };
    let (train, valid) = (points(|r| r.train_loss), points(|r| r.valid_loss));
    let title = format!("{} loss", objective.description());
    let last_step = rows.iter().map(|r| r.step).max().unwrap_or(1);
    let curves = biotorch_plot::LossCurves { title: &title, train: &train, valid: &valid, last_step };
    biotorch_plot::loss_curves(path, &curves).map_err(crate::plot::plot_error)
}
