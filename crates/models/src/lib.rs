//! Transformer models on libtorch (through tch), with HuggingFace weight names.
//!
//! - [`esm2`]: ESM-2 (and ESM-1b-style) encoders with LM and contact heads, numerically
//!   matching HF transformers' `EsmForMaskedLM`; loads and saves HF checkpoints
//!   (`config.json` + `model.safetensors`).
//! - [`smiles_gpt`]: a Llama-architecture causal decoder for SMILES, numerically matching HF
//!   transformers' `LlamaForCausalLM`, with a KV cache for incremental decoding; loads and saves
//!   HF checkpoints.
//! - [`embed`]: the embedding engine: pooled or per-token vectors of token lists for any [`embed::Encoder`]
//!   (batches under a token budget, windows over long inputs, replicas on several devices).
//! - [`sampling`]: temperature, top-k and top-p sampling with a seeded, batch-invariant stream.
//! - [`resolve`]: turns a MODEL argument (folder, bundled name, HF repo id in the local HF
//!   cache) into a folder.
//!
//! Only safetensors weights are read: pickle checkpoints can run code when loaded.

mod checkpoint;
pub mod device;
pub mod embed;
pub mod error;
pub mod esm2;
pub mod language;
pub mod lora;
pub mod memory;
mod quant;
pub mod resolve;
pub mod sampling;
pub mod smiles_gpt;
pub mod tokenizer;

/// Runs `f` (which draws from libtorch's global generator, e.g. a `new_random` model) right after
/// `tch::manual_seed(seed)`, with no other test of this crate seeding or drawing in between: tests run on several
/// threads and share that generator, so a seed and its draws must not interleave with another test's.
#[cfg(test)]
pub(crate) fn seeded<T>(seed: i64, f: impl FnOnce() -> T) -> T {
    static GLOBAL_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = GLOBAL_GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed);
    f()
}

pub use device::Precision;
pub use embed::{Column, EmbedPlan, Embedder, Embedding, Encoder, LongPolicy, MeanSpan, Pooling, Specials};
pub use error::{Error, Result};
pub use esm2::{mean_pool_residues, Esm2, Esm2Config, Esm2Output, Esm2Request, Layers, PositionEmbeddingType};
pub use language::{model_dir, model_type, LanguageModel, Lm};
pub use lora::LoraConfig;
pub use resolve::{resolve, ModelSource, ResolvedModel, Resolver};
pub use sampling::{Sample, SamplingOptions};
pub use smiles_gpt::{KvCache, SmilesGpt, SmilesGptConfig};
pub use tokenizer::{encoder_tokenizer, EncoderTokenizer};
