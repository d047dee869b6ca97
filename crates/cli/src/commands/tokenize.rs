//! `biotorch tokenize`: FASTA or SMILES in, a table of token ids out (`index, id, length, token_ids`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_io::dataset::{keys, output_file, Batches};
use biotorch_io::polars::prelude::*;
use biotorch_io::{FastaReader, Modality, ModalityChoice, SmilesReader};
use biotorch_tokenizers::{SmilesTokenizer, SmilesVocabBuilder, Tokenizer, TokenizerSpec};
use clap::Args;
use rayon::prelude::*;
use serde_json::json;

use crate::args::{InputArgs, InputFormat};
use crate::ctx::Ctx;
use crate::exit::{bad_input, BadInput};

#[derive(Debug, Args)]
pub(crate) struct TokenizeArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// esm2, dna, dna-kmer:K, smiles (vocabulary built from the input) or smiles:VOCAB.json.
    #[arg(long, value_name = "SPEC")]
    pub(crate) tokenizer: String,
    /// Output table (Parquet): index, id, length, token_ids; or a dataset directory (a name ending in `/`, or an
    /// existing directory) that gets part-IIIII-of-NNNNN.parquet.
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Where to save a SMILES vocabulary built from the input (default: next to the output, NAME.vocab.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) save_vocab: Option<PathBuf>,
}

const BATCH: usize = 8_192;

/// A record ready for tokenizing: where it came from, its id and its text.
struct Item {
    index: u64,
    line: u64,
    id: Option<String>,
    text: String,
}

pub(crate) fn run(ctx: &Ctx, mut args: TokenizeArgs) -> Result<()> {
    let spec: TokenizerSpec = args.tokenizer.parse()?;
    let format = args.input.format()?;
    let is_smiles_tokenizer = matches!(spec, TokenizerSpec::Smiles(_));
    match (format, is_smiles_tokenizer) {
        (InputFormat::Smiles, false) => {
            bad_input!(
                "{}: SMILES input needs --tokenizer smiles (or smiles:VOCAB.json), not {spec}",
                args.input.input.display()
            )
        }
        (InputFormat::Fasta, true) => {
            bad_input!(
                "{}: FASTA input needs a sequence tokenizer (esm2, dna, dna-kmer:K), not {spec}",
                args.input.input.display()
            )
        }
        _ => {}
    }
    // The alphabet follows the tokenizer unless the user chose one.
    if args.input.modality == ModalityChoice::Auto {
        args.input.modality = ModalityChoice::Fixed(match spec {
            TokenizerSpec::Esm2 => Modality::Protein,
            _ => Modality::Dna,
        });
    }
    let mut vocab_saved = None;
    let tokenizer: Box<dyn Tokenizer> = match &spec {
        TokenizerSpec::Smiles(None) => {
            let tok = build_smiles_vocab(ctx, &args)?;
            let path = args.save_vocab.clone().unwrap_or_else(|| default_vocab_path(&args.output));
            tok.to_file(&path).with_context(|| format!("cannot save the SMILES vocabulary to {}", path.display()))?;
            ctx.info(format!(
                "built a SMILES vocabulary of {} tokens from the input: {}",
                tok.vocab_size(),
                path.display()
            ));
            vocab_saved = Some(path);
            Box::new(tok)
        }
        other => other.build()?,
    };

    let shard = args.input.shard();
    let output = output_file(&args.output, shard.as_ref())?;
    let mut out = ctx
        .table(&output, "tokenize", &args.input.input)
        .with_metadata(keys::TOKENIZER, spec.to_string())
        .with_shard(shard.as_ref());
    let bar = ctx.progress.records("records");
    let (mut n, mut tokens_total, mut unk) = (0u64, 0u64, 0u64);
    let unk_id = tokenizer.unk_id();
    // With --shard, every record is read (and counted) but only the shard's are tokenized; an empty shard still
    // writes its (empty) table. A SMILES vocabulary is still built from the whole input, so that every shard has the
    // same token ids.
    let keep = |item: &Item| shard.is_none_or(|s| s.keep(item.index, item.id.as_deref().unwrap_or(&item.text)));
    let mut batches = Batches::new(items(&args, format)?, BATCH, keep);
    for batch in batches.by_ref() {
        let batch = batch?;
        let encoded: Vec<Vec<u32>> = batch
            .par_iter()
            .map(|item| {
                tokenizer.encode(&item.text).map_err(|e| {
                    anyhow::Error::new(BadInput(format!(
                        "{}:{}: record {}: {e}",
                        args.input.input.display(),
                        item.line,
                        item.id
                            .as_deref()
                            .map(|s| format!("\"{s}\""))
                            .unwrap_or_else(|| format!("#{}", item.index + 1))
                    )))
                })
            })
            .collect::<Result<_>>()?;
        let mut ids = ListPrimitiveChunkedBuilder::<UInt32Type>::new(
            "token_ids".into(),
            batch.len(),
            encoded.iter().map(Vec::len).sum(),
            DataType::UInt32,
        );
        for e in &encoded {
            ids.append_slice(e);
            tokens_total += e.len() as u64;
            if let Some(u) = unk_id {
                unk += e.iter().filter(|&&t| t == u).count() as u64;
            }
        }
        n += batch.len() as u64;
        let df = DataFrame::new(
            batch.len(),
            vec![
                Column::new("index".into(), batch.iter().map(|i| i.index).collect::<Vec<_>>()),
                Column::new("id".into(), batch.iter().map(|i| i.id.clone()).collect::<Vec<_>>()),
                Column::new("length".into(), encoded.iter().map(|e| e.len() as u32).collect::<Vec<_>>()),
                ids.finish().into_series().into(),
            ],
        )?;
        out.write(df)?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    if batches.seen() == 0 {
        bad_input!("{}: no records in the input", args.input.input.display());
    }
    let (path, rows) = out.finish()?;
    ctx.info(format!(
        "wrote {} ({rows} rows, {tokens_total} tokens with specials, {unk} unknown, tokenizer {spec})",
        path.display()
    ));
    let mut summary = json!({
        "input": args.input.input.display().to_string(),
        "output": path.display().to_string(),
        "tokenizer": spec.to_string(),
        "records": n,
        "tokens": tokens_total,
        "unknown_tokens": unk,
        "vocab_size": tokenizer.vocab_size(),
    });
    if let Some(v) = vocab_saved {
        summary["vocab"] = json!(v.display().to_string());
    }
    ctx.write_summary(&summary)
}

fn default_vocab_path(output: &Path) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "tokens".into());
    output.with_file_name(format!("{stem}.vocab.json"))
}

