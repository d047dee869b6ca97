//! Finding a model's folder from what the user typed for MODEL.
//!
//! In order: an existing path (a folder in HuggingFace layout, or a `.safetensors` file); a
//! bundled model, looked up by name in the bundled search path; a HuggingFace repo id
//! (`org/name`, optionally `org/name@revision`) in the local HF cache. Nothing is downloaded:
//! a repo id missing from the cache is an error that says how to fetch it elsewhere.
//!
//! The HF cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`, laid out by
//! `huggingface_hub` as `models--org--name/{refs/main, snapshots/<commit>/...}`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable with extra folders of bundled models (a `PATH`-style list).
pub const MODELS_PATH_ENV: &str = "BIOTORCH_MODELS_PATH";

/// Where a resolved model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The path the user gave.
    Path,
    /// A bundled model: `name` found in one of the bundled folders.
    Bundled { name: String },
    /// A snapshot in the HuggingFace cache.
    HfCache { repo_id: String, revision: String, commit: String },
}

/// A model folder (or file) ready for `Esm2::load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub path: PathBuf,
    pub source: ModelSource,
}

/// Resolves model names against a bundled search path and a HuggingFace cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    bundled_dirs: Vec<PathBuf>,
    hf_hub_cache: PathBuf,
    offline: bool,
}

impl Resolver {
    /// A resolver with no bundled folders and the given HF hub cache folder.
    pub fn new(hf_hub_cache: impl Into<PathBuf>) -> Self {
        Self { bundled_dirs: Vec::new(), hf_hub_cache: hf_hub_cache.into(), offline: false }
    }

    /// The HF cache from the environment, and bundled folders from `BIOTORCH_MODELS_PATH`.
    /// Callers add the installation's own `data/models` with [`Resolver::with_bundled_dir`].
    pub fn from_env() -> Self {
        let get = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut resolver = Self::new(hf_hub_cache_from(get));
        if let Some(paths) = get(MODELS_PATH_ENV) {
            resolver.bundled_dirs.extend(std::env::split_paths(&paths));
        }
        resolver
    }

    /// Never download (as with `HF_HUB_OFFLINE=1`): only the cache is searched.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Adds a folder holding bundled models (`<dir>/<name>/config.json`), searched after the
    /// ones already added.
    pub fn with_bundled_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bundled_dirs.push(dir.into());
        self
    }

    pub fn bundled_dirs(&self) -> &[PathBuf] {
        &self.bundled_dirs
    }

    pub fn hf_hub_cache(&self) -> &Path {
        &self.hf_hub_cache
    }

    /// Finds the model named by `spec`.
    pub fn resolve(&self, spec: &str) -> Result<ResolvedModel> {
        let path = Path::new(spec);
        if !spec.is_empty() && path.exists() {
            return Ok(ResolvedModel { path: path.to_path_buf(), source: ModelSource::Path });
        }
        if is_plain_name(spec) {
            for dir in &self.bundled_dirs {
                let candidate = dir.join(spec);
                if candidate.is_dir() {
                    return Ok(ResolvedModel {
                        path: candidate,
                        source: ModelSource::Bundled { name: spec.to_owned() },
                    });
                }
            }
        }
        if let Some((repo_id, revision)) = parse_repo_id(spec) {
            return self.find_in_hf_cache(repo_id, revision);
        }
        let searched = if self.bundled_dirs.is_empty() {
            "no bundled folders".to_owned()
        } else {
            self.bundled_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        };
        Err(Error::UnknownModel { spec: spec.to_owned(), searched })
    }

    fn find_in_hf_cache(&self, repo_id: &str, revision: Option<&str>) -> Result<ResolvedModel> {
        match self.find_in_cache_only(repo_id, revision) {
            Ok(found) => Ok(found),
            Err(Error::NotInCache { .. }) => self.download(repo_id, revision),
            Err(e) => Err(e),
        }
    }

    /// Downloads `config.json`, `model.safetensors` and `vocab.txt` into the HF cache with the HF team's hub
    /// client (same layout as `huggingface-cli`), then resolves from the cache. `HF_HUB_OFFLINE=1` skips it.
    fn download(&self, repo_id: &str, revision: Option<&str>) -> Result<ResolvedModel> {
        let fail = |reason: String| Error::NotInCache {
            repo_id: repo_id.to_owned(),
            cache: self.hf_hub_cache.clone(),
            reason,
        };
        if self.offline {
            return Err(fail("offline".to_owned()));
        }
        if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
            return Err(fail("HF_HUB_OFFLINE is set".to_owned()));
        }
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_cache_dir(self.hf_hub_cache.clone())
            .with_progress(false)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let repo = api.repo(hf_hub::Repo::with_revision(
            repo_id.to_owned(),
            hf_hub::RepoType::Model,
            revision.unwrap_or("main").to_owned(),
        ));
        for file in ["config.json", "model.safetensors"] {
            repo.get(file).map_err(|e| fail(format!("{file}: {e}")))?;
        }
        // ESM-2 repos carry vocab.txt; a model without one falls back to the standard vocabulary.
        let _ = repo.get("vocab.txt");
        self.find_in_cache_only(repo_id, revision)
    }

    fn find_in_cache_only(&self, repo_id: &str, revision: Option<&str>) -> Result<ResolvedModel> {
        let not_found = || Error::NotInCache {
            repo_id: repo_id.to_owned(),
            cache: self.hf_hub_cache.clone(),
            reason: "not in the cache".to_owned(),
        };
        let repo = self.hf_hub_cache.join(format!("models--{}", repo_id.replace('/', "--")));
        let snapshots = repo.join("snapshots");
        let revision_name = revision.unwrap_or("main");
        let commit = match std::fs::read_to_string(repo.join("refs").join(revision_name)) {
            Ok(text) => text.trim().to_owned(),
            // A commit hash given directly, or a cache copied without refs/ holding one snapshot.
            Err(_) if snapshots.join(revision_name).is_dir() => revision_name.to_owned(),
            Err(_) if revision.is_none() => only_snapshot(&snapshots).ok_or_else(not_found)?,
            Err(_) => return Err(not_found()),
        };
        let dir = snapshots.join(&commit);
        if !dir.join("config.json").exists() {
            return Err(not_found());
        }
        Ok(ResolvedModel {
            path: dir,
            source: ModelSource::HfCache { repo_id: repo_id.to_owned(), revision: revision_name.to_owned(), commit },
        })
    }
}

