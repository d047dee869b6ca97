//! The error type of biotorch-models.

use std::path::PathBuf;

/// Everything that can go wrong while finding, loading, running or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `config.json` is not valid JSON, misses a required field, or describes a model that
    /// cannot exist.
    #[error("{}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    /// The configuration asks for something biotorch does not implement.
    #[error("{0}")]
    Unsupported(String),

    /// A model folder without `model.safetensors` (or a sharded index).
    #[error(
        "{}: no model.safetensors (or model.safetensors.index.json) in this folder; \
         a model folder needs config.json and model.safetensors",
        dir.display()
    )]
    NoWeights { dir: PathBuf },

    /// A model folder that only has pickle weights (`pytorch_model.bin`).
    #[error(
        "{}: only {file} is present; biotorch loads only model.safetensors (pickle files can run \
         code when loaded). Convert it once with Python: `python -c \"from transformers import \
         AutoModelForMaskedLM as M; M.from_pretrained('{dir}').save_pretrained('{dir}', \
         safe_serialization=True)\"` (use AutoModel for a checkpoint without an LM head)",
        path.display(),
        dir = dir.display()
    )]
    PickleOnly { path: PathBuf, dir: PathBuf, file: String },

    /// A safetensors file whose header or length is wrong (truncated download, other format).
    #[error(
        "{}: not a valid safetensors file ({reason}); it is truncated or corrupt, download it again",
        path.display()
    )]
    CorruptCheckpoint { path: PathBuf, reason: String },

    /// A tensor the configuration needs is not in the checkpoint.
    #[error(
        "{}: tensor `{key}` is missing (looked for {}); the checkpoint does not match its config.json",
        path.display(),
        tried.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    )]
    MissingTensor { path: PathBuf, key: String, tried: Vec<String> },

    /// A tensor whose shape differs from what `config.json` implies.
    #[error(
        "{}: tensor `{key}` has shape {found:?}, but config.json implies {expected:?}",
        path.display()
    )]
    ShapeMismatch { path: PathBuf, key: String, expected: Vec<i64>, found: Vec<i64> },

    /// A tensor stored in a dtype libtorch cannot hold.
    #[error("{}: tensor `{key}` has unsupported dtype {dtype}", path.display())]
    UnsupportedDtype { path: PathBuf, key: String, dtype: String },

    /// Logits were requested from a checkpoint saved without its LM head.
    #[error(
        "this checkpoint has no LM head (no `lm_head.*` tensors, e.g. saved as EsmModel): \
         logits are unavailable, embeddings and contacts still work"
    )]
    NoLmHead,

    /// Contacts were requested from a checkpoint saved without its contact head.
    #[error("this checkpoint has no contact head (no `contact_head.regression.*` tensors): contacts are unavailable")]
    NoContactHead,

    /// A hidden-state index outside `-(layers+1)..=layers`.
    #[error("layer {layer} does not exist: this model has hidden states 0..={num_layers} (or -{count}..=-1 from the end)", count = num_layers + 1)]
    LayerOutOfRange { layer: i64, num_layers: usize },

    /// Input tensors of the wrong shape, dtype or content.
    #[error("invalid input: {0}")]
    Input(String),

    /// A choice of the caller that cannot work (an unknown pooling, a token budget of 0, a device that does not
    /// exist).
    #[error("{0}")]
    Usage(String),

    /// The model folder's tokenizer files cannot be read.
    #[error(transparent)]
    Tokenizer(Box<biotorch_tokenizers::Error>),

    /// A MODEL that is a path (it exists, or looks like one) but not a model folder or file: no such path, a
    /// symbolic link loop, a broken link.
    #[error(
        "model `{spec}` is not a folder ({reason}{}): a model is a folder holding config.json and \
         model.safetensors, a bundled model ({}) or a HuggingFace repo id `org/name`",
        did_you_mean("; ", suggestion, ""),
        names(bundled)
    )]
    NotAFolder {
        /// The MODEL as given.
        spec: String,
        /// Why it is not a folder: `no such path`, `a broken symbolic link`, ...
        reason: String,
        /// The closest name in the path's folder, written like the path.
        suggestion: Option<String>,
        /// Names of the bundled models.
        bundled: Vec<String>,
    },

    /// A model name that is neither a folder, a bundled model nor a HuggingFace repo id.
    #[error(
        "model `{spec}` not found{}: it is not a folder (no such path), not a bundled model (bundled models: {}; \
         looked in {searched}), and not a HuggingFace repo id like `facebook/esm2_t6_8M_UR50D`",
        did_you_mean(" (", suggestion, ")"),
        names(bundled)
    )]
    UnknownModel {
        /// The MODEL as given.
        spec: String,
        /// The closest bundled name or cached repo id.
        suggestion: Option<String>,
        /// Names of the bundled models.
        bundled: Vec<String>,
        /// The bundled folders searched, as [`crate::Resolver::bundled_dirs_shown`] writes them.
        searched: String,
    },

    /// A HuggingFace repo id that is not in the local cache.
    #[error(
        "model `{repo_id}` is not a folder (no such path) and not in the HuggingFace cache ({}){}, and could not be \
         downloaded ({reason}). Fetch it on a machine with network access: \
         `huggingface-cli download {repo_id} --include config.json model.safetensors vocab.txt`, \
         then copy the cache folder `models--{}` into {} (or set HF_HOME), or pass the \
         downloaded folder itself as the model",
        cache.display(),
        did_you_mean(" (", suggestion, ")"),
        repo_id.replace('/', "--"),
        cache.display()
    )]
    NotInCache {
        /// The repo id, without `@revision`.
        repo_id: String,
        /// The HF hub cache searched.
        cache: PathBuf,
        /// Why it was not downloaded: `offline`, `HF_HUB_OFFLINE is set`, the network error.
        reason: String,
        /// The closest repo id in the cache.
        suggestion: Option<String>,
    },

    /// The device ran out of memory on a batch that could not be made smaller (the embedding engine splits a batch
    /// that does not fit in halves until one sequence is left).
    #[error("{}", out_of_memory_message(device, *rows, *tokens, *batch_tokens, detail))]
    OutOfMemory {
        /// The device, as users write it (`cuda:0`).
        device: String,
        /// Sequences in the batch that did not fit.
        rows: usize,
        /// Its tokens: rows × padded width, specials included.
        tokens: usize,
        /// The token budget of a batch that was asked for (`usize::MAX`: none).
        batch_tokens: usize,
        /// libtorch's words (`CUDA out of memory. Tried to allocate ...`).
        detail: String,
    },

    /// An error raised by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// `"{before}did you mean `x`?{after}"`, or nothing without a suggestion.