/// First pass over a SMILES file: the vocabulary of the regex tokens it uses.
fn build_smiles_vocab(ctx: &Ctx, args: &TokenizeArgs) -> Result<SmilesTokenizer> {
    if args.input.input == Path::new("-") {
        bad_input!("building a SMILES vocabulary reads the input twice, which standard input cannot do: give a file, or --tokenizer smiles:VOCAB.json");
    }
    let bar = ctx.progress.records("building vocabulary");
    let mut builder = SmilesVocabBuilder::new();
    for item in items(args, InputFormat::Smiles)? {
        let item = item?;
        builder.add(&item.text).map_err(|e| {
            BadInput(format!("{}:{}: record #{}: {e}", args.input.input.display(), item.line, item.index + 1))
        })?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(builder.build())
}

/// The records of the input as [`Item`]s, whatever the format.
fn items(args: &TokenizeArgs, format: InputFormat) -> Result<Box<dyn Iterator<Item = Result<Item>>>> {
    Ok(match format {
        InputFormat::Fasta => {
            let mut reader = FastaReader::from_path(&args.input.input, args.input.fasta_options(false))?;
            Box::new(std::iter::from_fn(move || {
                let mut r = biotorch_io::Record::default();
                match reader.read_record(&mut r) {
                    Ok(true) => {
                        let text = r.seq_str().into_owned();
                        Some(Ok(Item { index: r.index, line: r.line, id: Some(r.id), text }))
                    }
                    Ok(false) => None,
                    Err(e) => Some(Err(e.into())),
                }
            }))
        }
        InputFormat::Smiles => {
            let reader = SmilesReader::open(&args.input.input, &args.input.smiles_options())?;
            Box::new(reader.map(|r| {
                r.map(|r| Item { index: r.index, line: r.line, id: r.id, text: r.smiles }).map_err(anyhow::Error::from)
            }))
        }
    })
}
