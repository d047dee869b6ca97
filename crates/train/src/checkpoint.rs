//! The training checkpoint: `MODEL_DIR/checkpoint/` with the model (HF layout), the
//! tokenizer, `optimizer.safetensors` and `trainer_state.json`.
//!
//! A checkpoint is written whole into `checkpoint.tmp/`, then swapped in by renames
//! (`checkpoint/` → `checkpoint.old/`, `checkpoint.tmp/` → `checkpoint/`, then
//! `checkpoint.old/` removed), so a crash at any moment leaves either the previous complete
//! checkpoint or the new one; [`Checkpoint::open`] falls back to `checkpoint.old/` when the
//! crash came between the two renames. `trainer_state.json` records the SHA-256 and size of
//! every other file, so a file truncated or altered later is reported, not loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biotorch_models::{Esm2, SmilesGpt};
use biotorch_tokenizers::Tokenizer;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::config::TrainConfig;
use crate::data::{sha256_file, DataInfo};
use crate::error::{Error, Result};
use crate::metrics::MetricsRow;

/// The checkpoint folder inside the output folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The trainer's state inside the checkpoint folder.
pub const STATE_FILE: &str = "trainer_state.json";
/// The optimizer's state inside the checkpoint folder.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Provenance of the trained model, in the output folder.
pub const PROVENANCE_FILE: &str = "biotorch.json";
/// Per-step metrics, in the output folder.
pub const METRICS_FILE: &str = "metrics.parquet";

/// The model's files, as `Esm2::save` writes them.
const MODEL_CONFIG_FILE: &str = "config.json";
const MODEL_WEIGHTS_FILE: &str = "model.safetensors";
const TMP_DIR: &str = "checkpoint.tmp";
const OLD_DIR: &str = "checkpoint.old";
const FORMAT: u32 = 1;

/// Size and SHA-256 of a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    pub sha256: String,
}

/// Everything a run needs to continue exactly where it stopped, besides the weights and the
/// optimizer's moments. Random draws are derived from the seed and the position in the
/// data, so no generator state is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Layout version of this file.
    pub format: u32,
    pub biotorch_version: String,
    pub config: TrainConfig,
    /// Where the initial weights came from: `random:<arch>` or `init:<model>`.
    pub model_source: String,
    /// The tokenizer's spec (`esm2`, `dna`, `dna-kmer:K`).
    pub tokenizer: String,
    pub train: DataInfo,
    pub valid: DataInfo,
    /// Optimizer steps done.
    pub step: u64,
    /// The next micro-batch: batch `batch` of epoch `epoch`'s plan.
    pub epoch: u64,
    pub batch: u64,
    /// Tokens consumed (special tokens included, padding excluded).
    pub tokens: u64,
    /// Seconds spent training (evaluation and checkpoints included).
    pub seconds: f64,
    pub best_valid_loss: Option<f64>,
    pub best_step: Option<u64>,
    /// Evaluations since the best validation loss (for `patience`).
    pub evals_since_best: u64,
    pub stopped_early: bool,
    /// The command line of the first run, then of every resume.
    pub commands: Vec<String>,
    /// When the run started (UTC, RFC 3339).
    pub started: String,
    pub metrics: Vec<MetricsRow>,
    /// Size and SHA-256 of the checkpoint's other files.
    pub files: BTreeMap<String, FileDigest>,
}

impl TrainerState {
    pub(crate) fn new(
        config: TrainConfig,
        model_source: String,
        tokenizer: String,
        train: DataInfo,
        valid: DataInfo,
        command: String,
    ) -> Self {
        Self {
            format: FORMAT,
            biotorch_version: env!("CARGO_PKG_VERSION").to_owned(),
            config,
            model_source,
            tokenizer,
            train,
            valid,
            step: 0,
            epoch: 0,
            batch: 0,
            tokens: 0,
            seconds: 0.0,
            best_valid_loss: None,
            best_step: None,
            evals_since_best: 0,
            stopped_early: false,
            commands: vec![command],
            started: utc_now(),
            metrics: Vec::new(),
            files: BTreeMap::new(),
        }
    }
}

/// A checkpoint found in an output folder, its files checked against their recorded digests.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The checkpoint folder (`MODEL_DIR/checkpoint`, or `checkpoint.old` after a crash
    /// between the renames).
    pub dir: PathBuf,
    pub state: TrainerState,
}