/// The HF hub cache folder, from environment variables read through `get`.
pub fn hf_hub_cache_from(get: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    if let Some(dir) = get("HF_HUB_CACHE").or_else(|| get("HUGGINGFACE_HUB_CACHE")) {
        return PathBuf::from(dir);
    }
    let hf_home = get("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let cache = get("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(get("HOME").unwrap_or_else(|| ".".into())).join(".cache"));
        cache.join("huggingface")
    });
    hf_home.join("hub")
}

/// [`Resolver::from_env`]`.resolve(spec)`.
pub fn resolve(spec: &str) -> Result<ResolvedModel> {
    Resolver::from_env().resolve(spec)
}

fn only_snapshot(snapshots: &Path) -> Option<String> {
    let mut names = std::fs::read_dir(snapshots)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let first = names.next()?;
    names.next().is_none().then_some(first)
}

fn is_name_part(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with(['.', '-'])
        && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_plain_name(spec: &str) -> bool {
    is_name_part(spec)
}

/// `org/name` or `org/name@revision`.
fn parse_repo_id(spec: &str) -> Option<(&str, Option<&str>)> {
    let (repo_id, revision) = match spec.split_once('@') {
        Some((repo_id, revision)) if !revision.is_empty() => (repo_id, Some(revision)),
        Some(_) => return None,
        None => (spec, None),
    };
    let (org, name) = repo_id.split_once('/')?;
    (is_name_part(org) && is_name_part(name)).then_some((repo_id, revision))
}

/// Which kind of place [`list_models`] found a model in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedSource {
    /// A folder of a bundled-models directory.
    Bundled,
    /// A snapshot in the HuggingFace cache.
    HfCache,
}

impl std::fmt::Display for ListedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ListedSource::Bundled => "bundled",
            ListedSource::HfCache => "hf-cache",
        })
    }
}

