//! Training data in memory (token ids per record), the held-out validation split, and the
//! per-epoch batch plan: shuffled records, length-sorted within a look-ahead window, packed
//! under a token budget, batches in a shuffled order. Every plan is a pure function of
//! (seed, epoch), so a resumed run recomputes it instead of storing it.

use std::io::Read;
use std::path::{Path, PathBuf};

use biotorch_io::{FastaOptions, FastaReader, Modality, ModalityChoice, Record, SmilesOptions, SmilesReader};
use biotorch_tokenizers::Tokenizer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::rng::{stream, Rng};

/// Where a dataset came from, as recorded in the checkpoint and in `biotorch.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The file, as given.
    pub path: String,
    /// SHA-256 of the file's bytes (as stored, compressed or not).
    pub sha256: String,
    /// Records in this set.
    pub records: u64,
    /// Tokens in this set, special tokens excluded, before cropping.
    pub tokens: u64,
    /// For a validation set held out of the training file: the fraction asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_fraction: Option<f64>,
}

/// Token ids of every record of a file (special tokens not added), and for SMILES files the
/// text of each record too (for augmentation).
#[derive(Debug, Clone)]
pub struct Dataset {
    info: DataInfo,
    sequences: Vec<Vec<u32>>,
    texts: Option<Vec<String>>,
}

