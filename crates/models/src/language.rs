//! A language-model folder of either kind, told apart by `model_type` in its `config.json`: an ESM-2-style masked
//! LM (`esm`) or a Llama-layout causal LM (`llama`), with its tokenizer. What front ends that take "any model"
//! (`biotorch score INPUT`) load.

use std::path::{Path, PathBuf};

use biotorch_tokenizers::Tokenizer;
use tch::{Device, Kind};

use crate::error::{Error, Result};
use crate::esm2::Esm2;
use crate::smiles_gpt::SmilesGpt;
use crate::tokenizer::encoder_tokenizer;

/// The model of a [`LanguageModel`].
pub enum Lm {
    /// An ESM-2-style encoder: masked language model.
    Masked(Esm2),
    /// A Llama-layout decoder: causal language model.
    Causal(SmilesGpt),
}

/// A loaded language model and its tokenizer.
pub struct LanguageModel {
    pub model: Lm,
    pub tokenizer: Box<dyn Tokenizer>,
    /// The model folder.
    pub dir: PathBuf,
}

/// The folder of a model path (a folder, or a weights file inside one).
pub fn model_dir(path: &Path) -> PathBuf {
    if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    }
}

/// `model_type` of a model folder's `config.json` (`esm` when the field is absent, as in early ESM exports).
pub fn model_type(dir: &Path) -> Result<String> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Config { path: path.clone(), reason: e.to_string() })?;
    Ok(value.get("model_type").and_then(|v| v.as_str()).unwrap_or("esm").to_string())
}

impl LanguageModel {
    /// Loads the model at `path` (a folder, or its weights file) on `device` in fp32, with its tokenizer: a masked
    /// LM takes the standard ESM-2 vocabulary when it has none of its own (see [`encoder_tokenizer`]); a causal LM
    /// must have its tokenizer files.
    pub fn load(path: &Path, device: Device) -> Result<LanguageModel> {
        let dir = model_dir(path);
        match model_type(&dir)?.as_str() {
            "esm" => {
                let model = Esm2::load(path, device, Kind::Float)?;
                let tokenizer = encoder_tokenizer(path, model.config())?.tokenizer;
                Ok(LanguageModel { model: Lm::Masked(model), tokenizer, dir })
            }
            "llama" => {
                let model = SmilesGpt::load(path, device, Kind::Float)?;
                let tokenizer = biotorch_tokenizers::load(&dir).map_err(|e| Error::Tokenizer(Box::new(e)))?;
                if tokenizer.vocab_size() as i64 > model.vocab_size() {
                    return Err(Error::Config {
                        path: dir.join("config.json"),
                        reason: format!(
                            "the tokenizer has {} tokens but the model only {}",
                            tokenizer.vocab_size(),
                            model.vocab_size()
                        ),
                    });
                }
                Ok(LanguageModel { model: Lm::Causal(model), tokenizer, dir })
            }
            other => Err(Error::Unsupported(format!(
                "{}: model_type `{other}`: biotorch runs ESM-2-style masked LMs (esm) and Llama-layout causal LMs \
                 (llama)",
                dir.display()
            ))),
        }
    }

    /// `masked` or `causal`.
    pub fn kind(&self) -> &'static str {
        match self.model {
            Lm::Masked(_) => "masked",
            Lm::Causal(_) => "causal",
        }
    }
}
