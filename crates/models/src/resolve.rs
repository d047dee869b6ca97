//! Finding a model's folder from what the user typed for MODEL.
//!
//! The rules, in order:
//! 1. An existing path (a folder in HuggingFace layout, or a `.safetensors` file) is used as is. A path that
//!    exists but cannot be followed (a symbolic link loop, a broken link, no permission) is an error.
//! 2. A plain name (`protein-small`) is looked up in the bundled folders.
//! 3. Anything that looks like a path (it starts with `.`, `/` or `~`, or has more than one `/`) and does not
//!    exist is an error: "`./x` is not a folder (no such path)". It never goes to the HuggingFace hub.
//! 4. A HuggingFace repo id, exactly `org/name` (optionally `org/name@revision`) with the hub's characters
//!    (letters, digits, `-`, `_`, `.`), is looked up in the local HF cache. When it is not there and `org` is a
//!    local folder (`runs/my-model` with a `runs/` folder), it is a missing path, not a repo id. Otherwise
//!    `config.json`, `model.safetensors` and `vocab.txt` are fetched from the hub into the cache when the network
//!    allows (never with [`Resolver::offline`] or `HF_HUB_OFFLINE=1`), and the error says how to fetch them
//!    elsewhere when it does not.
//!
//! Errors name the rule that applied, suggest the closest bundled name, cached repo id or file name (edit
//! distance), and list the bundled models. They never show the bundled folder compiled into a binary when it does
//! not exist on this machine (it is the build machine's path).
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
    /// How many of `bundled_dirs`, from the start, come from `BIOTORCH_MODELS_PATH` (the user's own folders,
    /// always shown in messages); the others were given in code and are shown only when they exist.
    env_dirs: usize,
    hf_hub_cache: PathBuf,
    offline: bool,
}

impl Resolver {
    /// A resolver with no bundled folders and the given HF hub cache folder.
    pub fn new(hf_hub_cache: impl Into<PathBuf>) -> Self {
        Self { bundled_dirs: Vec::new(), env_dirs: 0, hf_hub_cache: hf_hub_cache.into(), offline: false }
    }

    /// The HF cache from the environment, and bundled folders from `BIOTORCH_MODELS_PATH`.
    /// Callers add the installation's own `data/models` with [`Resolver::with_bundled_dir`].
    pub fn from_env() -> Self {
        let get = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut resolver = Self::new(hf_hub_cache_from(get));
        if let Some(paths) = get(MODELS_PATH_ENV) {
            resolver.bundled_dirs.extend(std::env::split_paths(&paths));
            resolver.env_dirs = resolver.bundled_dirs.len();
        }
        resolver
    }

