//! `biotorch score --model MODEL --wt SEQ --mutations FILE -o scores.parquet`: zero-shot variant effects from a
//! masked protein language model ([`biotorch_score`]): one row per input row, in input order, the input's columns
//! first; `--saturation` scores every single substitution instead. With `--fitness-column`, ProteinGym's metrics.
//!
//! `biotorch score INPUT --model MODEL -o ll.parquet`: the log-likelihood of each sequence (FASTA) or molecule
//! (`.smi`, or a table's `--sequence-column`) under a causal LM, or its pseudo-log-likelihood under a masked LM
//! ([`biotorch_score::likelihood`]); read, scored and written in chunks of [`CHUNK`] rows.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use biotorch_io::dataset::keys;
use biotorch_io::rows::{is_fasta, SequenceRows};
use biotorch_io::{Modality, SmilesFormat, TableFormat};
use biotorch_models::{Esm2, LanguageModel, Lm};
use biotorch_score::likelihood::{self, LikelihoodOptions, Texts};
use biotorch_score::{request, table, Method, ScoreOptions, Scorer, Table, WildType};
use clap::Args;
use serde_json::json;

use crate::args::{positive, DeviceArg, ModelArg};
use crate::ctx::Ctx;

#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// Sequence log-likelihoods instead of variants: a FASTA file, a .smi file or a CSV/TSV/Parquet table
    /// (--sequence-column), `-` for standard input. A causal LM gives log-likelihoods, a masked LM
    /// pseudo-log-likelihoods; SMILES are also scored as their canonical SMILES.
    #[arg(value_name = "INPUT", conflicts_with_all = ["wt", "wt_fasta", "mutations", "saturation", "fitness_column", "mutation_column"])]
    pub(crate) input: Option<PathBuf>,
    /// With INPUT: also write each token's (or residue's) log-probability as a list.
    #[arg(long, requires = "input")]
    pub(crate) per_token: bool,
    /// The wild-type protein sequence.
    #[arg(long, value_name = "SEQUENCE", required_unless_present_any = ["wt_fasta", "input"], conflicts_with = "wt_fasta")]
    pub(crate) wt: Option<String>,
    /// A FASTA file whose first record is the wild type.
    #[arg(long, value_name = "FILE")]
    pub(crate) wt_fasta: Option<PathBuf>,
    /// The variants: a CSV/TSV/Parquet table, one per row (other columns pass through).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["saturation", "input"], conflicts_with = "saturation")]
    pub(crate) mutations: Option<PathBuf>,
    /// The column of mutation strings (A24G, T02A, A24G:L30P) [default: mutant].
    #[arg(long, value_name = "COL")]
    pub(crate) mutation_column: Option<String>,
    /// A column of full mutated sequences instead [default: mutated_sequence when there is no mutant column]. With a
    /// table INPUT: its column of sequences or SMILES [default: sequence, or smiles for a SMILES model].
    #[arg(long, value_name = "COL", conflicts_with = "mutation_column")]
    pub(crate) sequence_column: Option<String>,
    /// The residue number of the wild type's first residue.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_name = "N")]
    pub(crate) offset: i64,
    /// masked-marginal (mask each mutated site in the wild type), wt-marginal (one unmasked wild-type pass) or pll
    /// (pseudo-log-likelihood of the mutant minus the wild type's).
    #[arg(long, default_value = "masked-marginal", value_parser = Method::parse, value_name = "METHOD")]
    pub(crate) method: Method,
    /// Score the other rows and flag invalid mutations (valid = false, reason) instead of stopping.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Every single substitution at every position (19 x L rows).
    #[arg(long)]
    pub(crate) saturation: bool,
    /// A column of measured fitness: print ProteinGym's metrics (Spearman, AUC, MCC, NDCG and recall of the top 10%).
    #[arg(long, value_name = "COL", conflicts_with = "saturation")]
    pub(crate) fitness_column: Option<String>,
    /// Fitness at or above which a variant counts as functional for AUC and MCC [default: the median].
    #[arg(long, value_name = "X", requires = "fitness_column", allow_hyphen_values = true)]
    pub(crate) fitness_threshold: Option<f64>,
    /// The model's context in residues; longer proteins are scored in windows centred on each position (ProteinGym)
    /// [default: the model's, 1022 for ESM-2].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub(crate) max_length: Option<usize>,
    /// Token budget per batch of masked passes.
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = positive)]
    pub(crate) batch_tokens: usize,
    /// With --saturation: a heatmap of the scores (positions x amino acids, wild type marked), .png or .svg.
    #[arg(long, value_name = "FILE", requires = "saturation")]
    pub(crate) plot: Option<PathBuf>,
    /// The output table (.parquet, .csv or .tsv).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
}

