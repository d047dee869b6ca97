//! Dataset directories: part names, the file a command writes for `-o FILE | DIR/`, listing the parts of a complete
//! run, and checking that parts come from one run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keys;
use super::settings::read_metadata;
use super::shard::Shard;
use crate::error::{Error, Result};

/// Metadata that must agree between the parts (what they computed and from what, the input's content included).
/// Others (argv, shard) may differ.
pub const SAME_IN_EVERY_PART: &[&str] = &[
    keys::COMMAND,
    keys::INPUT,
    keys::INPUT_FINGERPRINT,
    keys::MODEL,
    keys::WEIGHTS_SHA256,
    keys::OPTIONS,
    keys::TOKENIZER,
    keys::SHARD_BY,
];

/// The file name of part `index` of `count`: `part-IIIII-of-NNNNN.parquet`.
///
/// ```
/// assert_eq!(biotorch_io::dataset::part_name(3, 16), "part-00003-of-00016.parquet");
/// ```
pub fn part_name(index: u64, count: u64) -> String {
    format!("part-{index:05}-of-{count:05}.parquet")
}

/// Reads `part-IIIII-of-NNNNN.parquet` back into `(I, N)`; `None` for any other name.
pub fn parse_part_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (i, n) = rest.split_once("-of-")?;
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(i) && digits(n)).then(|| Some((i.parse().ok()?, n.parse().ok()?))).flatten()
}

/// Whether `path` names a dataset directory: it ends with `/` or is an existing directory.
pub fn is_dataset_dir(path: &Path) -> bool {
    let s = path.as_os_str().to_string_lossy();
    s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir()
}

/// The file a command writes for `-o path`: `path` itself, or `path/part-IIIII-of-NNNNN.parquet` (I/N from the shard,
/// 0/1 without one) when `path` is a dataset directory, which is created if needed. `-` is refused (an
/// [`Error::Usage`]): tables go to named files, never to standard output.
pub fn output_file(path: &Path, shard: Option<&Shard>) -> Result<PathBuf> {
    crate::table::check_not_stdout(path)?;
    if !is_dataset_dir(path) {
        return Ok(path.to_path_buf());
    }
    std::fs::create_dir_all(path)
        .map_err(|e| Error::failed(format!("cannot create the dataset directory {}", path.display()), &e))?;
    let (i, n) = shard.map_or((0, 1), |s| (s.index, s.count));
    Ok(path.join(part_name(i, n)))
}

/// The parts of a dataset directory, in part order, with their count N: checks that they form one complete set (one
/// shard count, parts 0..N all there). Names starting with `.` or `_` (temporary files of running shards, _SUCCESS
/// markers) are passed over; another `.parquet` name is an error.
pub fn list_parts(dir: &Path) -> Result<(u64, Vec<PathBuf>)> {
    let mut parts: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut counts: BTreeMap<u64, String> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::failed(format!("cannot list {}", dir.display()), &e))?;
    for entry in entries {
        let name = entry.map_err(|e| Error::backend(&e))?.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        match parse_part_name(&name) {
            Some((i, n)) => {
                counts.entry(n).or_insert_with(|| name.clone());
                parts.insert(i, dir.join(&name));
            }
            None if name.ends_with(".parquet") => {
                return Err(Error::dataset(
                    dir.display(),
                    format!("{name} is not named part-IIIII-of-NNNNN.parquet: move it out of the dataset directory"),
                ));
            }
            None => {}
        }
    }
    let Some(&n) = counts.keys().next() else {
        return Err(Error::dataset(dir.display(), "no part-IIIII-of-NNNNN.parquet files in the directory"));
    };
    if counts.len() > 1 {
        let names: Vec<&str> = counts.values().map(String::as_str).collect();
        return Err(Error::dataset(
            dir.display(),
            format!(
                "parts of different shard counts ({}): remove the parts of the runs you do not want",
                names.join(", ")
            ),
        ));
    }
    let missing: Vec<String> = (0..n).filter(|i| !parts.contains_key(i)).map(|i| part_name(i, n)).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        return Err(Error::dataset(
            dir.display(),
            format!(
                "{} of {n} parts missing: {}{} (run those shards, e.g. with --shard I/{n} --resume)",
                missing.len(),
                shown.join(", "),
                if missing.len() > shown.len() { ", ..." } else { "" }
            ),
        ));
    }
    Ok((n, parts.into_values().collect()))
}