/// A model found by [`list_models`], described from its files (nothing is loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The bundled name or the HF repo id: what `--model` takes.
    pub name: String,
    /// Bundled or in the HF cache.
    pub source: ListedSource,
    /// The model's folder (for the HF cache, the snapshot).
    pub dir: PathBuf,
    /// `architectures[0]` of `config.json`, else its `model_type`, else `?`.
    pub architecture: String,
    /// `num_hidden_layers` of `config.json`.
    pub num_hidden_layers: Option<i64>,
    /// `hidden_size` of `config.json`.
    pub hidden_size: Option<i64>,
    /// `vocab_size` of `config.json`.
    pub vocab_size: Option<i64>,
    /// Weights counted from the safetensors headers (`model.safetensors` or the shards of its index), rotary
    /// buffers left out; `None` when a header cannot be read.
    pub parameters: Option<u64>,
    /// Bytes of the files in the folder (links followed, as in the HF cache).
    pub bytes: u64,
    /// The `summary` of the folder's `biotorch.json` (models biotorch trained), else empty.
    pub summary: String,
}

impl ModelInfo {
    /// Layers x width, as `6x320` (`?` for a missing field).
    pub fn shape(&self) -> String {
        let int = |v: Option<i64>| v.map_or("?".to_owned(), |v| v.to_string());
        format!("{}x{}", int(self.num_hidden_layers), int(self.hidden_size))
    }
}

/// The models `resolver` can find by name: every `<dir>/<name>/config.json` of the bundled folders (in their order,
/// names sorted), then the ESM models (`model_type` `esm`) in the HF cache (repo ids sorted). Nothing is downloaded.
pub fn list_models(resolver: &Resolver) -> Vec<ModelInfo> {
    let mut models = Vec::new();
    for dir in resolver.bundled_dirs() {
        for (name, path) in subdirs(dir) {
            if path.join("config.json").is_file() {
                models.push(describe(name, ListedSource::Bundled, path));
            }
        }
    }
    for (folder, _) in subdirs(resolver.hf_hub_cache()) {
        let Some(repo_id) = folder.strip_prefix("models--").map(|r| r.replacen("--", "/", 1)) else { continue };
        let Ok(resolved) = resolver.find_in_cache_only(&repo_id, None) else { continue };
        let config = read_json(&resolved.path.join("config.json"));
        if config.as_ref().and_then(|c| c["model_type"].as_str()) == Some("esm") {
            models.push(describe(repo_id, ListedSource::HfCache, resolved.path));
        }
    }
    models
}

/// Sub-folders of `dir` (following links), sorted by name.
fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(_, p)| p.is_dir())
        .collect();
    out.sort();
    out
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn describe(name: String, source: ListedSource, dir: PathBuf) -> ModelInfo {
    let config = read_json(&dir.join("config.json")).unwrap_or(serde_json::Value::Null);
    let architecture =
        config["architectures"][0].as_str().or_else(|| config["model_type"].as_str()).unwrap_or("?").to_owned();
    let summary = read_json(&dir.join("biotorch.json"))
        .and_then(|p| p["summary"].as_str().map(str::to_owned))
        .unwrap_or_default();
    ModelInfo {
        name,
        source,
        architecture,
        num_hidden_layers: config["num_hidden_layers"].as_i64(),
        hidden_size: config["hidden_size"].as_i64(),
        vocab_size: config["vocab_size"].as_i64(),
        parameters: parameters(&dir),
        bytes: folder_bytes(&dir),
        summary,
        dir,
    }
}

/// Weights counted from the safetensors headers, rotary buffers left out.
fn parameters(dir: &Path) -> Option<u64> {
    use std::io::Read;
    let single = dir.join("model.safetensors");
    let files: Vec<PathBuf> = if single.is_file() {
        vec![single]
    } else {
        let index = read_json(&dir.join("model.safetensors.index.json"))?;
        let mut shards: Vec<String> =
            index["weight_map"].as_object()?.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        shards.sort();
        shards.dedup();
        shards.into_iter().map(|s| dir.join(s)).collect()
    };
    let mut total = 0u64;
    for file in files {
        let mut f = std::fs::File::open(file).ok()?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).ok()?;
        let len = u64::from_le_bytes(len);
        if len > 100_000_000 {
            return None;
        }
        let mut header = vec![0u8; len as usize];
        f.read_exact(&mut header).ok()?;
        let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
        for (key, info) in header.as_object()? {
            if key == "__metadata__" || key.ends_with("inv_freq") {
                continue;
            }
            total += info["shape"].as_array()?.iter().map(|d| d.as_u64().unwrap_or(0)).product::<u64>();
        }
    }
    Some(total)
}

