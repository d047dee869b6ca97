//! A SMILES decoder with its vocabulary: loads a model folder and draws decoded samples by sample number.

use std::path::{Path, PathBuf};

use biotorch_models::sampling::SamplingOptions;
use biotorch_models::SmilesGpt;
use biotorch_tokenizers::Tokenizer;
use tch::{Device, Kind};

use crate::error::{Error, Result};
use crate::scaffold::Scaffold;

/// A loaded SMILES decoder with its vocabulary.
#[derive(Debug)]
pub struct Generator {
    /// The decoder (float32).
    pub model: SmilesGpt,
    /// Its SMILES vocabulary.
    pub tokenizer: Box<dyn Tokenizer>,
    /// The model folder.
    pub path: PathBuf,
    /// The weights file (or the folder holding model.safetensors).
    pub weights: PathBuf,
}

/// One decoded sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// The SMILES the tokens spell.
    pub smiles: String,
    /// Its negative log-likelihood under the model (see [`biotorch_models::Sample::nll`]).
    pub nll: f64,
    /// Whether it ended with `<eos>` within the length limit.
    pub finished: bool,
}

impl Generator {
    /// Loads the decoder from `weights` (a folder or a `.safetensors` file) and the SMILES vocabulary from `dir`,
    /// on `device`. `name` is how errors name the model (e.g. `--model smiles-small`).
    pub fn load(name: &str, weights: &Path, dir: &Path, device: Device) -> Result<Generator> {
        let model = SmilesGpt::load(weights, device, Kind::Float)
            .map_err(|source| Error::NotADecoder { model: name.to_string(), source: Box::new(source) })?;
        let tokenizer =
            biotorch_tokenizers::load(dir).map_err(|source| Error::NoVocabulary { model: name.to_string(), source })?;
        if tokenizer.name() != "smiles" || tokenizer.vocab_size() as i64 != model.vocab_size() {
            return Err(Error::VocabularyMismatch {
                model: name.to_string(),
                tokenizer: tokenizer.name().to_string(),
                tokens: tokenizer.vocab_size(),
                model_tokens: model.vocab_size(),
            });
        }
        Ok(Generator { model, tokenizer, path: dir.to_path_buf(), weights: weights.to_path_buf() })
    }

    /// The device the decoder is on.
    pub fn device(&self) -> Device {
        self.model.device()
    }

    /// Draws samples `first..first + n` of the seeded stream and decodes them. Sample `i` is the same whatever
    /// `first`, `n` and the batch size (see [`biotorch_models::sampling`]).
    pub fn draw(&self, first: u64, n: usize, options: &SamplingOptions) -> Result<Vec<Drawn>> {
        self.draw_through(first, n, options, None)
    }

    /// [`Generator::draw`], every sample decorating `scaffold` when there is one ([`Scaffold::sample`]).
    pub fn draw_through(
        &self,
        first: u64,
        n: usize,
        options: &SamplingOptions,
        scaffold: Option<&Scaffold>,
    ) -> Result<Vec<Drawn>> {
        let samples = match scaffold {
            Some(s) => s.sample(&self.model, first, n, options)?,
            None => self.model.sample_range(first, n, options)?,
        };
        samples
            .into_iter()
            .map(|s| Ok(Drawn { smiles: self.tokenizer.decode(&s.tokens)?, nll: s.nll, finished: s.finished }))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use biotorch_models::SmilesGptConfig;
    use biotorch_tokenizers::SmilesVocabBuilder;

    /// A small random decoder with a vocabulary built from a few molecules, saved in `dir`.
    pub(crate) fn tiny_model(dir: &Path) {
        let mut builder = SmilesVocabBuilder::new();
        for s in ["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1", "C1CCNCC1", "O=C(O)c1ccccc1Cl", "CN[C@@H](C)C#N"] {
            builder.add(s).unwrap();
        }
        let tokenizer = builder.build();
        let config = SmilesGptConfig {
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(4),
            head_dim: Some(8),
            max_position_embeddings: 64,
            // Large weights: a random model then prefers some tokens, as a trained one does.
            initializer_range: 0.5,
            ..SmilesGptConfig::small(tokenizer.vocab_size() as i64)
        };
        tch::manual_seed(11);
        SmilesGpt::new_random(config, Device::Cpu, Kind::Float).unwrap().save(dir).unwrap();
        tokenizer.save(dir).unwrap();
    }

    #[test]
    fn same_seed_same_samples_whatever_the_batch_size() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let g = Generator::load("--model tiny", dir.path(), dir.path(), Device::Cpu).unwrap();
        let options =
            |batch_size| SamplingOptions { max_length: 24, batch_size, seed: 5, ..SamplingOptions::default() };
        let one = g.draw(3, 14, &options(1)).unwrap();
        let seven = g.draw(3, 14, &options(7)).unwrap();
        assert_eq!(one.len(), 14);
        for (a, b) in one.iter().zip(&seven) {
            assert_eq!((&a.smiles, a.finished), (&b.smiles, b.finished));
            assert!((a.nll - b.nll).abs() < 1e-4, "{} vs {}", a.nll, b.nll);
        }
        // A block of the stream is the same samples, drawn alone.
        let tail = g.draw(10, 7, &options(4)).unwrap();
        assert_eq!(
            tail.iter().map(|d| &d.smiles).collect::<Vec<_>>(),
            one[7..].iter().map(|d| &d.smiles).collect::<Vec<_>>()
        );
        let other = g.draw(3, 14, &SamplingOptions { seed: 6, ..options(7) }).unwrap();
        assert_ne!(one, other);
    }

    #[test]
    fn a_model_that_is_not_a_decoder_is_the_users_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Generator::load("--model nowhere", dir.path(), dir.path(), Device::Cpu).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert_eq!(e.to_string(), "--model nowhere: not a SMILES decoder (LlamaForCausalLM layout)");
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    }
}