pub(crate) fn run(ctx: &Ctx, args: ScoreArgs) -> Result<()> {
    if let Some(input) = &args.input {
        return likelihoods(ctx, input, &args);
    }
    crate::plot::check(args.plot.as_deref())?;
    let wild_type = match (&args.wt, &args.wt_fasta) {
        (Some(seq), _) => WildType::new(seq, args.offset),
        (None, Some(path)) => WildType::from_fasta(path, args.offset)?,
        (None, None) => unreachable!("clap requires --wt or --wt-fasta"),
    };
    let table = match &args.mutations {
        Some(path) => Some(Table::read(path, args.mutation_column.as_deref(), args.sequence_column.as_deref())?),
        None => None,
    };
    let fitness = match (&table, &args.fitness_column) {
        (Some(t), Some(column)) => Some(t.numbers(column)?),
        _ => None,
    };
    let parsed = match &table {
        Some(t) => Some(request::parse_rows(t, &wild_type, args.skip_invalid)?),
        None => None,
    };
    let resolved = args.model.resolve()?;
    let model = Esm2::load(&resolved.path, args.device.one()?, tch::Kind::Float)?;
    let hash = biotorch_io::digest::weights_sha256(&resolved.path)?;
    let tokenizer = biotorch_models::encoder_tokenizer(&resolved.path, model.config())?.tokenizer;
    let scorer = Scorer::new(&model, tokenizer.as_ref())?;
    let method = args.method;
    let max_tokens = biotorch_score::max_tokens(&model, args.max_length);
    let options = ScoreOptions { method, max_tokens, batch_tokens: args.batch_tokens };
    let started = Instant::now();
    let bar = ctx.progress.steps(0);
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let request::Scored { columns, fields, rows } = match (table.as_ref(), &parsed) {
        (Some(t), Some(p)) => request::Scored {
            columns: t.columns.clone(),
            fields: t.fields.clone(),
            rows: request::score_rows(&scorer, &wild_type, p, &options, &mut progress)?,
        },
        _ => request::score_saturation(&scorer, &wild_type, &options, &mut progress)?,
    };
    bar.finish_and_clear();
    let flat = TableFormat::of(&args.output) != TableFormat::Parquet;
    let frame = table::frame(&columns, &fields, &rows, flat)?;
    let windowed = wild_type.len() + 2 > max_tokens;
    let options_json = json!({
        "method": method.name(), "offset": args.offset, "wild_type": String::from_utf8_lossy(&wild_type.residues),
        "max_tokens": max_tokens, "batch_tokens": args.batch_tokens,
        "long": if windowed { format!("windows of {max_tokens} tokens centred on each scored position (ProteinGym)") } else { "whole sequence".into() },
        "variant_column": table.as_ref().map(|t| t.column.clone()),
    });
    let input = args.mutations.clone().unwrap_or_else(|| PathBuf::from("-"));
    let mut out = ctx
        .table(&args.output, "score", &input)
        .with_metadata(keys::MODEL, args.model.model.clone())
        .with_metadata(keys::MODEL_PATH, resolved.path.display().to_string())
        .with_metadata(keys::WEIGHTS_SHA256, hash.clone())
        .with_metadata(keys::OPTIONS, options_json.to_string());
    out.write(frame)?;
    let (path, written) = out.finish()?;
    let invalid = rows.iter().filter(|r| !r.valid).count();
    let seconds = started.elapsed().as_secs_f64();
    ctx.info(format!(
        "scored {} variants ({invalid} invalid) with {} in {seconds:.1} s{}",
        rows.len() - invalid,
        method.name(),
        if windowed { format!("; windows of {max_tokens} tokens") } else { String::new() },
    ));
    let mut summary = json!({"output": path.display().to_string(), "rows": written, "invalid": invalid,
        "model": args.model.model, "weights_sha256": hash, "options": options_json});
    if let Some(fitness) = fitness {
        let scores: Vec<f64> = rows.iter().map(|r| r.score.unwrap_or(f64::NAN)).collect();
        if let Some(m) = biotorch_score::proteingym(&scores, &fitness, args.fitness_threshold) {
            ctx.info(format!("against {}: {m}", args.fitness_column.as_deref().unwrap_or_default()));
            summary["metrics"] = serde_json::to_value(m)?;
        }
    }
    ctx.info(format!("wrote {} ({written} rows)", path.display()));
    if let Some(plot) = &args.plot {
        let positions = request::saturation_matrix(&wild_type, &rows);
        let title = format!("{}: {} of every substitution", args.model.model, method.name());
        let map = biotorch_plot::Heatmap {
            title: &title,
            letters: biotorch_score::AMINO_ACIDS,
            positions: &positions,
            label: method.name(),
        };
        biotorch_plot::heatmap(plot, &map).map_err(crate::plot::plot_error)?;
        ctx.info(format!("wrote {}", plot.display()));
    }
    ctx.write_summary(&summary)
}

