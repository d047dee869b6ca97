//! The tokenizer of an ESM-2-style model folder, with the one fallback every front end shares.

use std::path::{Path, PathBuf};

use biotorch_tokenizers::{Esm2Tokenizer, Tokenizer};

use crate::error::{Error, Result};
use crate::esm2::Esm2Config;

/// A model folder's tokenizer, and whether it is the standard ESM-2 vocabulary standing in for a missing `vocab.txt`
/// (front ends say so).
pub struct EncoderTokenizer {
    pub tokenizer: Box<dyn Tokenizer>,
    /// True when the folder has no `vocab.txt` and the standard 33-token ESM-2 vocabulary is used.
    pub standard: bool,
}

/// The tokenizer of the model at `path` (a folder, or its weights file) whose configuration is `config`: its own
/// (`vocab.txt` or tokenizer files), or, for a model of the standard 33-token vocabulary without one, the standard
/// ESM-2 vocabulary. A model of another vocabulary without its tokenizer is refused (the user's to fix): the
/// standard ids would run through it silently and give meaningless outputs.
pub fn encoder_tokenizer(path: &Path, config: &Esm2Config) -> Result<EncoderTokenizer> {
    let dir: PathBuf =
        if path.is_file() { path.parent().map(Path::to_path_buf).unwrap_or_default() } else { path.to_path_buf() };
    match biotorch_tokenizers::load(&dir) {
        Ok(tokenizer) => Ok(EncoderTokenizer { tokenizer, standard: false }),
        Err(_) if !dir.join("vocab.txt").exists() => {
            let standard = Esm2Tokenizer::new();
            if config.vocab_size != standard.vocab_size() as i64 {
                return Err(Error::Config {
                    path: dir.clone(),
                    reason: format!(
                        "no vocab.txt, and the model's vocabulary ({} tokens) is not the standard ESM-2 one ({}): put the \
                         model's vocab.txt (or tokenizer files) in its folder",
                        config.vocab_size,
                        standard.vocab_size()
                    ),
                });
            }
            Ok(EncoderTokenizer { tokenizer: Box::new(standard), standard: true })
        }
        Err(e) => Err(Error::Tokenizer(Box::new(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_vocabulary_stands_in_only_for_a_standard_model() {
        let dir = tempfile::tempdir().unwrap();
        let standard = encoder_tokenizer(dir.path(), &Esm2Config::esm2_t6_8m()).unwrap();
        assert!(standard.standard && standard.tokenizer.vocab_size() == 33);
        let dna = Esm2Config { vocab_size: 4118, ..Esm2Config::esm2_t6_8m() };
        let e = encoder_tokenizer(dir.path(), &dna).err().unwrap();
        assert!(e.is_bad_input() && e.to_string().contains("not the standard ESM-2 one"), "{e}");
    }
}