impl Dataset {
    /// Reads and tokenizes a FASTA file (plain or gzip). The alphabet checked follows the
    /// tokenizer: protein for `esm2`, DNA for `dna` and `dna-kmer:K`.
    pub fn from_fasta(path: impl AsRef<Path>, tokenizer: &dyn Tokenizer) -> Result<Self> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Err(Error::Setting(
                "training data must be a file, not standard input (it is hashed, and read again by --resume)".into(),
            ));
        }
        let sha256 = sha256_file(path)?;
        let modality = if tokenizer.name().starts_with("dna") {
            ModalityChoice::Fixed(Modality::Dna)
        } else if tokenizer.name() == "esm2" {
            ModalityChoice::Fixed(Modality::Protein)
        } else {
            ModalityChoice::Auto
        };
        let options = FastaOptions { modality, ..FastaOptions::default() };
        let mut reader = FastaReader::from_path(path, options)?;
        let mut record = Record::default();
        let mut sequences = Vec::new();
        while reader.read_record(&mut record)? {
            let ids = tokenizer.encode_no_special(&record.seq_str()).map_err(|e| Error::Data {
                path: path.to_path_buf(),
                reason: format!("line {}: record \"{}\": {e}", record.line, record.id),
            })?;
            if !ids.is_empty() {
                sequences.push(ids);
            }
        }
        if sequences.is_empty() {
            return Err(Error::Data { path: path.to_path_buf(), reason: "no sequences to train on".into() });
        }
        Ok(Self::new(path.display().to_string(), sha256, sequences))
    }

    /// Reads and tokenizes the molecules of a SMILES file (`.smi`, CSV/TSV or Parquet; the
    /// column is found as [`SmilesReader`] does, or named by `smiles_column`). The SMILES are
    /// taken as written (not canonicalized); a SMILES the tokenizer rejects fails with its
    /// line.
    pub fn from_smiles(path: impl AsRef<Path>, tokenizer: &dyn Tokenizer, smiles_column: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Err(Error::Setting(
                "training data must be a file, not standard input (it is hashed, and read again by --resume)".into(),
            ));
        }
        let sha256 = sha256_file(path)?;
        let options = SmilesOptions { smiles_column: smiles_column.map(str::to_owned), ..SmilesOptions::default() };
        let mut sequences = Vec::new();
        let mut texts = Vec::new();
        for record in SmilesReader::open(path, &options)? {
            let record = record?;
            let ids = tokenizer.encode_no_special(&record.smiles).map_err(|e| Error::Data {
                path: path.to_path_buf(),
                reason: format!(
                    "line {}: record {}: {e}",
                    record.line,
                    record.id.as_deref().map_or_else(|| format!("{}", record.index + 1), |id| format!("\"{id}\""))
                ),
            })?;
            if let Some(unk) = tokenizer.unk_id().filter(|u| ids.contains(u)) {
                let token = biotorch_tokenizers::SmilesTokenizer::tokenize(&record.smiles)
                    .ok()
                    .and_then(|tokens| tokens.into_iter().find(|t| tokenizer.token_to_id(t).is_none_or(|id| id == unk)))
                    .unwrap_or("?")
                    .to_string();
                return Err(Error::Data {
                    path: path.to_path_buf(),
                    reason: format!(
                        "line {}: {:?}: the token {token} is not in the model's SMILES vocabulary",
                        record.line, record.smiles
                    ),
                });
            }
            if !ids.is_empty() {
                sequences.push(ids);
                texts.push(record.smiles);
            }
        }
        if sequences.is_empty() {
            return Err(Error::Data { path: path.to_path_buf(), reason: "no molecules to train on".into() });
        }
        let mut data = Self::new(path.display().to_string(), sha256, sequences);
        data.texts = Some(texts);
        Ok(data)
    }

    /// A dataset from token ids already at hand (`name` and `sha256` are recorded as given).
    pub fn from_sequences(name: impl Into<String>, sha256: impl Into<String>, sequences: Vec<Vec<u32>>) -> Self {
        Self::new(name.into(), sha256.into(), sequences)
    }

    fn new(path: String, sha256: String, sequences: Vec<Vec<u32>>) -> Self {
        let tokens = sequences.iter().map(|s| s.len() as u64).sum();
        Self {
            info: DataInfo { path, sha256, records: sequences.len() as u64, tokens, holdout_fraction: None },
            sequences,
            texts: None,
        }
    }

    /// Splits off a validation set: each record goes to it with probability `fraction`,
    /// decided by the seed and the record's position (so the same seed always holds out the
    /// same records). At least one record lands on each side.
    pub fn hold_out(self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let n = self.sequences.len();
        if n < 2 {
            return Err(Error::Data {
                path: PathBuf::from(&self.info.path),
                reason: format!(
                    "{n} record: too few to hold some out for validation; give a validation file with --valid"
                ),
            });
        }
        let draws: Vec<f64> = (0..n).map(|i| Rng::at(seed, &[stream::SPLIT, i as u64]).next_f64()).collect();
        let mut held: Vec<bool> = draws.iter().map(|&d| d < fraction).collect();
        let count = held.iter().filter(|&&h| h).count();
        let by_draw = |pick_min: bool| {
            (0..n)
                .min_by(|&a, &b| {
                    let (x, y) = if pick_min { (draws[a], draws[b]) } else { (draws[b], draws[a]) };
                    x.total_cmp(&y)
                })
                .expect("n >= 2")
        };
        if count == 0 {
            held[by_draw(true)] = true;
        } else if count == n {
            held[by_draw(false)] = false;
        }
        let mut train = Vec::with_capacity(n);
        let mut valid = Vec::new();
        let (mut train_texts, mut valid_texts) = (Vec::new(), Vec::new());
        let mut texts = self.texts.map(Vec::into_iter);
        for (seq, h) in self.sequences.into_iter().zip(held) {
            let text = texts.as_mut().and_then(Iterator::next);
            if h {
                valid.push(seq);
                valid_texts.extend(text);
            } else {
                train.push(seq);
                train_texts.extend(text);
            }
        }
        let has_texts = texts.is_some();
        let mut train = Self::new(self.info.path.clone(), self.info.sha256.clone(), train);
        train.info.holdout_fraction = None;
        let mut valid = Self::new(self.info.path, self.info.sha256, valid);
        valid.info.holdout_fraction = Some(fraction);
        if has_texts {
            train.texts = Some(train_texts);
            valid.texts = Some(valid_texts);
        }
        Ok((train, valid))
    }

    /// Drops the records longer than `max_tokens` (special tokens excluded) and returns how
    /// many were dropped. Causal LMs use this instead of cropping: a cropped SMILES is not a
    /// molecule, and the model would learn to end strings anywhere.
    pub fn drop_longer_than(&mut self, max_tokens: usize) -> usize {
        let before = self.sequences.len();
        if let Some(texts) = &mut self.texts {
            let mut keep = self.sequences.iter().map(|s| s.len() <= max_tokens);
            texts.retain(|_| keep.next().unwrap_or(false));
        }
        self.sequences.retain(|s| s.len() <= max_tokens);
        let dropped = before - self.sequences.len();
        if dropped > 0 {
            self.info.records = self.sequences.len() as u64;
            self.info.tokens = self.sequences.iter().map(|s| s.len() as u64).sum();
        }
        dropped
    }

    pub fn info(&self) -> &DataInfo {
        &self.info
    }

    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// The text of record `i` (SMILES datasets; `None` for FASTA and token-id datasets).
    pub fn text(&self, i: usize) -> Option<&str> {
        self.texts.as_ref().map(|t| t[i].as_str())
    }

    /// The token ids of record `i`, special tokens not added.
    pub fn sequence(&self, i: usize) -> &[u32] {
        &self.sequences[i]
    }
}

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Packs records, already in the order wanted, into batches under a token budget. Each
/// batch's cost is its size times its longest record (`lengths` include special tokens); a
/// record longer than the budget gets a batch of its own.
pub(crate) fn pack(order: &[u32], lengths: &[usize], budget: usize) -> Vec<Vec<u32>> {
    let mut batches = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut width = 0usize;
    for &r in order {
        let len = lengths[r as usize];
        let new_width = width.max(len);
        if !current.is_empty() && new_width * (current.len() + 1) > budget {
            batches.push(std::mem::take(&mut current));
            width = 0;
        }
        width = width.max(len);
        current.push(r);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The batches of one epoch, as record indices: records shuffled by (seed, epoch), sorted by
/// length (longest first) within windows of `lookahead` records, packed under the budget;
/// then the batches shuffled by (seed, epoch).
pub(crate) fn plan_epoch(lengths: &[usize], budget: usize, lookahead: usize, seed: u64, epoch: u64) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..lengths.len() as u32).collect();
    Rng::at(seed, &[stream::EPOCH_ORDER, epoch]).shuffle(&mut order);
    let mut batches = Vec::new();
    for window in order.chunks_mut(lookahead) {
        window.sort_by(|&a, &b| lengths[b as usize].cmp(&lengths[a as usize]).then(a.cmp(&b)));
        batches.extend(pack(window, lengths, budget));
    }
    Rng::at(seed, &[stream::BATCH_ORDER, epoch]).shuffle(&mut batches);
    batches
}