/// Bytes of the files in the folder (links followed).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert_eq!(parse_repo_id("facebook/esm2_t6_8M_UR50D"), Some(("facebook/esm2_t6_8M_UR50D", None)));
        assert_eq!(
            parse_repo_id("facebook/esm2_t6_8M_UR50D@abc123"),
            Some(("facebook/esm2_t6_8M_UR50D", Some("abc123")))
        );
        assert_eq!(parse_repo_id("esm2"), None);
        assert_eq!(parse_repo_id("a/b/c"), None);
        assert_eq!(parse_repo_id("../x"), None);
        assert_eq!(parse_repo_id("org/"), None);
    }

    #[test]
    fn hub_cache_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
        };
        assert_eq!(hf_hub_cache_from(env(&[("HOME", "/home/u")])), PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert_eq!(hf_hub_cache_from(env(&[("HOME", "/home/u"), ("HF_HOME", "/hf")])), PathBuf::from("/hf/hub"));
        assert_eq!(hf_hub_cache_from(env(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/cache")])), PathBuf::from("/cache"));
        assert_eq!(
            hf_hub_cache_from(env(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")])),
            PathBuf::from("/xdg/huggingface/hub")
        );
    }

    /// A safetensors file with the given tensors (name, shape), zero-filled f32.
    fn safetensors(path: &Path, tensors: &[(&str, &[u64])]) {
        let mut offset = 0u64;
        let mut header = serde_json::Map::new();
        for (name, shape) in tensors {
            let bytes = 4 * shape.iter().product::<u64>();
            header.insert(
                (*name).to_owned(),
                serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
            );
            offset += bytes;
        }
        let header = serde_json::to_vec(&header).unwrap();
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend(header);
        file.extend(vec![0u8; offset as usize]);
        std::fs::write(path, file).unwrap();
    }

    #[test]
    fn list_models_describes_bundled_folders_and_esm_models_in_the_cache() {
        let root = tempfile::tempdir().unwrap();
        let bundled = root.path().join("bundled");
        let tiny = bundled.join("tiny");
        std::fs::create_dir_all(&tiny).unwrap();
        std::fs::write(
            tiny.join("config.json"),
            r#"{"architectures": ["EsmForMaskedLM"], "model_type": "esm", "num_hidden_layers": 2, "hidden_size": 64,
                "vocab_size": 33}"#,
        )
        .unwrap();
        safetensors(&tiny.join("model.safetensors"), &[("a.weight", &[33, 64]), ("rotary.inv_freq", &[8])]);
        std::fs::write(tiny.join("biotorch.json"), r#"{"summary": "8 steps"}"#).unwrap();
        std::fs::create_dir_all(bundled.join("not-a-model")).unwrap();
        let hub = root.path().join("hub");
        for (repo, model_type) in [("models--org--esm_x", "esm"), ("models--org--gpt_x", "llama")] {
            let snapshot = hub.join(repo).join("snapshots/abc");
            std::fs::create_dir_all(&snapshot).unwrap();
            std::fs::write(snapshot.join("config.json"), format!(r#"{{"model_type": "{model_type}"}}"#)).unwrap();
        }
        std::fs::create_dir_all(hub.join("models--org--empty/snapshots")).unwrap();
        let resolver = Resolver::new(&hub).with_bundled_dir(&bundled).offline(true);
        let models = list_models(&resolver);
        assert_eq!(models.len(), 2, "{models:?}");
        let tiny_info = &models[0];
        assert_eq!((tiny_info.name.as_str(), tiny_info.source), ("tiny", ListedSource::Bundled));
        assert_eq!((tiny_info.architecture.as_str(), tiny_info.shape().as_str()), ("EsmForMaskedLM", "2x64"));
        assert_eq!((tiny_info.parameters, tiny_info.vocab_size), (Some(33 * 64), Some(33)));
        assert_eq!(tiny_info.summary, "8 steps");
        assert!(tiny_info.bytes > 33 * 64 * 4);
        let cached = &models[1];
        assert_eq!((cached.name.as_str(), cached.source.to_string().as_str()), ("org/esm_x", "hf-cache"));
        assert_eq!((cached.architecture.as_str(), cached.shape().as_str(), cached.parameters), ("esm", "?x?", None));
        assert!(list_models(&Resolver::new(root.path().join("none"))).is_empty());
    }
}
