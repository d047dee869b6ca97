//! Reading and writing safetensors checkpoints, one tensor at a time.
//!
//! Only the header is parsed up front; each tensor is then read on its own, so loading never
//! holds a second copy of the whole file in memory. A sharded checkpoint
//! (`model.safetensors.index.json` naming several files) reads as one.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, View};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// File names of a HuggingFace model folder.
pub(crate) const CONFIG_FILE: &str = "config.json";
pub(crate) const WEIGHTS_FILE: &str = "model.safetensors";
pub(crate) const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
const PICKLE_FILES: [&str; 3] = ["pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt"];

/// The config and weight files of a model folder.
#[derive(Debug, Clone)]
pub(crate) struct ModelFiles {
    pub(crate) config: PathBuf,
    pub(crate) weights: Vec<PathBuf>,
}

impl ModelFiles {
    /// Finds `config.json` and the safetensors weights of a model folder, or of the folder of
    /// a given `.safetensors` file.
    pub(crate) fn locate(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_file() {
            let dir = path.parent().unwrap_or(Path::new("."));
            return Ok(Self { config: dir.join(CONFIG_FILE), weights: vec![path.to_path_buf()] });
        }
        let dir = path;
        let config = dir.join(CONFIG_FILE);
        let single = dir.join(WEIGHTS_FILE);
        let index = dir.join(WEIGHTS_INDEX_FILE);
        let weights = if single.exists() {
            vec![single]
        } else if index.exists() {
            shards_of_index(&index)?
        } else if let Some(file) = PICKLE_FILES.iter().find(|f| dir.join(f).exists()) {
            return Err(Error::PickleOnly { path: dir.join(file), dir: dir.to_path_buf(), file: (*file).to_owned() });
        } else {
            return Err(Error::NoWeights { dir: dir.to_path_buf() });
        };
        if !config.exists() {
            return Err(Error::Config {
                path: config,
                reason: "no config.json next to the weights: a model folder needs both (HF layout)".into(),
            });
        }
        Ok(Self { config, weights })
    }
}

fn shards_of_index(index: &Path) -> Result<Vec<PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let parsed: Index = serde_json::from_str(&text)
        .map_err(|e| Error::CorruptCheckpoint { path: index.to_path_buf(), reason: format!("bad index: {e}") })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = parsed.weight_map.values().map(|f| dir.join(f)).collect();
    files.sort();
    files.dedup();
    Ok(files)
}

struct Shard {
    path: PathBuf,
    file: File,
    data_start: u64,
    metadata: Metadata,
}

/// Open safetensors files, with the location of every tensor.
pub(crate) struct Checkpoint {
    shards: Vec<Shard>,
    index: HashMap<String, usize>,
}

impl Checkpoint {
    /// Opens the files and checks their headers against their lengths.
    pub(crate) fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut shards = Vec::with_capacity(paths.len());
        let mut index = HashMap::new();
        for path in paths {
            let shard = Shard::open(path)?;
            for name in shard.metadata.offset_keys() {
                index.insert(name, shards.len());
            }
            shards.push(shard);
        }
        Ok(Self { shards, index })
    }

    /// The file holding `key` (or the first file, for messages about missing keys).
    pub(crate) fn path_of(&self, key: &str) -> &Path {
        let shard = self.index.get(key).copied().unwrap_or(0);
        &self.shards[shard].path
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    fn info(&self, key: &str) -> Option<&TensorInfo> {
        let shard = &self.shards[*self.index.get(key)?];
        shard.metadata.info(key)
    }

    /// The stored shape of `key`.
    pub(crate) fn shape(&self, key: &str) -> Option<Vec<i64>> {
        self.info(key).map(|info| info.shape.iter().map(|&d| d as i64).collect())
    }

    /// Reads `key` into a CPU tensor of its stored dtype.
    pub(crate) fn read(&mut self, key: &str) -> Result<Tensor> {
        let shard_index = *self.index.get(key).ok_or_else(|| Error::MissingTensor {
            path: self.path_of(key).to_path_buf(),
            key: key.to_owned(),
            tried: vec![key.to_owned()],
        })?;
        let shard = &mut self.shards[shard_index];
        let info = shard.metadata.info(key).expect("indexed key has metadata").clone();
        let kind = kind_of(info.dtype).ok_or_else(|| Error::UnsupportedDtype {
            path: shard.path.clone(),
            key: key.to_owned(),
            dtype: format!("{:?}", info.dtype),
        })?;
        let (start, end) = info.data_offsets;
        let mut bytes = vec![0u8; end - start];
        shard
            .file
            .seek(SeekFrom::Start(shard.data_start + start as u64))
            .and_then(|_| shard.file.read_exact(&mut bytes))
            .map_err(|e| Error::io(&shard.path, e))?;
        let shape: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
        Ok(Tensor::f_from_data_size(&bytes, &shape, kind)?)
    }
}

impl Shard {
    fn open(path: &Path) -> Result<Self> {
        let corrupt = |reason: String| Error::CorruptCheckpoint { path: path.to_path_buf(), reason };
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut len_bytes = [0u8; 8];
        file.read_exact(&mut len_bytes)
            .map_err(|_| corrupt(format!("only {file_len} bytes, shorter than the 8-byte header length")))?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > 100_000_000 || 8 + header_len > file_len {
            return Err(corrupt(format!("header length {header_len} does not fit in a file of {file_len} bytes")));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
        let metadata: Metadata = serde_json::from_slice(&header).map_err(|e| corrupt(format!("bad header: {e}")))?;
        let data_start = 8 + header_len;
        let expected = data_start + metadata.data_len() as u64;
        if expected != file_len {
            return Err(corrupt(format!("the header describes {expected} bytes but the file has {file_len}")));
        }
        Ok(Self { path: path.to_path_buf(), file, data_start, metadata })
    }
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}

/// A tensor copied to host memory, ready to be written.
struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl HostTensor {
    fn new(tensor: &Tensor) -> Result<Self> {
        let kind = tensor.kind();
        let dtype =
            dtype_of(kind).ok_or_else(|| Error::Unsupported(format!("cannot save a tensor of kind {kind:?}")))?;
        let tensor = tensor.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
        let numel = tensor.numel();
        let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
        tensor.f_copy_data_u8(&mut data, numel)?;
        let shape = tensor.size().iter().map(|&d| d as usize).collect();
        Ok(Self { dtype, shape, data })
    }
}

impl View for &HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` to `path` (with the `format: pt` metadata transformers expects), through a
/// temporary file renamed into place.
pub(crate) fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let host = tensors.iter().map(|(name, t)| Ok((name.clone(), HostTensor::new(t)?))).collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let tmp = tmp_path(path);
    safetensors::serialize_to_file(host.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata), &tmp).map_err(
        |e| match e {
            safetensors::SafeTensorError::IoError(e) => Error::io(&tmp, e),
            other => Error::CorruptCheckpoint { path: tmp.clone(), reason: other.to_string() },
        },
    )?;
    // safetensors creates the file private (0600); model files are meant to be shared.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
/// Records the weights' kind in a config's `dtype` field (and `torch_dtype`, when the config has that older key),
/// as HF's `save_pretrained` does.
pub(crate) fn record_dtype(extra: &mut serde_json::Map<String, serde_json::Value>, kind: Kind) {
    let dtype = match kind {
        Kind::BFloat16 => "bfloat16",
        Kind::Half => "float16",
        Kind::Double => "float64",
        _ => "float32",
    };
    extra.insert("dtype".into(), dtype.into());
    if extra.contains_key("torch_dtype") {
        extra.insert("torch_dtype".into(), dtype.into());
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