/// The files to read: `input` itself, or the parts of a dataset directory in part order ([`list_parts`]), which must
/// come from one run ([`check_same_run`], reading footers only).
pub fn input_files(input: &Path) -> Result<Vec<PathBuf>> {
    if !input.exists() {
        return Err(Error::NotFound { path: input.display().to_string() });
    }
    if !is_dataset_dir(input) {
        return Ok(vec![input.to_path_buf()]);
    }
    let (_, files) = list_parts(input)?;
    // Parts of one run only: a part left from another run would mix in silently.
    let (first, _) = part_metadata(&files[0])?;
    for file in &files[1..] {
        let (kv, _) = part_metadata(file)?;
        check_same_run(input, (&file_name(file), &kv), (&file_name(&files[0]), &first))?;
    }
    Ok(files)
}

/// The metadata and row count of a part ([`read_metadata`]); a part that opens but is not a complete Parquet file
/// (truncated by a full disk or a bad copy) is the user's to fix: an [`Error::Dataset`] naming it.
pub(crate) fn part_metadata(path: &Path) -> Result<(BTreeMap<String, String>, u64)> {
    std::fs::File::open(path).map_err(|e| Error::failed(format!("cannot read {}", path.display()), &e))?;
    read_metadata(path).map_err(|e| {
        let cause = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
        Error::dataset(
            path.display(),
            format!("not a complete Parquet file ({cause}): the part is truncated or damaged; compute its shard again"),
        )
    })
}

/// The last component of `path`, as text.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

