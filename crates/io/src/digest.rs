//! SHA-256 digests of files: the provenance biotorch records in its outputs (a model's weights, a head's files, an
//! input) and compares for `--resume` and `biotorch merge`, and [`input_fingerprint`], what identifies an input's
//! content.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

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

/// Inputs up to this size (64 MiB) are identified by the SHA-256 of their whole content; larger ones by a sample.
pub const FULL_HASH_LIMIT: u64 = 64 << 20;
/// The sample of a larger input: this many blocks...
const SAMPLE_BLOCKS: u64 = 32;
/// ...of this many bytes, evenly spaced from the first byte to the last (2 MiB in all).
const SAMPLE_BLOCK: u64 = 64 << 10;

/// What identifies the content of an input file, recorded in outputs as
/// [`keys::INPUT_FINGERPRINT`](crate::dataset::keys::INPUT_FINGERPRINT) and compared by `--resume` and merging:
///
/// - `size=N sha256=HEX` for a file of at most [`FULL_HASH_LIMIT`] bytes: the SHA-256 of its content (so a copy or a
///   `touch` keeps it);
/// - `size=N mtime=SECONDS.NANOS sample_sha256=HEX` for a larger one: its size, its modification time and the SHA-256
///   of 32 blocks of 64 KiB spread evenly over it (2 MiB read, whatever the size).
///
/// `None` for standard input (`-`), a pipe, a directory or anything else that is not a regular file: nothing
/// identifies what it holds without consuming it. A gzip file is identified by its compressed bytes. Results are
/// kept for the process (by path, size and modification time), so asking twice hashes once.
pub fn input_fingerprint(path: &Path) -> Result<Option<String>> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(&name, &e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let (size, mtime) = (meta.len(), meta.modified().ok());
    /// Fingerprints already computed, by canonical path, size and modification time.
    type Seen = BTreeMap<(PathBuf, u64, Option<SystemTime>), String>;
    static SEEN: Mutex<Seen> = Mutex::new(BTreeMap::new());
    let key = (std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()), size, mtime);
    if let Some(known) = SEEN.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(Some(known.clone()));
    }
    let fingerprint = if size <= FULL_HASH_LIMIT {
        format!("size={size} sha256={}", file_sha256(path)?)
    } else {
        let since = mtime.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).unwrap_or_default();
        let mtime = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
        format!(
            "size={size} mtime={mtime} sample_sha256={}",
            sample_sha256(path, size).map_err(|e| Error::io(&name, &e))?
        )
    };
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).insert(key, fingerprint.clone());
    Ok(Some(fingerprint))
}

/// The SHA-256 of [`SAMPLE_BLOCKS`] blocks of [`SAMPLE_BLOCK`] bytes at evenly spaced offsets of a file of `size`
/// bytes (more than one block), the first at 0 and the last ending at the end.
fn sample_sha256(path: &Path, size: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; SAMPLE_BLOCK as usize];
    let last = size.saturating_sub(SAMPLE_BLOCK);
    for k in 0..SAMPLE_BLOCKS {
        let offset = (u128::from(last) * u128::from(k) / u128::from(SAMPLE_BLOCKS - 1)) as u64;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut block)?;
        hasher.update(&block);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_by_content_large_by_sample_and_time_streams_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.fa");
        std::fs::write(&a, b"abc").unwrap();
        assert_eq!(
            input_fingerprint(&a).unwrap().unwrap(),
            "size=3 sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Same content elsewhere: the same fingerprint; other content of the same size: another.
        let b = dir.path().join("b.fa");
        std::fs::write(&b, b"abc").unwrap();
        assert_eq!(input_fingerprint(&b).unwrap(), input_fingerprint(&a).unwrap());
        std::fs::write(&b, b"abd").unwrap();
        assert_ne!(input_fingerprint(&b).unwrap(), input_fingerprint(&a).unwrap());

        for nothing in [Path::new("-"), dir.path()] {
            assert_eq!(input_fingerprint(nothing).unwrap(), None, "{}", nothing.display());
        }
        let e = input_fingerprint(&dir.path().join("missing")).unwrap_err();
        assert!(e.is_bad_input(), "{e}");

        // A large file: size, time and a sample; a change in a sampled block changes it.
        let big = dir.path().join("big.fa");
        let size = FULL_HASH_LIMIT + 12_345;
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(size).unwrap();
        let first = input_fingerprint(&big).unwrap().unwrap();
        assert!(first.starts_with(&format!("size={size} mtime=")) && first.contains(" sample_sha256="), "{first}");
        let mtime = std::fs::metadata(&big).unwrap().modified().unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
        f.seek(SeekFrom::Start(size - 1)).unwrap();
        std::io::Write::write_all(&mut f, b"x").unwrap();
        drop(f);
        // Keep the time, to see the sample change the fingerprint by itself (under another name: the process keeps
        // what it computed by path, size and time).
        std::fs::File::options().write(true).open(&big).unwrap().set_modified(mtime).unwrap();
        let moved = dir.path().join("moved.fa");
        std::fs::rename(&big, &moved).unwrap();
        let second = input_fingerprint(&moved).unwrap().unwrap();
        assert_ne!(first, second);
        assert_eq!(first.split(" sample").next(), second.split(" sample").next());
    }

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
