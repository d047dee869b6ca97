//! Dataset directories as the commands use them: the dataset layer of `biotorch_io::dataset`, with `--resume`
//! reported on stderr.

use std::path::{Path, PathBuf};

use anyhow::Result;
use biotorch_io::dataset::{RowGroups, RunSettings, Shard};
use biotorch_io::polars::prelude::{DataFrame, Schema};

// shim: removed when the branches are merged (callers use biotorch_io::dataset directly).
#[allow(unused_imports)] // list_parts, check_same_run: no caller left here, kept for branches that use them
pub(crate) use biotorch_io::dataset::{
    check_same_run, input_files, is_dataset_dir, list_parts, output_file, read_metadata,
};

/// `--resume`: `Some(rows)` when `path` is complete and was written with `settings` (said on stderr: the caller
/// skips the work); `None` when the work is to be done (saying why when the file exists).
pub(crate) fn resumable(ctx: &crate::commands::Ctx, path: &Path, settings: &[(String, String)]) -> Option<u64> {
    match biotorch_io::dataset::matches_settings(path, settings) {
        Ok(rows) => {
            ctx.info(format!(
                "{}: complete ({rows} rows) and written with the same settings; skipped (--resume)",
                path.display()
            ));
            Some(rows)
        }
        Err(why) => {
            if path.exists() {
                ctx.info(format!("{}: recomputing it: {why}", path.display()));
            }
            None
        }
    }
}

// shim: removed when the branches are merged (callers build a biotorch_io::dataset::RunSettings).
pub(crate) fn settings(
    command: &str,
    input: &Path,
    provenance: (&str, String),
    options: &serde_json::Value,
    shard: Option<&Shard>,
) -> Vec<(String, String)> {
    RunSettings::new(command, input, provenance, options.to_string(), shard).metadata()
}

// shim: removed when the branches are merged (callers use biotorch_io::digest).
pub(crate) fn files_sha256(files: &[PathBuf]) -> Result<String> {
    Ok(biotorch_io::digest::files_sha256(files)?)
}

// shim: removed when the branches are merged (callers use biotorch_io::digest).
pub(crate) fn weights_sha256(model_path: &Path) -> Result<String> {
    Ok(biotorch_io::digest::weights_sha256(model_path)?)
}

// shim: removed when the branches are merged (callers use biotorch_io::dataset::RowGroups).
pub(crate) struct Groups(RowGroups);

impl Groups {
    pub(crate) fn open(path: &Path) -> Result<(Groups, Schema)> {
        let (groups, schema) = RowGroups::open(path)?;
        Ok((Groups(groups), schema))
    }

    pub(crate) fn next(&mut self) -> Result<Option<DataFrame>> {
        Ok(self.0.next_group()?)
    }
}
