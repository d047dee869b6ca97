//! Zero-shot variant-effect scoring with an ESM-2-style masked language model (`biotorch score`).
//!
//! - [`mutation`]: mutation strings (`A24G`, `T02A`, `A24G:L30P`) and mutated sequences turned into
//!   [`Variant`]s against a wild type, with precise errors; saturation mutagenesis.
//! - [`engine`]: the [`Scorer`]: masked-marginal, wild-type-marginal and pseudo-log-likelihood scores, each
//!   distinct model pass computed once and passes batched under a token budget, windows centred on the scored
//!   position for proteins longer than the model's context (ProteinGym's rule).
//! - [`likelihood`]: sequence log-likelihoods: causal LMs (sum, mean, perplexity, per token), masked LMs'
//!   pseudo-log-likelihoods, SMILES as given and canonical.
//! - [`metrics`]: ProteinGym's per-assay metrics (Spearman, AUC, MCC, NDCG and recall over the top 10%).
//! - [`request`]: a whole run on an input table (or `--saturation`): rows parsed, scored, in input order.
//! - [`table`]: the output rows as a table, input columns passed through.
//!
//! Typed requests in, rows out; nothing here prints or reads files.

pub mod engine;
pub mod error;
pub mod likelihood;
pub mod metrics;
pub mod mutation;
pub mod request;
pub mod table;

pub use engine::{max_tokens, window, Method, ScoreOptions, Scorer, VariantScore};
pub use error::{Error, Result};
pub use likelihood::{CausalScorer, Likelihood, LikelihoodOptions, LikelihoodRow, Texts};
pub use metrics::{proteingym, Metrics};
pub use mutation::{saturation, MutationError, Substitution, Variant, WildType, AMINO_ACIDS};
pub use request::{parse_rows, score_rows, score_saturation, Holds, Table};
