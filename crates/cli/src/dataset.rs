//! Parquet dataset directories: one `part-IIIII-of-NNNNN.parquet` per shard (`--shard I/N`), read by polars,
//! pyarrow and DuckDB as one table, and put back into one file in input order by `biotorch merge`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_io::polars::prelude::*;

use crate::exit::bad_input;
use crate::input::Shard;

/// Metadata that must agree between the parts (what they computed and from what). Others (argv, shard) may differ.
const SAME_IN_EVERY_PART: &[&str] = &[
    "biotorch.command",
    "biotorch.input",
    "biotorch.model",
    "biotorch.weights_sha256",
    "biotorch.options",
    "biotorch.tokenizer",
    "biotorch.shard_by",
];

/// The file name of part `index` of `count`.
pub(crate) fn part_name(index: u64, count: u64) -> String {
    format!("part-{index:05}-of-{count:05}.parquet")
}

/// Reads `part-IIIII-of-NNNNN.parquet` back into `(I, N)`.
pub(crate) fn parse_part_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (i, n) = rest.split_once("-of-")?;
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(i) && digits(n)).then(|| Some((i.parse().ok()?, n.parse().ok()?))).flatten()
}

/// Whether `path` names a dataset directory: it ends with `/` or is an existing directory.
pub(crate) fn is_dataset_dir(path: &Path) -> bool {
    let s = path.as_os_str().to_string_lossy();
    s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir()
}

/// The file a command writes for `-o path`: `path` itself, or `path/part-IIIII-of-NNNNN.parquet` (I/N from the shard,
/// 0/1 without one) when `path` is a dataset directory, which is created if needed.
pub(crate) fn output_file(path: &Path, shard: Option<&Shard>) -> Result<PathBuf> {
    if !is_dataset_dir(path) {
        return Ok(path.to_path_buf());
    }
    std::fs::create_dir_all(path).with_context(|| format!("cannot create the dataset directory {}", path.display()))?;
    let (i, n) = shard.map_or((0, 1), |s| (s.index, s.count));
    Ok(path.join(part_name(i, n)))
}

/// The key-value metadata of a Parquet file (reading only its footer), with its row count.
pub(crate) fn read_metadata(path: &Path) -> Result<(BTreeMap<String, String>, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = ParquetReader::new(file);
    let meta = anyhow::Context::with_context(reader.get_metadata(), || {
        format!("{}: not a complete Parquet file", path.display())
    })?;
    let kv = meta
        .key_value_metadata
        .iter()
        .flatten()
        .filter_map(|kv| kv.value.as_ref().map(|v| (kv.key.clone(), v.clone())))
        .collect();
    Ok((kv, meta.num_rows as u64))
}

/// For `--resume`: `Ok(rows)` when `path` is a complete Parquet file whose metadata holds every `(key, value)` of
/// `expected`; otherwise why not (missing, unreadable, or the first setting that differs).
pub(crate) fn matches_settings(path: &Path, expected: &[(String, String)]) -> Result<u64, String> {
    if !path.exists() {
        return Err("it does not exist yet".to_string());
    }
    let (kv, rows) = read_metadata(path).map_err(|e| format!("{e:#}"))?;
    for (key, value) in expected {
        match kv.get(key) {
            Some(v) if v == value => {}
            Some(v) => return Err(format!("its {key} is {v}, not {value}")),
            None => return Err(format!("it has no {key}")),
        }
    }
    Ok(rows)
}

/// The SHA-256 of the files, read in this order as one stream (hex): provenance in outputs' metadata.
pub(crate) fn files_sha256(files: &[PathBuf]) -> Result<String> {
    Ok(biotorch_io::digest::files_sha256(files)?)
}

/// The SHA-256 of a model's weights: the file itself, or a folder's `model.safetensors`.
pub(crate) fn weights_sha256(model_path: &Path) -> Result<String> {
    Ok(biotorch_io::digest::weights_sha256(model_path)?)
}

/// What decides the values of a per-record output: the command, its input, what it computed with (`provenance`: a
/// metadata key and value, e.g. the weights' SHA-256), its options and its shard. `--resume` skips the work when an
/// existing file was written with these, and `biotorch merge` refuses parts that differ in them.
pub(crate) fn settings(
    command: &str,
    input: &Path,
    provenance: (&str, String),
    options: &serde_json::Value,
    shard: Option<&Shard>,
) -> Vec<(String, String)> {
    let mut settings = vec![
        ("biotorch.command".to_string(), command.to_string()),
        ("biotorch.input".to_string(), input.display().to_string()),
        (provenance.0.to_string(), provenance.1),
        ("biotorch.options".to_string(), options.to_string()),
    ];
    settings.extend(shard.map(Shard::metadata).unwrap_or_default());
    settings
}