fn did_you_mean(before: &str, suggestion: &Option<String>, after: &str) -> String {
    suggestion.as_ref().map_or(String::new(), |s| format!("{before}did you mean `{s}`?{after}"))
}

/// The message of [`Error::OutOfMemory`]: what did not fit where, and what to change.
fn out_of_memory_message(device: &str, rows: usize, tokens: usize, batch_tokens: usize, detail: &str) -> String {
    let elsewhere = if device == "cpu" { "free memory on this machine" } else { "use a GPU with more free memory" };
    // Callers without a token budget (one batch of everything, as fine-tuning's) pass usize::MAX.
    let now = if batch_tokens == usize::MAX { String::new() } else { format!(" (now {batch_tokens})") };
    let what = if rows == 1 {
        format!(
            "one sequence of {tokens} tokens (specials included) does not fit even in a batch of its own, so a \
             smaller --batch-tokens{now} does not help: give a smaller --max-length (with embed's --long window the \
             whole sequence is still covered, in windows of that length), or {elsewhere}"
        )
    } else {
        format!(
            "a batch of {rows} sequences, {tokens} tokens (padded, specials included), does not fit: give a smaller \
             --batch-tokens{now} or --batch-size, or {elsewhere}"
        )
    };
    format!("out of memory on {device}: {what} (libtorch: {detail})")
}

/// Names joined with `, `, or `none`.
fn names(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the error is the user's (a model that cannot be found or read, a bad option: exit code 2), false
    /// for runtime failures (libtorch, the file system, a device out of memory).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Tokenizer(e) => e.is_bad_input(),
            other => !matches!(other, Error::Torch(_) | Error::Io { .. } | Error::OutOfMemory { .. }),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
