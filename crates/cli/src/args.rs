//! Argument groups that several commands share (flattened into their argument structs), and what they turn into:
//! reader options, the shard, the model's folder, devices.

use std::path::{Path, PathBuf};

use anyhow::Result;
use biotorch_io::dataset::{Shard, ShardBy};
use biotorch_io::{content_extension, Case, FastaOptions, SmilesFormat, SmilesOptions};
use biotorch_models::{ResolvedModel, Resolver};
use clap::{Args, ValueEnum};
use tch::{Device, Kind};

use crate::exit::bad_input;

/// Where bundled models live: `BIOTORCH_MODELS_PATH` (handled by the resolver), then `data/models` of the source tree
/// this binary was built from.
pub(crate) fn resolver() -> Resolver {
    let bundled = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/models"));
    Resolver::from_env().with_bundled_dir(bundled.canonicalize().unwrap_or_else(|_| bundled.to_path_buf()))
}

/// A count that makes no sense as 0 (batch sizes, token budgets, epochs, steps, look-ahead): every such option is
/// parsed by this, so `0` is refused the same way everywhere (exit code 2).
pub(crate) fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

/// [`positive`] for `u64` options.
pub(crate) fn positive_u64(s: &str) -> Result<u64, String> {
    positive(s).map(|n| n as u64)
}

/// `--model` of the commands that load a sequence model.
#[derive(Debug, Args, Clone)]
pub(crate) struct ModelArg {
    /// A model folder (HF layout: config.json, model.safetensors and vocab.txt or smiles_vocab.json), a bundled
    /// model (protein-small, dna-small, smiles-small, smiles-drug) or a HuggingFace repo id found in the HF cache (e.g.
    /// facebook/esm2_t6_8M_UR50D).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: String,
}

impl ModelArg {
    pub(crate) fn resolve(&self) -> Result<ResolvedModel> {
        Ok(resolver().resolve(&self.model)?)
    }

    /// The weights' path (a file or a folder, for the loaders) and the folder holding config and tokenizer.
    pub(crate) fn paths(&self) -> Result<(PathBuf, PathBuf)> {
        let path = self.resolve()?.path;
        let dir = if path.is_file() { path.parent().map(Path::to_path_buf).unwrap_or_default() } else { path.clone() };
        Ok((path, dir))
    }
}

/// `--device`.
#[derive(Debug, Args, Clone)]
pub(crate) struct DeviceArg {
    /// auto (CUDA when available), cpu, cuda or cuda:N. `embed` also takes several GPUs, cuda:0,cuda:1,... or
    /// cuda:all: one model replica per GPU, batches spread over them, output identical to one device.
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    pub(crate) device: String,
}

impl DeviceArg {
    /// One device, refused when it does not exist.
    pub(crate) fn one(&self) -> Result<Device> {
        Ok(biotorch_models::device::parse_device(&self.device)?)
    }

    /// One device or several (`embed`).
    pub(crate) fn several(&self) -> Result<Vec<Device>> {
        Ok(biotorch_models::device::parse_devices(&self.device)?)
    }
}

/// `--head NAME=DIR` (optimize, select, generate).
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct HeadsArg {
    /// A property-prediction head (made by `biotorch finetune` on a SMILES model) as the number NAME in --filter
    /// and --objective, and a column NAME of the output; an ensemble head adds NAME_std (the spread over its
    /// members). A regression head gives its value; a two-class head gives the probability of its positive class
    /// (the second of its classes, e.g. 1 of 0/1); heads of more classes, of several targets or on protein/DNA
    /// models are refused. E.g. --head logs=heads/logs --objective "(logs + 10)/10 - 0.05*logs_std + 0.3*qed". Repeat for
    /// several heads. Each distinct molecule is predicted once per run, batched on --device.
    #[arg(long = "head", value_name = "NAME=DIR")]
    pub(crate) heads: Vec<String>,
}