/// Rows read, scored and written at a time (one Parquet row group).
const CHUNK: usize = 512;

/// `biotorch score INPUT`: the (pseudo-)log-likelihood of every row, streamed in chunks.
fn likelihoods(ctx: &Ctx, input: &Path, args: &ScoreArgs) -> Result<()> {
    let resolved = args.model.resolve()?;
    let model = LanguageModel::load(&resolved.path, args.device.one()?)?;
    let smiles_model = model.tokenizer.name() == "smiles";
    let stdin = input.as_os_str() == "-";
    let smi = SmilesFormat::from_path(input) == Some(SmilesFormat::Smi) || (stdin && smiles_model);
    let fasta = is_fasta(input) || (stdin && !smiles_model);
    let texts = if smi || (!fasta && smiles_model) { Texts::Smiles } else { Texts::Sequences };
    likelihood::check_model(&model, texts)?;
    let mut reader = if smi {
        SequenceRows::open_smi(input)?
    } else {
        let modality = if model.tokenizer.name().starts_with("dna") { Modality::Dna } else { Modality::Protein };
        let default = if smiles_model { "smiles" } else { "sequence" };
        let column = (!fasta).then(|| args.sequence_column.as_deref().unwrap_or(default));
        SequenceRows::open(input, modality, column)?
    };
    let masked = matches!(model.model, Lm::Masked(_));
    let max_tokens = match &model.model {
        Lm::Masked(m) => biotorch_score::max_tokens(m, args.max_length),
        Lm::Causal(m) => m.config().max_position_embeddings as usize,
    };
    let options = LikelihoodOptions { max_tokens, batch_tokens: args.batch_tokens };
    let hash = biotorch_io::digest::weights_sha256(&resolved.path)?;
    let options_json = json!({
        "mode": "likelihood", "model_kind": model.kind(), "texts": if texts == Texts::Smiles { "smiles" } else { "sequences" },
        "terms": if masked { "log p(residue i | sequence with residue i masked), windows of max_tokens (ProteinGym)" }
                 else { "log p(token t | tokens before t) for every token after the first, <eos> included" },
        "max_tokens": max_tokens, "batch_tokens": args.batch_tokens, "per_token": args.per_token,
    });
    let mut out = ctx
        .table(&args.output, "score", input)
        .with_metadata(keys::MODEL, args.model.model.clone())
        .with_metadata(keys::MODEL_PATH, resolved.path.display().to_string())
        .with_metadata(keys::WEIGHTS_SHA256, hash.clone())
        .with_metadata(keys::OPTIONS, options_json.to_string());
    let flat = TableFormat::of(&args.output) != TableFormat::Parquet;
    let columns = reader.columns();
    let bar = ctx.progress.records("scoring");
    let started = Instant::now();
    let (mut read, mut invalid, mut mean_sum, mut scored) = (0u64, 0usize, 0.0, 0usize);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        read += reader.read_chunk(CHUNK, None, &mut chunk)?;
        if chunk.is_empty() && (read == 0 || out.is_started()) {
            break;
        }
        let sequences: Vec<String> = chunk.iter_mut().map(|r| std::mem::take(&mut r.sequence)).collect();
        let rows = likelihood::log_likelihoods(&model, &sequences, texts, &options, &mut |_, _| bar.tick())?;
        invalid += rows.iter().filter(|r| !r.is_valid()).count();
        for l in rows.iter().filter_map(|r| r.given.as_ref()) {
            mean_sum += l.mean();
            scored += 1;
        }
        let fields: Vec<Vec<Option<String>>> = chunk.iter_mut().map(|r| std::mem::take(&mut r.fields)).collect();
        let smiles = texts == Texts::Smiles;
        out.write(table::likelihood_frame(&columns, &fields, &rows, masked, smiles, args.per_token, flat)?)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let (path, written) = out.finish()?;
    let what = if masked { "mean pseudo-log-likelihood per residue" } else { "mean log-likelihood per token" };
    let mean = mean_sum / scored.max(1) as f64;
    ctx.info(format!(
        "scored {scored} {} ({invalid} flagged) with {} ({} LM) in {:.1} s; {what} {mean:.4} on average",
        if texts == Texts::Smiles { "molecules" } else { "sequences" },
        args.model.model,
        model.kind(),
        started.elapsed().as_secs_f64()
    ));
    ctx.info(format!("wrote {} ({written} rows)", path.display()));
    ctx.write_summary(&json!({"output": path.display().to_string(), "rows": written, "invalid": invalid,
        "model": args.model.model, "weights_sha256": hash, "options": options_json, "mean_per_token": mean}))
}