/// Whether two parts of `dir` (name and key-value metadata each) were written by one run: the same
/// [`SAME_IN_EVERY_PART`] metadata; otherwise an [`Error::Dataset`] naming the first that differs.
pub fn check_same_run(
    dir: &Path,
    (name, kv): (&str, &BTreeMap<String, String>),
    (ref_name, ref_kv): (&str, &BTreeMap<String, String>),
) -> Result<()> {
    if let Some(key) = SAME_IN_EVERY_PART.iter().find(|k| kv.get(**k) != ref_kv.get(**k)) {
        if *key == keys::INPUT_FINGERPRINT && kv.contains_key(*key) && ref_kv.contains_key(*key) {
            let input = ref_kv.get(keys::INPUT).map_or("the input", String::as_str);
            return Err(Error::dataset(
                dir.display(),
                format!(
                    "{name} and {ref_name} were computed from different contents of {input} ({key} {} vs {}): the input changed between the runs; compute every shard from the same input",
                    kv[*key], ref_kv[*key]
                ),
            ));
        }
        return Err(Error::dataset(
            dir.display(),
            format!(
                "{name} and {ref_name} were written with different {key} ({} vs {}): they are not parts of one run",
                kv.get(*key).map_or("none", String::as_str),
                ref_kv.get(*key).map_or("none", String::as_str)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ShardBy;

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

    #[test]
    fn output_file_is_the_path_or_a_part_of_a_created_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("t.parquet");
        assert_eq!(output_file(&file, None).unwrap(), file);
        let dir = format!("{}/ds/", tmp.path().display());
        let shard = Shard { index: 2, count: 3, by: ShardBy::Id };
        let part = output_file(Path::new(&dir), Some(&shard)).unwrap();
        assert_eq!(part, Path::new(&dir).join("part-00002-of-00003.parquet"));
        assert!(tmp.path().join("ds").is_dir());
        // An existing directory is a dataset directory without the slash; no shard is part 0 of 1.
        let part = output_file(&tmp.path().join("ds"), None).unwrap();
        assert_eq!(part.file_name().unwrap(), "part-00000-of-00001.parquet");
        // A directory that cannot be created is a runtime failure with its cause.
        std::fs::write(tmp.path().join("plain"), b"x").unwrap();
        let e = output_file(Path::new(&format!("{}/plain/sub/", tmp.path().display())), None).unwrap_err();
        assert!(e.to_string().starts_with("cannot create the dataset directory"), "{e}");
        assert!(std::error::Error::source(&e).is_some() && !e.is_bad_input());
    }

    fn touch(dir: &Path, names: &[&str]) {
        for name in names {
            std::fs::write(dir.join(name), b"").unwrap();
        }
    }

    fn listing_error(dir: &Path) -> String {
        let e = list_parts(dir).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        e.to_string()
    }

    #[test]
    fn part_listing_checks_the_set() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(listing_error(dir).ends_with("no part-IIIII-of-NNNNN.parquet files in the directory"));
        touch(dir, &["part-00000-of-00003.parquet", "part-00002-of-00003.parquet", "README", "_SUCCESS"]);
        touch(dir, &[".part-00001-of-00003.parquet.x1.tmp"]);
        let e = listing_error(dir);
        assert!(e.contains("1 of 3 parts missing: part-00001-of-00003.parquet (run those shards"), "{e}");
        touch(dir, &["part-00001-of-00003.parquet"]);
        let (n, parts) = list_parts(dir).unwrap();
        assert_eq!(n, 3);
        let names: Vec<String> = parts.iter().map(|p| file_name(p)).collect();
        assert_eq!(
            names,
            ["part-00000-of-00003.parquet", "part-00001-of-00003.parquet", "part-00002-of-00003.parquet"]
        );
        touch(dir, &["part-00000-of-00002.parquet"]);
        let e = listing_error(dir);
        assert!(e.contains("parts of different shard counts (part-00000-of-00002.parquet, part-00000-of-00003"), "{e}");
        std::fs::remove_file(dir.join("part-00000-of-00002.parquet")).unwrap();
        touch(dir, &["extra.parquet"]);
        let e = listing_error(dir);
        assert!(e.contains("extra.parquet is not named part-IIIII-of-NNNNN.parquet: move it out"), "{e}");
    }

    #[test]
    fn many_missing_parts_are_named_ten_at_most() {
        let tmp = tempfile::tempdir().unwrap();
        touch(tmp.path(), &["part-00000-of-00020.parquet"]);
        let e = listing_error(tmp.path());
        assert!(e.contains("19 of 20 parts missing: part-00001-of-00020.parquet,"), "{e}");
        assert!(e.contains("part-00010-of-00020.parquet, ... (run those shards, e.g. with --shard I/20 --resume)"));
        assert!(!e.contains("part-00011"), "{e}");
    }

    #[test]
    fn missing_input_is_bad_input_and_other_runs_are_refused() {
        let e = input_files(Path::new("/nonexistent/x.parquet")).unwrap_err();
        assert_eq!(e.to_string(), "/nonexistent/x.parquet: no such file or directory");
        assert!(e.is_bad_input());
        let kv = |opts: &str| -> BTreeMap<String, String> {
            [(keys::COMMAND, "embed"), (keys::OPTIONS, opts), (keys::SHARD, "0/2"), (keys::ARGV, "a")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (a, mut b) = (kv("{}"), kv("{}"));
        b.insert(keys::SHARD.into(), "1/2".into());
        b.insert(keys::ARGV.into(), "b".into());
        check_same_run(Path::new("ds"), ("p1", &b), ("p0", &a)).unwrap();
        let e = check_same_run(Path::new("ds"), ("p1", &kv("{\"x\":1}")), ("p0", &a)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ds: p1 and p0 were written with different biotorch.options ({\"x\":1} vs {}): they are not parts of one run"
        );
        b.remove(keys::COMMAND);
        let e = check_same_run(Path::new("ds"), ("p1", &b), ("p0", &a)).unwrap_err().to_string();
        assert!(e.contains("different biotorch.command (none vs embed)"), "{e}");
        // A part written before inputs were fingerprinted does not go with one written after.
        let mut c = a.clone();
        c.insert(keys::INPUT_FINGERPRINT.into(), "size=3 sha256=ab".into());
        let e = check_same_run(Path::new("ds"), ("p1", &c), ("p0", &a)).unwrap_err().to_string();
        assert!(e.contains("written with different biotorch.input_fingerprint (size=3 sha256=ab vs none)"), "{e}");
        let mut d = c.clone();
        d.insert(keys::INPUT_FINGERPRINT.into(), "size=3 sha256=cd".into());
        let e = check_same_run(Path::new("ds"), ("p1", &d), ("p0", &c)).unwrap_err().to_string();
        assert!(e.contains("computed from different contents of the input (biotorch.input_fingerprint size=3 sha256=cd vs size=3 sha256=ab): the input changed"), "{e}");
    }
}
