//! Command-line types (clap derive). Arguments are turned into settings in each command's file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// biotorch: biomolecular sequence models in one binary. Sequences and molecules in, tables out.
#[derive(Debug, Parser)]
#[command(name = "biotorch", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Say more about what is happening.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Show progress bars even when stderr is not a terminal.
    #[arg(long, global = true)]
    pub(crate) progress: bool,
    /// Also write a machine-readable run summary (JSON) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) summary_json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Per-record statistics of a FASTA or SMILES file: lengths, alphabet problems, SMILES validity.
    Stats(StatsArgs),
    /// Turn sequences or SMILES into token ids.
    Tokenize(TokenizeArgs),
    /// Embed every FASTA record with an ESM-2-style model: one row per record, input order kept.
    Embed(EmbedArgs),
    /// Train a model: masked-LM pretraining of an ESM-2-style encoder on protein or DNA FASTA, or causal-LM
    /// pretraining of the SMILES decoder (see docs/training.md).
    Train(TrainArgs),
    /// List the bundled models and the ESM models in the HuggingFace cache.
    Models(ModelsArgs),
    /// RDKit properties of every molecule of a SMILES file: validity, canonical SMILES, descriptors, QED, SA,
    /// scaffold, PAINS/Brenk alerts.
    Chem(ChemArgs),
    /// Sample molecules from a SMILES language model; every sample checked and scored with RDKit.
    Generate(GenerateArgs),
    /// Steer a SMILES language model toward a property score (augmented hill-climb reinforcement learning).
    Optimize(OptimizeArgs),
    /// Keep the valid molecules of a chem or generate table that pass a property filter, optionally one row per
    /// molecule (--unique): candidates from sampled or screened molecules.
    Select(SelectArgs),
    /// Score a table written by `biotorch predict` (or merged from its parts) against its label columns.
    Evaluate(EvaluateArgs),
    /// Combine the part files of a Parquet dataset directory (written with --shard I/N) into one file, in input order.
    Merge(MergeArgs),
    /// Train a property-prediction head (MLP on pooled embeddings, encoder frozen or fine-tuned) on a labelled table.
    Finetune(FinetuneArgs),
    /// Predict properties with a head written by `biotorch finetune`.
    Predict(PredictArgs),
}

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
    #[arg(long, value_enum)]
    pub(crate) objective: ObjectiveArg,
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
    #[arg(long, value_name = "N")]
    pub(crate) steps: Option<u64>,
    /// Passes over the training data.
    #[arg(long, value_name = "N")]
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
    #[arg(long, value_name = "N")]
    pub(crate) batch_tokens: Option<usize>,
    /// Micro-batches per optimizer step (gradient accumulation) [default: 1].
    #[arg(long, value_name = "N")]
    pub(crate) accumulate: Option<usize>,
    /// Clip the global gradient norm to this; 0 disables [default: 1.0].
    #[arg(long, value_name = "NORM")]
    pub(crate) clip: Option<f64>,
    /// AdamW weight decay, not applied to biases and LayerNorms [default: 0.01].
    #[arg(long, value_name = "W")]
    pub(crate) weight_decay: Option<f64>,
    /// Evaluate on the validation set every N steps (and before the first and after the last) [default: 500].
    #[arg(long, value_name = "N")]
    pub(crate) eval_every: Option<u64>,
    /// Write a checkpoint every N steps (and at the end) [default: 1000].
    #[arg(long, value_name = "N")]
    pub(crate) save_every: Option<u64>,
    /// Stop after N evaluations without a lower validation loss [default: never].
    #[arg(long, value_name = "N")]
    pub(crate) patience: Option<u64>,
    /// Seed of every random choice: initial weights, validation split, batches, masks, dropout [default: 0].
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// Longest sequence in tokens, specials excluded; mlm crops longer ones at a seeded random offset, clm leaves them
    /// out [default: 1022 for mlm, the model's positions less 2 for clm].
    #[arg(long, value_name = "N")]
    pub(crate) max_length: Option<usize>,
    /// clm: the SMILES column of a CSV/TSV/Parquet training file [default: the column named smiles].
    #[arg(long, value_name = "NAME")]
    pub(crate) smiles_column: Option<String>,
    /// clm: SMILES enumeration: in each epoch, every training molecule is written as a randomized SMILES (RDKit,
    /// seeded by --seed, epoch and record); validation keeps the SMILES as given.
    #[arg(long)]
    pub(crate) augment: bool,
    /// Stop after N steps in this invocation (with a checkpoint), to be continued with --resume.
    #[arg(long, value_name = "N")]
    pub(crate) stop_after: Option<u64>,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
    /// f32; bf16/f16 are accepted but training runs in fp32 (see docs/training.md).
    #[arg(long, default_value = "f32")]
    pub(crate) dtype: String,
}