impl HeadsArg {
    /// Parses the specs and reads the heads' descriptions (cheap: the models load with [`HeadsArg::load`]).
    pub(crate) fn open(&self) -> Result<biotorch_design::Heads> {
        let args = self
            .heads
            .iter()
            .map(|h| biotorch_design::HeadArg::parse(h))
            .collect::<biotorch_design::Result<Vec<_>>>()?;
        Ok(biotorch_design::Heads::open(&args)?)
    }
}

/// `--dtype`.
#[derive(Debug, Args, Clone)]
pub(crate) struct DtypeArg {
    /// Number format of the model's weights and activations: f32, bf16, f16, or int8 (ESM encoders on the CPU:
    /// `embed`, frozen `finetune`); docs/guide.md says which to use when.
    #[arg(long, default_value = "f32", value_name = "DTYPE")]
    pub(crate) dtype: String,
}

impl DtypeArg {
    pub(crate) fn kind(&self) -> Result<Kind> {
        Ok(biotorch_models::device::parse_kind(&self.dtype)?)
    }

    pub(crate) fn precision(&self) -> Result<biotorch_models::Precision> {
        Ok(biotorch_models::device::parse_precision(&self.dtype)?)
    }
}

/// `-o` and `--resume` of the per-record commands whose output can be one part of a dataset directory.
#[derive(Debug, Args, Clone)]
pub(crate) struct DatasetOutput {
    /// Output table (Parquet; by its extension CSV/TSV, or for molecules an SD file `.sdf` with 2D coordinates and
    /// every column a data item), or a dataset directory (a name ending in `/`, or an existing directory) that gets
    /// part-IIIII-of-NNNNN.parquet (I/N from --shard).
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Skip the work when the output file already exists, is a complete Parquet file and was written with the same
    /// input, shard, model and options (for re-running failed shards of a dataset).
    #[arg(long)]
    pub(crate) resume: bool,
}

/// `--shard I/N` and `--shard-by`.
#[derive(Debug, Args, Clone)]
pub(crate) struct ShardArgs {
    /// Process only shard I of N (0 <= I < N): record i when i mod N = I, or by a hash of the id (--shard-by id).
    /// The N shards cover the input exactly once; `biotorch merge` puts them back together in input order.
    #[arg(long, value_name = "I/N", value_parser = shard_spec)]
    pub(crate) shard: Option<(u64, u64)>,
    /// How --shard assigns records: index (round-robin by record number) or id (FNV-1a hash of the id; for a table
    /// without an id column, of the sequence).
    #[arg(long, value_enum, default_value = "index", requires = "shard")]
    pub(crate) shard_by: ShardByArg,
}

impl ShardArgs {
    pub(crate) fn shard(&self) -> Option<Shard> {
        let by = match self.shard_by {
            ShardByArg::Index => ShardBy::Index,
            ShardByArg::Id => ShardBy::Id,
        };
        self.shard.map(|(index, count)| Shard { index, count, by })
    }
}

/// Parses `I/N` for `--shard` (clap turns an error into a usage error, exit code 2).
pub(crate) fn shard_spec(s: &str) -> Result<(u64, u64), String> {
    s.parse::<Shard>().map(|shard| (shard.index, shard.count)).map_err(|e| e.to_string())
}

/// How `--shard` assigns records to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShardByArg {
    /// Record i goes to shard i mod N (balanced whatever the order of the input).
    Index,
    /// A record goes to shard FNV-1a-64(id) mod N (stable across runs, machines and input order).
    Id,
}

/// What to do with sequences longer than --max-length tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LongPolicy {
    /// Keep the first --max-length tokens (flagged in the `truncated` column).
    Truncate,
    /// Overlapping windows over the whole sequence; each token's vector averaged over the windows that cover it.
    Window,
}