impl Checkpoint {
    /// Finds and checks the checkpoint of the output folder `out_dir`.
    pub fn open(out_dir: &Path) -> Result<Self> {
        let dir = Self::locate(out_dir)?;
        let state_path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainerState = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&state_path, format!("not a valid trainer state ({e})")))?;
        if state.format != FORMAT {
            return Err(Error::corrupt(
                &state_path,
                format!("layout version {} is not the {FORMAT} this biotorch reads", state.format),
            ));
        }
        for name in [MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE, OPTIMIZER_FILE] {
            if !state.files.contains_key(name) {
                return Err(Error::corrupt(&state_path, format!("no digest recorded for {name}")));
            }
        }
        for (name, digest) in &state.files {
            let path = dir.join(name);
            let bytes =
                std::fs::metadata(&path).map_err(|e| Error::corrupt(&path, format!("cannot read it ({e})")))?.len();
            if bytes != digest.bytes {
                return Err(Error::corrupt(
                    &path,
                    format!("it has {bytes} bytes but the checkpoint recorded {} (truncated?)", digest.bytes),
                ));
            }
            if sha256_file(&path)? != digest.sha256 {
                return Err(Error::corrupt(
                    &path,
                    "its SHA-256 differs from the one recorded in trainer_state.json (changed after it was written)",
                ));
            }
        }
        Ok(Self { dir, state })
    }

    /// Whether `out_dir` holds a checkpoint (complete or not).
    pub fn exists(out_dir: &Path) -> bool {
        out_dir.join(CHECKPOINT_DIR).exists() || out_dir.join(OLD_DIR).exists()
    }

    fn locate(out_dir: &Path) -> Result<PathBuf> {
        let current = out_dir.join(CHECKPOINT_DIR);
        let old = out_dir.join(OLD_DIR);
        if current.join(STATE_FILE).is_file() {
            Ok(current)
        } else if old.join(STATE_FILE).is_file() {
            Ok(old)
        } else if current.exists() {
            Err(Error::corrupt(&current, format!("{STATE_FILE} is missing")))
        } else {
            Err(Error::NoCheckpoint { dir: out_dir.to_path_buf() })
        }
    }

    /// The checkpoint's ESM-2 model, in fp32 on `device`.
    pub fn load_esm2(&self, device: Device) -> Result<Esm2> {
        Ok(Esm2::load(&self.dir, device, Kind::Float)?)
    }

    /// The checkpoint's SMILES decoder, in fp32 on `device`.
    pub fn load_smiles_gpt(&self, device: Device) -> Result<SmilesGpt> {
        Ok(SmilesGpt::load(&self.dir, device, Kind::Float)?)
    }

    /// The checkpoint's tokenizer.
    pub fn load_tokenizer(&self) -> Result<Box<dyn Tokenizer>> {
        Ok(biotorch_tokenizers::load(&self.dir)?)
    }
}

/// Writes a checkpoint: `write_files` fills a fresh temporary folder, digests are added to
/// `state`, then the folder is swapped in. Returns the checkpoint folder.
pub(crate) fn write_checkpoint(
    out_dir: &Path,
    state: &mut TrainerState,
    write_files: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let tmp = out_dir.join(TMP_DIR);
    let old = out_dir.join(OLD_DIR);
    let current = out_dir.join(CHECKPOINT_DIR);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    write_files(&tmp)?;
    state.files.clear();
    for name in [MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE, OPTIMIZER_FILE] {
        let path = tmp.join(name);
        let bytes = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
        state.files.insert(name.to_owned(), FileDigest { bytes, sha256: sha256_file(&path)? });
    }
    let mut json = serde_json::to_string_pretty(state).expect("the state serializes");
    json.push('\n');
    biotorch_io::write_atomic(tmp.join(STATE_FILE), json.as_bytes())?;
    if current.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        std::fs::rename(&current, &old).map_err(|e| Error::io(&current, e))?;
    }
    std::fs::rename(&tmp, &current).map_err(|e| Error::io(&tmp, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(current)
}

/// The current time in UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_786), (2026, 11, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert!(utc_now().ends_with('Z'));
    }
}