/// Validation batches: every record once, sorted by length, packed under the budget.
pub(crate) fn plan_eval(lengths: &[usize], budget: usize) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..lengths.len() as u32).collect();
    order.sort_by(|&a, &b| lengths[b as usize].cmp(&lengths[a as usize]).then(a.cmp(&b)));
    pack(&order, lengths, budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_respects_the_budget() {
        let lengths = vec![10, 9, 9, 5, 30, 2];
        let batches = pack(&[4, 0, 1, 2, 3, 5], &lengths, 30);
        assert_eq!(batches, vec![vec![4], vec![0, 1, 2], vec![3, 5]]);
        for b in &batches {
            let width = b.iter().map(|&r| lengths[r as usize]).max().unwrap();
            assert!(b.len() == 1 || width * b.len() <= 30);
        }
    }

    #[test]
    fn epoch_plans_cover_every_record_once_and_depend_on_seed_and_epoch() {
        let lengths: Vec<usize> = (0..200).map(|i| 5 + (i * 37) % 60).collect();
        let plan = plan_epoch(&lengths, 256, 50, 3, 0);
        let mut seen: Vec<u32> = plan.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        assert_eq!(plan, plan_epoch(&lengths, 256, 50, 3, 0));
        assert_ne!(plan, plan_epoch(&lengths, 256, 50, 3, 1));
        assert_ne!(plan, plan_epoch(&lengths, 256, 50, 4, 0));
        // Inside a batch, lengths are close: sorted within the window.
        for b in &plan {
            let w: Vec<usize> = b.iter().map(|&r| lengths[r as usize]).collect();
            assert!(w.windows(2).all(|p| p[0] >= p[1]), "{w:?}");
        }
    }

    #[test]
    fn hold_out_is_deterministic_and_never_empty() {
        let seqs: Vec<Vec<u32>> = (0..100).map(|i| vec![4 + (i % 20) as u32; 3 + i as usize % 7]).collect();
        let data = Dataset::from_sequences("x", "h", seqs.clone());
        let (t1, v1) = data.clone().hold_out(0.1, 5).unwrap();
        let (t2, v2) = data.clone().hold_out(0.1, 5).unwrap();
        assert_eq!(t1.sequences, t2.sequences);
        assert_eq!(v1.sequences, v2.sequences);
        assert_eq!(t1.len() + v1.len(), 100);
        assert!((3..=20).contains(&v1.len()), "{}", v1.len());
        let (_, v3) = data.clone().hold_out(0.1, 6).unwrap();
        assert_ne!(v1.sequences, v3.sequences);
        let (t, v) = Dataset::from_sequences("y", "h", seqs[..2].to_vec()).hold_out(0.0, 1).unwrap();
        assert_eq!((t.len(), v.len()), (1, 1));
        assert_eq!(v.info().holdout_fraction, Some(0.0));
    }
}