#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {}

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// A dataset directory holding part-IIIII-of-NNNNN.parquet files (all N of them).
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// The merged table (Parquet), rows in input order.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Also draw a 2-D PCA scatter of the `embedding` column of the merged table (PNG or SVG), as `embed --plot`.
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// CSV/TSV with an `id` column and labels to colour the PCA plot by.
    #[arg(long, value_name = "FILE", requires = "plot")]
    pub(crate) labels: Option<PathBuf>,
    /// The label column in --labels (default: "label").
    #[arg(long, value_name = "COL", requires = "labels")]
    pub(crate) label_column: Option<String>,
}

/// What to do with sequences longer than --max-length tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LongPolicy {
    /// Keep the first --max-length tokens (flagged in the `truncated` column).
    Truncate,
    /// Overlapping windows over the whole sequence; each token's vector averaged over the windows that cover it.
    Window,
}

#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// A model folder (HF layout: config.json, model.safetensors, vocab.txt), a bundled model name, or a
    /// HuggingFace repo id found in the HF cache (e.g. facebook/esm2_t6_8M_UR50D).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: String,
    /// Output table (Parquet), or a dataset directory (a name ending in `/`, or an existing directory) that gets
    /// part-IIIII-of-NNNNN.parquet (I/N from --shard).
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Skip the work when the output file already exists, is a complete Parquet file and was written with the same
    /// input, shard, model weights and options (for re-running failed shards of a dataset).
    #[arg(long)]
    pub(crate) resume: bool,
    /// Poolings, comma-separated: mean (over residues, specials excluded), cls, per-token.
    #[arg(long, default_value = "mean", value_name = "LIST")]
    pub(crate) pooling: String,
    /// Hidden states to pool, comma-separated: 0 = embedding output, 1..L the layers, negative counts from the end.
    #[arg(long, default_value = "-1", value_name = "LIST", allow_hyphen_values = true)]
    pub(crate) layers: String,
    /// Token budget per batch (batch size x padded length). Default: 1024 on CPU, where large batches only add
    /// attention memory traffic (measured in docs/benchmarks.md), 16384 on CUDA.
    #[arg(long, value_name = "N")]
    pub(crate) batch_tokens: Option<usize>,
    /// Records read ahead and sorted by length before batching (bounds memory; output order is kept).
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub(crate) lookahead: usize,
    /// Longest sequence, in tokens without <cls>/<eos>, given to the model at once.
    #[arg(long, default_value_t = 1022, value_name = "N")]
    pub(crate) max_length: usize,
    /// What to do with longer sequences.
    #[arg(long, value_enum, default_value = "truncate")]
    pub(crate) long: LongPolicy,
    /// auto (CUDA when available), cpu, cuda or cuda:N; or several GPUs, cuda:0,cuda:1,... or cuda:all: one model
    /// replica per GPU, batches spread over them, output identical to one device and in input order.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
    /// f32, bf16 or f16 (reduced precision is meant for CUDA).
    #[arg(long, default_value = "f32")]
    pub(crate) dtype: String,
    /// Also draw a 2-D PCA scatter of the `embedding` column (PNG or SVG).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// CSV/TSV with an `id` column (or ids in the first column) and labels to colour the PCA plot by.
    #[arg(long, value_name = "FILE")]
    pub(crate) labels: Option<PathBuf>,
    /// The label column in --labels (default: "label").
    #[arg(long, value_name = "COL")]
    pub(crate) label_column: Option<String>,
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
    /// Input file (`-` for standard input). FASTA (.fa/.fasta/.faa/.fna, maybe .gz) or SMILES (.smi, .csv, .tsv, .parquet).
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
    /// Process only shard I of N (0 <= I < N): record i when i mod N = I, or by a hash of the id (--shard-by id).
    /// The N shards cover the input exactly once; `biotorch merge` puts them back together in input order.
    #[arg(long, value_name = "I/N", value_parser = crate::input::parse_shard_spec)]
    pub(crate) shard: Option<(u64, u64)>,
    /// How --shard assigns records: index (round-robin by record number) or id (FNV-1a hash of the id).
    #[arg(long, value_enum, default_value = "index", requires = "shard")]
    pub(crate) shard_by: ShardByArg,
}