    /// Never download (as with `HF_HUB_OFFLINE=1`): only the cache is searched.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Adds a folder holding bundled models (`<dir>/<name>/config.json`), searched after the
    /// ones already added. Messages show it only when it exists on this machine (a binary's own `data/models`,
    /// compiled in, is a path of the machine that built it): otherwise as `<bundled models folder (not on this
    /// machine)>`.
    pub fn with_bundled_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bundled_dirs.push(dir.into());
        self
    }

    /// The bundled folders, in search order.
    pub fn bundled_dirs(&self) -> &[PathBuf] {
        &self.bundled_dirs
    }

    /// The bundled folders as messages show them: relative to the working directory when inside it, a folder
    /// given in code that does not exist here as `<bundled models folder (not on this machine)>`; `none` when
    /// there are none.
    pub fn bundled_dirs_shown(&self) -> String {
        if self.bundled_dirs.is_empty() {
            return "none".to_owned();
        }
        let cwd = std::env::current_dir().ok();
        let shown: Vec<String> = self
            .bundled_dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| match dir.canonicalize() {
                Ok(real) => cwd
                    .as_ref()
                    .and_then(|cwd| real.strip_prefix(cwd).ok())
                    .filter(|rel| !rel.as_os_str().is_empty())
                    .unwrap_or(&real)
                    .display()
                    .to_string(),
                Err(_) if i < self.env_dirs => format!("{} (missing)", dir.display()),
                Err(_) => "<bundled models folder (not on this machine)>".to_owned(),
            })
            .collect();
        shown.join(", ")
    }

    /// Names of the bundled models (`<dir>/<name>/config.json`), in search order, without repeats.
    pub fn bundled_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for dir in &self.bundled_dirs {
            for (name, path) in subdirs(dir) {
                if path.join("config.json").is_file() && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// The HF hub cache folder searched for repo ids.
    pub fn hf_hub_cache(&self) -> &Path {
        &self.hf_hub_cache
    }

    /// Finds the model named by `spec`, by the rules of the [module docs](self).
    ///
    /// # Errors
    ///
    /// [`Error::NotAFolder`] for a path that does not exist or cannot be followed, [`Error::UnknownModel`] for a
    /// name that is neither a bundled model nor a repo id, [`Error::NotInCache`] for a repo id that is neither
    /// cached nor downloadable.
    pub fn resolve(&self, spec: &str) -> Result<ResolvedModel> {
        let path = Path::new(spec);
        if !spec.is_empty() {
            match std::fs::metadata(path) {
                // A file is a model only as its weights (`model.safetensors`, whose folder holds the rest).
                Ok(meta) if meta.is_file() && path.extension().is_none_or(|e| e != "safetensors") => {
                    return Err(self.not_a_folder(spec, "a file, not a model folder".to_owned(), None));
                }
                Ok(_) => return Ok(ResolvedModel { path: path.to_path_buf(), source: ModelSource::Path }),
                // A component that is a file (`file.txt/x`) means no such path, as a missing one does.
                Err(e) if !matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                    let what = if path.is_symlink() { "a symbolic link that cannot be followed" } else { "unreadable" };
                    return Err(self.not_a_folder(spec, format!("{what}: {e}"), None));
                }
                Err(_) if path.is_symlink() => {
                    return Err(self.not_a_folder(spec, "a broken symbolic link".to_owned(), None));
                }
                Err(_) => {}
            }
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
        if looks_like_path(spec) {
            let reason = if spec.starts_with('~') {
                "no such path; the shell expands `~` only outside quotes"
            } else {
                "no such path"
            };
            return Err(self.not_a_folder(spec, reason.to_owned(), closest_entry(path)));
        }
        if let Some((repo_id, revision)) = parse_repo_id(spec) {
            match self.find_in_cache_only(repo_id, revision) {
                Err(Error::NotInCache { .. }) => {}
                found => return found,
            }
            if let Some((org, name)) = repo_id.split_once('/').filter(|(org, _)| Path::new(org).is_dir()) {
                let reason = format!("no such path: the folder `{org}` has no `{name}`");
                return Err(self.not_a_folder(spec, reason, closest_entry(Path::new(repo_id))));
            }
            return self.download(repo_id, revision).map_err(|e| match e {
                Error::NotInCache { repo_id, cache, reason, .. } => {
                    let suggestion = closest(&repo_id, self.cached_repo_ids().iter().map(String::as_str));
                    Error::NotInCache { repo_id, cache, reason, suggestion }
                }
                e => e,
            });
        }
        let mut candidates = self.bundled_names();
        candidates.extend(self.cached_repo_ids());
        Err(Error::UnknownModel {
            spec: spec.to_owned(),
            suggestion: closest(spec, candidates.iter().map(String::as_str)),
            bundled: self.bundled_names(),
            searched: self.bundled_dirs_shown(),
        })
    }

    fn not_a_folder(&self, spec: &str, reason: String, suggestion: Option<String>) -> Error {
        Error::NotAFolder { spec: spec.to_owned(), reason, suggestion, bundled: self.bundled_names() }
    }

    /// `org/name` of every `models--org--name` folder of the HF cache, sorted.
    fn cached_repo_ids(&self) -> Vec<String> {
        subdirs(&self.hf_hub_cache)
            .into_iter()
            .filter_map(|(folder, _)| folder.strip_prefix("models--").map(|r| r.replacen("--", "/", 1)))
            .collect()
    }

    /// Downloads `config.json`, `model.safetensors` and `vocab.txt` into the HF cache with the HF team's hub
    /// client (same layout as `huggingface-cli`), then resolves from the cache. `HF_HUB_OFFLINE=1` skips it.
    fn download(&self, repo_id: &str, revision: Option<&str>) -> Result<ResolvedModel> {
        let fail = |reason: String| Error::NotInCache {
            repo_id: repo_id.to_owned(),
            cache: self.hf_hub_cache.clone(),
            reason,
            suggestion: None,
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
            suggestion: None,
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

/// One half of a HuggingFace repo id (or a bundled name): 1 to 96 letters, digits, `-`, `_` and `.`, not starting
/// or ending with `-` or `.`, without `--` or `..` (the hub's rules).
fn is_name_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 96
        && !part.starts_with(['.', '-'])
        && !part.ends_with(['.', '-'])
        && !part.contains("--")
        && !part.contains("..")
        && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A MODEL that can only be a path: it starts with `.`, `/` or `~`, holds a backslash or an empty component, or
/// has more than one `/` before any `@revision`.
fn looks_like_path(spec: &str) -> bool {
    let before_revision = spec.split_once('@').map_or(spec, |(path, _)| path);
    spec.starts_with(['.', '/', '~'])
        || spec.contains('\\')
        || before_revision.contains("//")
        || before_revision.ends_with('/')
        || before_revision.matches('/').count() > 1
}

/// Optimal string alignment distance (Levenshtein with transpositions), on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// The candidate closest to `spec` (ignoring case), if close enough to be a typo: at most one edit per four
/// characters (one at least, three at most), or `spec` is the start of it (three characters or more).
fn closest<'a>(spec: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let wanted = spec.to_lowercase();
    let budget = (wanted.chars().count() / 4).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| *c != spec)
        .filter_map(|c| {
            let lower = c.to_lowercase();
            let d = edit_distance(&wanted, &lower);
            let prefix = wanted.chars().count() >= 3 && lower.starts_with(&wanted);
            (d <= budget || prefix).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

/// For a missing path whose folder exists, the entry of that folder closest to its last component, as a path
/// written like the one given (`runs/my-modl` -> `runs/my-model`).
fn closest_entry(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let entries = std::fs::read_dir(parent.unwrap_or(Path::new("."))).ok()?;
    let names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    let best = closest(name, names.iter().map(String::as_str))?;
    Some(parent.map_or(best.clone(), |p| p.join(&best).display().to_string()))
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
    fn a_file_is_a_model_only_as_its_weights() {
        let dir = tempfile::tempdir().unwrap();
        let fasta = dir.path().join("proteins.fa");
        std::fs::write(&fasta, ">a\nMK\n").unwrap();
        let e = Resolver::new(dir.path().join("hf")).resolve(fasta.to_str().unwrap()).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("a file, not a model folder"), "{e}");
        let weights = dir.path().join("model.safetensors");
        std::fs::write(&weights, b"").unwrap();
        assert_eq!(Resolver::new(dir.path().join("hf")).resolve(weights.to_str().unwrap()).unwrap().path, weights);
    }

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
        assert_eq!(parse_repo_id("org/-x"), None);
        assert_eq!(parse_repo_id("org/x."), None);
        assert_eq!(parse_repo_id("org/a--b"), None);
        assert_eq!(parse_repo_id(&format!("org/{}", "x".repeat(97))), None);
    }

    #[test]
    fn paths_are_told_from_repo_ids() {
        for path in ["./x", "../x", "/abs/x", "~/x", "~", "runs/a/b", "runs//x", "runs/", "a\\b", ".hidden"] {
            assert!(looks_like_path(path), "{path}");
        }
        for name in ["runs/my-model", "facebook/esm2_t6_8M_UR50D", "org/name@refs/pr/1", "protein-small", "x"] {
            assert!(!looks_like_path(name), "{name}");
        }
    }

    #[test]
    fn suggestions_allow_a_typo_per_four_characters() {
        assert_eq!(edit_distance("protein-smal", "protein-small"), 1);
        assert_eq!(edit_distance("protien-small", "protein-small"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let bundled = ["dna-small", "protein-small", "smiles-small"];
        assert_eq!(closest("protein-smal", bundled).as_deref(), Some("protein-small"));
        assert_eq!(closest("Protein-Small", bundled).as_deref(), Some("protein-small"));
        assert_eq!(closest("smiles", bundled).as_deref(), Some("smiles-small"));
        assert_eq!(closest("dna-smol", bundled).as_deref(), Some("dna-small"));
        assert_eq!(closest("esm2", bundled), None);
        assert_eq!(closest("protein-small", bundled), None, "no suggestion of itself");
        assert_eq!(closest("xy", ["x"]).as_deref(), Some("x"));
    }

    fn offline_resolver(root: &Path) -> Resolver {
        let bundled = root.join("bundled");
        for name in ["protein-small", "dna-small"] {
            std::fs::create_dir_all(bundled.join(name)).unwrap();
            std::fs::write(bundled.join(name).join("config.json"), "{}").unwrap();
        }
        let hub = root.join("hub");
        std::fs::create_dir_all(hub.join("models--facebook--esm2_t6_8M_UR50D/snapshots")).unwrap();
        Resolver::new(&hub).with_bundled_dir(&bundled).offline(true)
    }

    // Regression: a local-looking path that does not exist was taken as a HuggingFace repo id and "downloaded".
    #[test]
    fn missing_paths_never_go_to_the_hub() {
        let root = tempfile::tempdir().unwrap();
        let resolver = offline_resolver(root.path());
        let runs = root.path().join("runs");
        std::fs::create_dir_all(runs.join("my-model")).unwrap();
        for spec in ["./x", "../x", "/abs/x", "~/x", "a/b/c"] {
            let err = resolver.resolve(spec).unwrap_err();
            assert!(matches!(err, Error::NotAFolder { .. }), "{spec}: {err:?}");
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("model `{spec}` is not a folder (no such path")), "{msg}");
            assert!(!msg.contains("HuggingFace cache") && msg.contains("protein-small"), "{msg}");
            assert!(err.is_bad_input());
        }
        assert!(resolver.resolve("~/x").unwrap_err().to_string().contains("the shell expands `~` only outside quotes"));
        // `runs/my-modl` where `runs` is a folder here: a path with a typo, not a repo id.
        let spec = format!("{}/my-modl", runs.display());
        let err = resolver.resolve(&spec).unwrap_err().to_string();
        assert!(
            err.contains("no such path")
                && err.contains(&format!("did you mean `{}`", runs.join("my-model").display())),
            "{err}"
        );
        // A link loop and a broken link are paths, named as such.
        let ring = root.path().join("ring");
        std::os::unix::fs::symlink(root.path().join("ring2"), &ring).unwrap();
        std::os::unix::fs::symlink(&ring, root.path().join("ring2")).unwrap();
        let err = resolver.resolve(ring.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("is not a folder (a symbolic link that cannot be followed"), "{err}");
        let dangling = root.path().join("dangling");
        std::os::unix::fs::symlink(root.path().join("nowhere"), &dangling).unwrap();
        let err = resolver.resolve(dangling.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("is not a folder (a broken symbolic link)"), "{err}");
        assert!(resolver.resolve(runs.join("my-model").to_str().unwrap()).is_ok());
    }

    #[test]
    fn repo_ids_say_which_rule_applied() {
        let root = tempfile::tempdir().unwrap();
        let resolver = offline_resolver(root.path());
        let err = resolver.resolve("facebook/esm2_t6_8M_UR5OD").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "model `facebook/esm2_t6_8M_UR5OD` is not a folder (no such path) and not in the HuggingFace cache"
            ),
            "{msg}"
        );
        assert!(msg.contains("did you mean `facebook/esm2_t6_8M_UR50D`?") && msg.contains("(offline)"), "{msg}");
    }

    #[test]
    fn unknown_names_suggest_and_list_the_bundled_models() {
        let root = tempfile::tempdir().unwrap();
        let resolver = offline_resolver(root.path());
        let msg = resolver.resolve("protein-smal").unwrap_err().to_string();
        assert!(msg.starts_with("model `protein-smal` not found (did you mean `protein-small`?)"), "{msg}");
        assert!(msg.contains("bundled models: dna-small, protein-small"), "{msg}");
        let msg = resolver.resolve("esm").unwrap_err().to_string();
        assert!(!msg.contains("did you mean"), "{msg}");
    }

    // The bundled folder compiled into a binary is the build machine's path: shown only when it exists here.
    #[test]
    fn bundled_folders_that_do_not_exist_here_are_not_shown() {
        let root = tempfile::tempdir().unwrap();
        let build_machine = "/build/machine/crates/cli/../../data/models";
        let resolver = offline_resolver(root.path()).with_bundled_dir(build_machine);
        let shown = resolver.bundled_dirs_shown();
        assert!(!shown.contains("/build/machine"), "{shown}");
        assert!(shown.contains("<bundled models folder (not on this machine)>"), "{shown}");
        assert!(shown.contains(&root.path().canonicalize().unwrap().join("bundled").display().to_string()), "{shown}");
        let msg = resolver.resolve("nothing-like-it").unwrap_err().to_string();
        assert!(!msg.contains("/build/machine") && msg.contains("not on this machine"), "{msg}");
        let from_env = Resolver { env_dirs: 1, ..Resolver::new("/hub").with_bundled_dir("/mine/models") };
        assert_eq!(from_env.bundled_dirs_shown(), "/mine/models (missing)");
        assert_eq!(Resolver::new("/hub").bundled_dirs_shown(), "none");
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