impl LongPolicy {
    pub(crate) fn policy(self) -> biotorch_models::LongPolicy {
        match self {
            LongPolicy::Truncate => biotorch_models::LongPolicy::Truncate,
            LongPolicy::Window => biotorch_models::LongPolicy::Window,
        }
    }
}

/// What kind of records a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// FASTA (protein, DNA or RNA).
    Fasta,
    /// SMILES (.smi, CSV/TSV, Parquet).
    Smiles,
}

/// How input files are read.
#[derive(Debug, Args, Clone)]
pub(crate) struct InputArgs {
    /// Input file (`-` for standard input). FASTA (.fa/.fasta/.faa/.fna, maybe .gz) or SMILES (.smi, .csv, .tsv,
    /// .parquet).
    pub(crate) input: PathBuf,
    /// Input kind, when the file name does not tell.
    #[arg(long, value_enum)]
    pub(crate) format: Option<InputFormat>,
    /// FASTA alphabet to check: protein, dna, rna or auto (from the first record).
    #[arg(long, default_value = "auto", value_name = "MODALITY")]
    pub(crate) modality: biotorch_io::ModalityChoice,
    /// Reject lowercase residues instead of upper-casing them.
    #[arg(long)]
    pub(crate) strict_case: bool,
    /// Accept FASTA records with the same id.
    #[arg(long)]
    pub(crate) allow_duplicate_ids: bool,
    /// Column with the SMILES (CSV/TSV/Parquet); default: the one named "smiles".
    #[arg(long, value_name = "COL")]
    pub(crate) smiles_column: Option<String>,
    /// Column with the molecule ids (CSV/TSV/Parquet); default: "id" or "name" when present.
    #[arg(long, value_name = "COL")]
    pub(crate) id_column: Option<String>,
    #[command(flatten)]
    pub(crate) shard: ShardArgs,
}

impl InputArgs {
    /// The kind of records in the input: from `--format`, else from the file name (standard input: FASTA).
    pub(crate) fn format(&self) -> Result<InputFormat> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        if self.input == Path::new("-") {
            return Ok(InputFormat::Fasta);
        }
        match content_extension(&self.input).as_str() {
            "fa" | "fasta" | "faa" | "fna" | "ffn" | "frn" | "fas" | "mpfa" | "seq" => Ok(InputFormat::Fasta),
            _ if SmilesFormat::from_path(&self.input).is_some() => Ok(InputFormat::Smiles),
            ext => bad_input!(
                "{}: cannot tell the input kind from the extension '{ext}': pass --format fasta or --format smiles",
                self.input.display()
            ),
        }
    }

    pub(crate) fn fasta_options(&self, report_invalid: bool) -> FastaOptions {
        FastaOptions {
            modality: self.modality,
            case: if self.strict_case { Case::Reject } else { Case::Upper },
            allow_duplicate_ids: self.allow_duplicate_ids,
            report_invalid,
            model: None,
        }
    }

    pub(crate) fn smiles_options(&self) -> SmilesOptions {
        SmilesOptions {
            smiles_column: self.smiles_column.clone(),
            id_column: self.id_column.clone(),
            format: if self.input == Path::new("-") { Some(SmilesFormat::Smi) } else { None },
        }
    }

    pub(crate) fn shard(&self) -> Option<Shard> {
        self.shard.shard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_refused_where_it_makes_no_sense() {
        assert_eq!(positive("3"), Ok(3));
        assert_eq!(positive("0"), Err("must be at least 1".to_string()));
        assert!(positive("-1").is_err() && positive("x").is_err());
    }

    #[test]
    fn shard_specs_are_validated() {
        assert_eq!(shard_spec("0/1"), Ok((0, 1)));
        assert_eq!(shard_spec("3/4"), Ok((3, 4)));
        for bad in ["4/4", "1/0", "0", "a/2", "-1/2", "1/2/3", ""] {
            assert!(shard_spec(bad).is_err(), "{bad}");
        }
    }
}