/// How `--shard` assigns records to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShardByArg {
    /// Record i goes to shard i mod N (balanced whatever the order of the input).
    Index,
    /// A record goes to shard FNV-1a-64(id) mod N (stable across runs, machines and input order).
    Id,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// Write the per-record table here (Parquet), or into a dataset directory (a name ending in `/`, or an
    /// existing directory) as part-IIIII-of-NNNNN.parquet.
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: Option<PathBuf>,
    /// Draw a length histogram (PNG or SVG, by extension).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// SMILES: only parse and sanitize (validity, heavy atoms); leave canonical_smiles empty. About twice as fast.
    #[arg(long)]
    pub(crate) no_canonical: bool,
}

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

#[derive(Debug, Args)]
pub(crate) struct ChemArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// Output table (Parquet): the input's columns, then validity, canonical SMILES and the properties; or a
    /// dataset directory (a name ending in `/`, or an existing directory) that gets part-IIIII-of-NNNNN.parquet.
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Skip the work when the output file already exists, is a complete Parquet file and was written with the same
    /// input, shard, RDKit version and options (for re-running failed shards of a dataset).
    #[arg(long)]
    pub(crate) resume: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// A SMILES decoder: a model folder (config.json, model.safetensors, smiles_vocab.json) or a bundled name
    /// (smiles-small).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: String,
    /// Molecules to sample (with --unique-valid: valid, unique molecules to obtain).
    #[arg(short = 'n', long = "num", value_name = "N")]
    pub(crate) n: usize,
    /// Output table (Parquet): one row per raw sample; or a dataset directory (a name ending in `/`, or an existing
    /// directory) that gets part-IIIII-of-NNNNN.parquet (I/N from --shard).
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Draw only shard I of N: the samples floor(I*n/N) to floor((I+1)*n/N) - 1 of the same seeded stream, so the N
    /// shards together are exactly the samples of one run (`biotorch merge` puts them back in sample order).
    /// `state` = duplicate is then per shard; `biotorch select --unique` removes duplicates across shards.
    #[arg(long, value_name = "I/N", value_parser = crate::input::parse_shard_spec)]
    pub(crate) shard: Option<(u64, u64)>,
    /// Sampling temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub(crate) temperature: f64,
    /// Sample only among the K most likely tokens.
    #[arg(long, value_name = "K")]
    pub(crate) top_k: Option<i64>,
    /// Sample only among the most likely tokens whose probabilities add up to P (nucleus sampling).
    #[arg(long, value_name = "P")]
    pub(crate) top_p: Option<f64>,
    /// Seed of the sampling stream: the same seed, model and device give the same molecules.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub(crate) seed: u64,
    /// The most tokens per sample (a sample without <eos> by then is invalid).
    #[arg(long, default_value_t = 128, value_name = "L")]
    pub(crate) max_length: i64,
    /// Samples decoded together.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub(crate) batch_size: usize,
    /// Training molecules (SMILES file): adds `novel` and `max_train_similarity`, and novelty to the summary.
    #[arg(long, value_name = "FILE")]
    pub(crate) train_set: Option<PathBuf>,
    /// The SMILES column of a CSV/TSV/Parquet --train-set [default: the column named smiles].
    #[arg(long, value_name = "COL")]
    pub(crate) train_smiles_column: Option<String>,
    /// Mark the molecules meeting a property expression (column `passes`), e.g. "qed > 0.6 and mw < 500 and not
    /// pains". Names: qed, sa, logp, mw, tpsa, hbd, hba, rotb, rings, aromatic_rings, heavy_atoms, formal_charge,
    /// nll, similarity; flags: pains, brenk, novel.
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Keep sampling until N valid, unique molecules exist (that pass --filter, when given).
    #[arg(long)]
    pub(crate) unique_valid: bool,
    /// With --unique-valid: give up after this many samples [default: 100 x N, at least 10,000].
    #[arg(long, value_name = "N")]
    pub(crate) max_samples: Option<u64>,
    /// Re-encode the whole prefix at every step instead of using the KV cache (same samples; for benchmarks).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Draw property distributions (QED, logP, MW, SA) of the generated molecules, against the training set's
    /// (PNG or SVG).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
}