/// `--resume`: `Some(rows)` when `path` is complete and was written with `settings` (said on stderr: the caller
/// skips the work); `None` when the work is to be done (saying why when the file exists).
pub(crate) fn resumable(ctx: &crate::commands::Ctx, path: &Path, settings: &[(String, String)]) -> Option<u64> {
    match matches_settings(path, settings) {
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

/// One Parquet file read row group by row group.
pub(crate) struct Groups {
    path: PathBuf,
    metadata: biotorch_io::polars::io::parquet::metadata::FileMetadataRef,
    next_group: usize,
    next_offset: usize,
}

impl Groups {
    pub(crate) fn open(path: &Path) -> Result<(Groups, Schema)> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut reader = ParquetReader::new(file);
        let schema = match reader.schema() {
            Ok(schema) => Schema::from_arrow_schema(schema.as_ref()),
            Err(e) => bad_input!("{}: not a Parquet file ({e})", path.display()),
        };
        let metadata = reader.get_metadata()?.clone();
        Ok((Groups { path: path.to_path_buf(), metadata, next_group: 0, next_offset: 0 }, schema))
    }

    pub(crate) fn next(&mut self) -> Result<Option<DataFrame>> {
        let Some(group) = self.metadata.row_groups.get(self.next_group) else { return Ok(None) };
        let rows = group.num_rows();
        let mut reader = ParquetReader::new(std::fs::File::open(&self.path)?);
        reader.set_metadata(self.metadata.clone());
        let df = reader.with_slice(Some((self.next_offset, rows))).finish();
        let df = anyhow::Context::with_context(df, || {
            format!("{}: cannot read row group {}", self.path.display(), self.next_group)
        })?;
        self.next_group += 1;
        self.next_offset += rows;
        Ok(Some(df))
    }
}

/// The parts of a dataset directory, in part order, with their count N: checks that they form one complete set (one
/// shard count, parts 0..N all there). Names starting with `.` or `_` (temporary files of running shards, _SUCCESS
/// markers) are passed over; another `.parquet` name is an error.
pub(crate) fn list_parts(dir: &Path) -> Result<(u64, Vec<PathBuf>)> {
    let mut parts: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut counts: BTreeMap<u64, String> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        match parse_part_name(&name) {
            Some((i, n)) => {
                counts.entry(n).or_insert_with(|| name.clone());
                parts.insert(i, dir.join(&name));
            }
            None if name.ends_with(".parquet") => {
                bad_input!(
                    "{}: {name} is not named part-IIIII-of-NNNNN.parquet: move it out of the dataset directory",
                    dir.display()
                )
            }
            None => {}
        }
    }
    let Some(&n) = counts.keys().next() else {
        bad_input!("{}: no part-IIIII-of-NNNNN.parquet files in the directory", dir.display());
    };
    if counts.len() > 1 {
        let names: Vec<&str> = counts.values().map(String::as_str).collect();
        bad_input!(
            "{}: parts of different shard counts ({}): remove the parts of the runs you do not want",
            dir.display(),
            names.join(", ")
        );
    }
    let missing: Vec<String> = (0..n).filter(|i| !parts.contains_key(i)).map(|i| part_name(i, n)).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        bad_input!(
            "{}: {} of {n} parts missing: {}{} (run those shards, e.g. with --shard I/{n} --resume)",
            dir.display(),
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() { ", ..." } else { "" }
        );
    }
    Ok((n, parts.into_values().collect()))
}

/// The files to read: INPUT itself, or the parts of a dataset directory in part order ([`list_parts`]), which must
/// come from one run.
pub(crate) fn input_files(input: &Path) -> Result<Vec<PathBuf>> {
    if !input.exists() {
        bad_input!("{}: no such file or directory", input.display());
    }
    if !is_dataset_dir(input) {
        return Ok(vec![input.to_path_buf()]);
    }
    let (_, files) = list_parts(input)?;
    // Parts of one run only (footers only): a part left from another run would mix in silently.
    let name = |f: &Path| f.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let (first, _) = read_metadata(&files[0])?;
    for file in &files[1..] {
        let (kv, _) = read_metadata(file)?;
        check_same_run(input, (&name(file), &kv), (&name(&files[0]), &first))?;
    }
    Ok(files)
}

/// Whether two parts of `dir` (name and key-value metadata each) were written by one run: the same
/// [`SAME_IN_EVERY_PART`] metadata; otherwise a usage error naming the first that differs.
pub(crate) fn check_same_run(
    dir: &Path,
    (name, kv): (&str, &BTreeMap<String, String>),
    (ref_name, ref_kv): (&str, &BTreeMap<String, String>),
) -> Result<()> {
    if let Some(key) = SAME_IN_EVERY_PART.iter().find(|k| kv.get(**k) != ref_kv.get(**k)) {
        bad_input!(
            "{}: {name} and {ref_name} were written with different {key} ({} vs {}): they are not parts of one run",
            dir.display(),
            kv.get(*key).map_or("none", String::as_str),
            ref_kv.get(*key).map_or("none", String::as_str)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        assert_eq!(part_name(3, 16), "part-00003-of-00016.parquet");
        assert_eq!(parse_part_name("part-00003-of-00016.parquet"), Some((3, 16)));
        assert_eq!(parse_part_name(&part_name(123_456, 200_000)), Some((123_456, 200_000)));
        for bad in
            ["part-3-of-16.parquet", ".part-00003-of-00016.parquet.abc.tmp", "part-00003-of-00016.csv", "x.parquet"]
        {
            assert_eq!(parse_part_name(bad), None, "{bad}");
        }
    }
}
