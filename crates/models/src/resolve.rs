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
}