#[derive(Debug, Args)]
pub(crate) struct SelectArgs {
    /// A table written by `biotorch chem` or `biotorch generate` (or merged from their parts), or a dataset
    /// directory of their parts (read in part order; merge round-robin parts first for input order).
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// Output table (Parquet): the rows kept, with all their columns, in input order.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Keep only the valid rows meeting a property expression, e.g. "qed > 0.5 and mw < 500 and not pains" (syntax
    /// of `generate --filter`; it reads the table's columns qed, sa, logp, mw, tpsa, hbd, hba, rotatable_bonds,
    /// rings, aromatic_rings, heavy_atoms, formal_charge, nll, max_train_similarity, pains, brenk, novel, finished).
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Drop a row whose canonical_smiles (or COL) equals that of a row already kept: the first occurrence wins.
    /// Written `--unique` or `--unique=COL`.
    #[arg(long, value_name = "COL", num_args = 0..=1, require_equals = true, default_missing_value = "canonical_smiles")]
    pub(crate) unique: Option<String>,
    /// Draw the QED, logP, MW and SA distributions of the kept molecules (PNG or SVG).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct EvaluateArgs {
    /// A table written by `biotorch predict` that holds the labels (the head's target columns), merged or not, or a
    /// dataset directory of its parts.
    #[arg(value_name = "PREDICTIONS")]
    pub(crate) input: PathBuf,
    /// The head folder the predictions came from (its targets, tasks and classes).
    #[arg(long, value_name = "HEAD_DIR")]
    pub(crate) model: PathBuf,
    /// Also write the metrics as JSON here.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct OptimizeArgs {
    /// The SMILES decoder to start from (the prior): a model folder or a bundled name (smiles-small).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: String,
    /// The score to maximize: arithmetic on properties (+ - * / and parentheses), e.g. "qed - 0.1*sa + 0.5*sim_ref"
    /// (names as in --filter; sim_ref is the Tanimoto similarity to --similar-to).
    #[arg(long, value_name = "EXPR")]
    pub(crate) objective: String,
    /// A reference molecule for sim_ref and --min-similarity (Morgan radius 2, 2048 bits, Tanimoto).
    #[arg(long, value_name = "SMILES")]
    pub(crate) similar_to: Option<String>,
    /// Molecules less similar than this to --similar-to have their score scaled by similarity / this, and do not
    /// meet the constraints.
    #[arg(long, value_name = "S")]
    pub(crate) min_similarity: Option<f64>,
    /// A hard constraint: molecules not meeting it score 0 (same syntax as generate --filter).
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Reinforcement-learning steps.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub(crate) steps: u64,
    /// Molecules sampled per step.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub(crate) batch_size: usize,
    /// Fraction of each step's samples, the best by score, that the agent learns from (augmented hill-climb).
    #[arg(long, default_value_t = 0.5, value_name = "F")]
    pub(crate) keep: f64,
    /// Weight of the score in the augmented likelihood (REINVENT's sigma).
    #[arg(long, default_value_t = 60.0, value_name = "SIGMA")]
    pub(crate) sigma: f64,
    /// Adam learning rate of the agent.
    #[arg(long, default_value_t = 5e-4, value_name = "LR")]
    pub(crate) lr: f64,
    /// Diversity filter: after this many molecules scoring at least --scaffold-threshold on one Murcko scaffold,
    /// that scaffold scores 0.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub(crate) scaffold_bucket: u32,
    /// Diversity filter: the score from which a molecule counts toward its scaffold's bucket.
    #[arg(long, default_value_t = 0.4, value_name = "S")]
    pub(crate) scaffold_threshold: f64,
    /// The most tokens per sample.
    #[arg(long, default_value_t = 128, value_name = "L")]
    pub(crate) max_length: i64,
    /// Seed of the sampling stream and of the agent's updates.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub(crate) seed: u64,
    /// How many of the best unique molecules to write.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub(crate) top: usize,
    /// Output table (Parquet): the best unique molecules with their scores and properties.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Per-step metrics table [default: OUTPUT with .steps.parquet].
    #[arg(long, value_name = "FILE")]
    pub(crate) steps_output: Option<PathBuf>,
    /// Per-step metrics plot, PNG or SVG [default: OUTPUT with .steps.png].
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
}

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
}

