//! SHA-256 digests of files: the provenance biotorch records in its outputs (a model's weights, a head's files, an
//! input) and compares for `--resume` and `biotorch merge`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The SHA-256 of the files, read in this order as one stream, as lowercase hex.
pub fn files_sha256(files: &[PathBuf]) -> Result<String> {
    let mut hasher = Sha256::new();
    for file in files {
        let name = file.display().to_string();
        let mut f = std::fs::File::open(file).map_err(|e| Error::io(&name, &e))?;
        std::io::copy(&mut f, &mut hasher).map_err(|e| Error::io(&name, &e))?;
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The SHA-256 of one file, as lowercase hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    files_sha256(&[path.to_path_buf()])
}

/// The SHA-256 of a model's weights: `model_path` itself when it is a file, else the folder's `model.safetensors`.
pub fn weights_sha256(model_path: &Path) -> Result<String> {
    let file = if model_path.is_file() { model_path.to_path_buf() } else { model_path.join("model.safetensors") };
    file_sha256(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_the_standard_test_vectors_and_concatenate() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"ab").unwrap();
        std::fs::write(&b, b"c").unwrap();
        // SHA-256("abc") from FIPS 180-2.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(files_sha256(&[a.clone(), b]).unwrap(), abc);
        assert_eq!(file_sha256(&a).unwrap().len(), 64);
        std::fs::write(dir.path().join("model.safetensors"), b"abc").unwrap();
        assert_eq!(weights_sha256(dir.path()).unwrap(), abc);
        assert!(files_sha256(&[dir.path().join("missing")]).is_err());
    }
}