#[derive(Debug, Args)]
pub(crate) struct FinetuneArgs {
    /// The backbone: a model folder, a bundled name (protein-small, dna-small, smiles-small) or an HF repo id in the
    /// cache. Its tokenizer decides the modality (protein, DNA, or SMILES for the decoder).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: String,
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
    /// Output folder: head.safetensors, head.json, metrics.json, plots (and encoder-K/ with --mode full).
    #[arg(short, long, value_name = "HEAD_DIR")]
    pub(crate) output: PathBuf,
    /// Replace a head already in HEAD_DIR.
    #[arg(long)]
    pub(crate) force: bool,
    /// frozen (MLP on cached embeddings) or full (fine-tune the encoder too).
    #[arg(long, value_enum, default_value = "frozen")]
    pub(crate) mode: FinetuneMode,
    /// With --mode full: train only the top N encoder layers (and the final norm) [default: all, embeddings too].
    #[arg(long, value_name = "N")]
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
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub(crate) ensemble: usize,
    /// Most epochs [default: 300 frozen, 20 full].
    #[arg(long, value_name = "N")]
    pub(crate) epochs: Option<usize>,
    /// Stop after N epochs without a lower validation loss [default: 30 frozen, 4 full].
    #[arg(long, value_name = "N")]
    pub(crate) patience: Option<usize>,
    /// Learning rate of the head (AdamW) [default: 1e-3].
    #[arg(long, value_name = "LR")]
    pub(crate) lr: Option<f64>,
    /// Learning rate of the encoder with --mode full.
    #[arg(long, default_value_t = 1e-4, value_name = "LR")]
    pub(crate) encoder_lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01, value_name = "W")]
    pub(crate) weight_decay: f64,
    /// Rows per mini-batch [default: 64 frozen, 16 full].
    #[arg(long, value_name = "N")]
    pub(crate) batch_size: Option<usize>,
    /// Hidden width of the MLP.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub(crate) hidden: i64,
    /// Dropout of the MLP.
    #[arg(long, default_value_t = 0.1, value_name = "P")]
    pub(crate) dropout: f64,
    /// Longest input in tokens without specials [default: the model's window, 1022 for ESM-2].
    #[arg(long, value_name = "N")]
    pub(crate) max_length: Option<usize>,
    /// Longer sequences: truncate, or windows as `embed --long window` (ESM-style encoders).
    #[arg(long, value_enum, default_value = "truncate")]
    pub(crate) long: LongPolicy,
    /// Token budget of an embedding batch [default: 4096 on CPU, 16384 on CUDA].
    #[arg(long, value_name = "N")]
    pub(crate) batch_tokens: Option<usize>,
    /// Also fit a ridge-regression baseline on Morgan fingerprints (molecules) or k-mer frequencies (sequences).
    #[arg(long)]
    pub(crate) baseline: bool,
    /// Keep the frozen backbone's embeddings in this folder, named by a hash of the weights and the rows' tokens, and
    /// reuse them in later runs on the same data.
    #[arg(long, value_name = "DIR")]
    pub(crate) embedding_cache: Option<PathBuf>,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
}

#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// A head folder written by `biotorch finetune` (head.json, head.safetensors).
    #[arg(long, value_name = "HEAD_DIR")]
    pub(crate) model: PathBuf,
    /// Input: CSV/TSV/Parquet with the head's sequence column, or FASTA (proteins, DNA).
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// Output table (Parquet): index, input columns, valid, reason, <target>_pred, <target>_std,
    /// <target>_prob_<class>; or a dataset directory (a name ending in `/`, or an existing directory) that gets
    /// part-IIIII-of-NNNNN.parquet (I/N from --shard).
    #[arg(short, long, value_name = "FILE|DIR/")]
    pub(crate) output: PathBuf,
    /// Skip the work when the output file already exists, is a complete Parquet file and was written with the same
    /// input, shard, head (weights and spec) and options (for re-running failed shards of a dataset).
    #[arg(long)]
    pub(crate) resume: bool,
    /// Process only shard I of N (0 <= I < N): row i when i mod N = I, or by a hash of the id (--shard-by id).
    /// The N shards cover the input exactly once; `biotorch merge` puts them back together in input order.
    #[arg(long, value_name = "I/N", value_parser = crate::input::parse_shard_spec)]
    pub(crate) shard: Option<(u64, u64)>,
    /// How --shard assigns rows: index (round-robin by row number) or id (FNV-1a hash of the FASTA id, of the
    /// table's id column (id, name, mol_id or chembl_id) or, without one, of the sequence).
    #[arg(long, value_enum, default_value = "index", requires = "shard")]
    pub(crate) shard_by: ShardByArg,
    /// The column with the sequences or SMILES [default: the one the head was trained on].
    #[arg(long, value_name = "COL")]
    pub(crate) sequence_column: Option<String>,
    /// Token budget of an embedding batch [default: 4096 on CPU, 16384 on CUDA].
    #[arg(long, value_name = "N")]
    pub(crate) batch_tokens: Option<usize>,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
}
