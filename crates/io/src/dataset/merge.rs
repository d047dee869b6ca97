//! Merging the parts of a dataset directory (written with `--shard I/N`) into one table, rows in input order.
//!
//! Checks first, then streams: the output must not be inside the directory, all N parts must be there and complete,
//! with one shard count, the same schema and the same settings (command, input and its content, model, options);
//! each part is read one row group at a time and the parts are merged by
//! their `index` column (each part is in input order, so this is a k-way merge), which must cover 0..total exactly
//! once. Memory holds one row group per part.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::groups::RowGroups;
use super::keys;
use super::overlap::check_output;
use super::parts::{check_same_run, file_name, list_parts, part_metadata};
use crate::error::{Error, Result};
use crate::table::TableSink;

/// Progress of [`merge_parts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeEvent {
    /// The parts passed the checks; writing starts.
    Checked {
        /// The number of parts.
        parts: u64,
        /// Their rows together.
        rows: u64,
    },
    /// A batch of rows was written.
    Wrote(u64),
}

/// What [`merge_parts`] wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The number of parts, N.
    pub parts: u64,
    /// The rows of the merged table.
    pub rows: u64,
    /// The table's schema (the parts').
    pub schema: Schema,
}

/// One part file being read row group by row group.
struct Part {
    name: String,
    groups: RowGroups,
    buffer: DataFrame,
    indices: Vec<u64>,
    pos: usize,
}

impl Part {
    /// Loads row groups until there are unread rows; false when the part is exhausted.
    fn refill(&mut self) -> Result<bool> {
        while self.pos >= self.indices.len() {
            let Some(df) = self.groups.next_group()? else { return Ok(false) };
            let indices: Vec<u64> =
                df.column("index").and_then(|c| c.u64()).map_err(|e| Error::backend(&e))?.into_no_null_iter().collect();
            let mut prev = self.indices.last().copied();
            for &i in &indices {
                if let Some(p) = prev.filter(|&p| p >= i) {
                    return Err(Error::dataset(
                        &self.name,
                        format!("record index {i} follows {p}: the part is not in input order (was it written by biotorch?)"),
                    ));
                }
                prev = Some(i);
            }
            self.buffer = df;
            self.indices = indices;
            self.pos = 0;
        }
        Ok(true)
    }
}

/// Writes the parts of the dataset directory `dir` to `output` as one table, rows in input order (see the module
/// documentation for the checks); a `.csv` or `.tsv` output is written as text ([`TableFormat`](crate::TableFormat)).
/// The merged file keeps the parts' metadata, less what only described one shard
/// (shard, shard_by, argv), plus [`keys::MERGED_PARTS`] and `argv` when given. `progress` hears when the checks passed
/// and each batch of rows written.
pub fn merge_parts(
    dir: &Path,
    output: &Path,
    argv: Option<&str>,
    progress: &mut dyn FnMut(MergeEvent),
) -> Result<Merged> {
    if !dir.is_dir() {
        return Err(Error::dataset(
            dir.display(),
            "not a directory (merge takes a dataset directory of part-IIIII-of-NNNNN.parquet files)",
        ));
    }
    check_output(output, &[dir])?;
    let (n, paths) = list_parts(dir)?;

    // Metadata and schemas must agree.
    let mut parts: Vec<Part> = Vec::with_capacity(paths.len());
    let mut reference: Option<(String, BTreeMap<String, String>, Schema)> = None;
    let mut total_rows = 0u64;
    for (i, path) in paths.into_iter().enumerate() {
        let name = file_name(&path);
        let (kv, rows) = part_metadata(&path)?;
        total_rows += rows;
        if let Some(shard) = kv.get(keys::SHARD) {
            if *shard != format!("{i}/{n}") {
                return Err(Error::dataset(
                    dir.display(),
                    format!(
                        "{name} holds shard {shard} (by its metadata), not {i}/{n}: it duplicates another part or was renamed; remove it"
                    ),
                ));
            }
        }
        let (groups, schema) = RowGroups::open(&path)?;
        if !schema.contains("index") {
            return Err(Error::dataset(
                dir.display(),
                format!("{name} has no `index` column (record positions): it cannot be merged in input order"),
            ));
        }
        match &reference {
            None => reference = Some((name.clone(), kv, schema)),
            Some((ref_name, ref_kv, ref_schema)) => {
                check_same_run(dir, (&name, &kv), (ref_name, ref_kv))?;
                if schema != *ref_schema {
                    let diff = schema
                        .iter()
                        .zip(ref_schema.iter())
                        .find(|(a, b)| a != b)
                        .map(|((n1, t1), (n2, t2))| format!("column {n1}: {t1} vs column {n2}: {t2}"))
                        .unwrap_or_else(|| format!("{} vs {} columns", schema.len(), ref_schema.len()));
                    return Err(Error::dataset(
                        dir.display(),
                        format!("{name} and {ref_name} have different schemas ({diff})"),
                    ));
                }
            }
        }
        parts.push(Part { name, groups, buffer: DataFrame::empty(), indices: Vec::new(), pos: 0 });
    }
    let (_, ref_kv, schema) = reference.expect("at least one part");

    let mut metadata: Vec<(String, String)> =
        ref_kv.into_iter().filter(|(k, _)| ![keys::SHARD, keys::SHARD_BY, keys::ARGV].contains(&k.as_str())).collect();
    metadata.push((keys::MERGED_PARTS.to_string(), n.to_string()));
    metadata.extend(argv.map(|a| (keys::ARGV.to_string(), a.to_string())));
    let mut sink = TableSink::create(output, &schema, metadata)?;
    progress(MergeEvent::Checked { parts: n, rows: total_rows });
    let mut expected = 0u64;
    let mut last_part = usize::MAX;
    loop {
        let mut active = Vec::new();
        for (p, part) in parts.iter_mut().enumerate() {
            if part.refill()? {
                active.push(p);
            }
        }
        if active.is_empty() {
            break;
        }
        // Every row up to the smallest of the buffers' last indices is in memory now.
        let bound = active.iter().map(|&p| *parts[p].indices.last().expect("refilled")).min().expect("non-empty");
        let mut pieces: Vec<DataFrame> = Vec::new();
        let mut keys: Vec<(u64, usize)> = Vec::new();
        for &p in &active {
            let part = &mut parts[p];
            let take = part.indices[part.pos..].partition_point(|&i| i <= bound);
            pieces.push(part.buffer.slice(part.pos as i64, take));
            keys.extend(part.indices[part.pos..part.pos + take].iter().map(|&i| (i, p)));
            part.pos += take;
        }
        let mut batch = pieces.remove(0);
        for piece in &pieces {
            batch.vstack_mut(piece).map_err(|e| Error::backend(&e))?;
        }
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&k| keys[k].0);
        for &k in &order {
            let (index, p) = keys[k];
            if index < expected {
                return Err(Error::dataset(
                    dir.display(),
                    format!(
                        "record index {index} is in {} and in {}: the parts overlap (were they written with the same --shard-by?)",
                        parts[last_part].name, parts[p].name
                    ),
                ));
            }
            if index > expected {
                return Err(Error::dataset(
                    dir.display(),
                    format!(
                        "record index {expected} is in no part (the next one, {index}, is in {}): the parts do not cover the input",
                        parts[p].name
                    ),
                ));
            }
            expected += 1;
            last_part = p;
        }
        let take = IdxCa::from_vec("".into(), order.iter().map(|&k| k as IdxSize).collect());
        let mut batch = batch.take(&take).map_err(|e| Error::backend(&e))?;
        sink.write(&mut batch)?;
        progress(MergeEvent::Wrote(batch.height() as u64));
    }
    let rows = sink.finish()?;
    debug_assert_eq!(rows, total_rows);
    Ok(Merged { parts: n, rows, schema })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{part_name, read_metadata, Shard, ShardBy, TableWriter};

    /// Writes `rows` (index, value) as part `i` of `n`, in row groups of `group` rows, as a sharded command would.
    fn part(dir: &Path, i: u64, n: u64, rows: &[u64], group: usize, options: &str) {
        let shard = Shard { index: i, count: n, by: ShardBy::Index };
        let mut out = TableWriter::new(dir.join(part_name(i, n)), "stats", Path::new("in.fa"))
            .with_argv(format!("biotorch stats --shard {i}/{n}"))
            .with_metadata(keys::OPTIONS, options)
            .with_shard(Some(&shard));
        for chunk in rows.chunks(group.max(1)) {
            let values: Vec<String> = chunk.iter().map(|r| format!("r{r}")).collect();
            out.write(df!("index" => chunk, "value" => values).unwrap()).unwrap();
        }
        if rows.is_empty() {
            out.write(df!("index" => Vec::<u64>::new(), "value" => Vec::<String>::new()).unwrap()).unwrap();
        }
        out.finish().unwrap();
    }

    fn round_robin(total: u64, i: u64, n: u64) -> Vec<u64> {
        (0..total).filter(|r| r % n == i).collect()
    }

    fn merge(dir: &Path, out: &Path) -> Result<Merged> {
        merge_parts(dir, out, Some("biotorch merge"), &mut |_| {})
    }

    #[test]
    fn k_way_merge_restores_input_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ds");
        std::fs::create_dir(&dir).unwrap();
        // Uneven row groups per part, and an empty part (more shards than records in it).
        part(&dir, 0, 4, &round_robin(23, 0, 4), 2, "{}");
        part(&dir, 1, 4, &round_robin(23, 1, 4), 5, "{}");
        part(&dir, 2, 4, &round_robin(23, 2, 4), 1, "{}");
        part(&dir, 3, 4, &round_robin(23, 3, 4), 3, "{}");
        let out = tmp.path().join("m.parquet");
        let (mut written, mut checked) = (0, None);
        let merged = merge_parts(&dir, &out, Some("biotorch merge ds"), &mut |event| match event {
            MergeEvent::Checked { parts, rows } => checked = Some((parts, rows)),
            MergeEvent::Wrote(rows) => written += rows,
        })
        .unwrap();
        assert_eq!((merged.parts, merged.rows, written, checked), (4, 23, 23, Some((4, 23))));
        assert_eq!(merged.schema.iter_names().map(|n| n.as_str()).collect::<Vec<_>>(), ["index", "value"]);
        let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
        let index: Vec<u64> = df.column("index").unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!(index, (0..23).collect::<Vec<_>>());
        assert_eq!(df.column("value").unwrap().str().unwrap().get(22), Some("r22"));
        let (kv, _) = read_metadata(&out).unwrap();
        assert_eq!(kv.get(keys::MERGED_PARTS).map(String::as_str), Some("4"));
        assert_eq!(kv.get(keys::ARGV).map(String::as_str), Some("biotorch merge ds"));
        assert!(!kv.contains_key(keys::SHARD) && !kv.contains_key(keys::SHARD_BY));
        assert_eq!(kv.get(keys::COMMAND).map(String::as_str), Some("stats"));
    }

    #[test]
    fn parts_that_do_not_cover_the_input_once_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("m.parquet");
        let cases: [(&[u64], &[u64], &str); 3] = [
            (&[0, 2, 4], &[1, 2, 5], "record index 2 is in part-00000-of-00002.parquet and in part-00001-of-00002.parquet: the parts overlap"),
            (&[0, 2], &[1, 5], "record index 3 is in no part (the next one, 5, is in part-00001-of-00002.parquet): the parts do not cover the input"),
            (&[0, 4, 2], &[1, 3], "part-00000-of-00002.parquet: record index 2 follows 4: the part is not in input order"),
        ];
        for (k, (a, b, says)) in cases.into_iter().enumerate() {
            let dir = tmp.path().join(format!("ds{k}"));
            std::fs::create_dir(&dir).unwrap();
            part(&dir, 0, 2, a, 10, "{}");
            part(&dir, 1, 2, b, 10, "{}");
            let e = merge(&dir, &out).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains(says), "{e}");
            assert!(!out.exists(), "no output after a failed merge");
        }
    }

    #[test]
    fn parts_of_other_runs_shards_or_schemas_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("m.parquet");
        let e = merge(&tmp.path().join("none"), &out).unwrap_err();
        assert!(e
            .to_string()
            .ends_with("none: not a directory (merge takes a dataset directory of part-IIIII-of-NNNNN.parquet files)"));

        let dir = tmp.path().join("options");
        std::fs::create_dir(&dir).unwrap();
        part(&dir, 0, 2, &[0], 10, "{}");
        part(&dir, 1, 2, &[1], 10, "{\"x\":1}");
        let e = merge(&dir, &out).unwrap_err().to_string();
        assert!(
            e.contains("were written with different biotorch.options") && e.contains("not parts of one run"),
            "{e}"
        );

        let dir = tmp.path().join("renamed");
        std::fs::create_dir(&dir).unwrap();
        part(&dir, 0, 2, &[0], 10, "{}");
        part(&dir, 1, 2, &[1], 10, "{}");
        std::fs::copy(dir.join(part_name(0, 2)), dir.join(part_name(1, 2))).unwrap();
        let e = merge(&dir, &out).unwrap_err().to_string();
        assert!(e.contains("part-00001-of-00002.parquet holds shard 0/2 (by its metadata), not 1/2"), "{e}");

        let dir = tmp.path().join("schema");
        std::fs::create_dir(&dir).unwrap();
        part(&dir, 0, 2, &[0], 10, "{}");
        let shard = Shard { index: 1, count: 2, by: ShardBy::Index };
        let mut w = TableWriter::new(dir.join(part_name(1, 2)), "stats", Path::new("in.fa"))
            .with_metadata(keys::OPTIONS, "{}")
            .with_shard(Some(&shard));
        w.write(df!("index" => [1u64], "value" => [1.5f64]).unwrap()).unwrap();
        w.finish().unwrap();
        let e = merge(&dir, &out).unwrap_err().to_string();
        assert!(e.contains("have different schemas (column value: f64 vs column value: str)"), "{e}");

        let dir = tmp.path().join("noindex");
        std::fs::create_dir(&dir).unwrap();
        let mut w = TableWriter::new(dir.join(part_name(0, 1)), "stats", Path::new("in.fa"));
        w.write(df!("id" => ["a"]).unwrap()).unwrap();
        w.finish().unwrap();
        let e = merge(&dir, &out).unwrap_err().to_string();
        assert!(e.contains("has no `index` column (record positions)"), "{e}");
        assert!(!out.exists());
    }

    #[test]
    fn parts_of_two_versions_of_the_input_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, input) = (tmp.path().join("ds"), tmp.path().join("in.fa"));
        std::fs::create_dir(&dir).unwrap();
        let write_part = |i: u64| {
            let shard = Shard { index: i, count: 2, by: ShardBy::Index };
            let mut w = TableWriter::new(dir.join(part_name(i, 2)), "stats", &input).with_shard(Some(&shard));
            w.write(df!("index" => [i]).unwrap()).unwrap();
            w.finish().unwrap();
        };
        std::fs::write(&input, ">a\nMK\n>b\nMV\n").unwrap();
        write_part(0);
        // (Another size too: within one process, fingerprints are kept by path, size and modification time.)
        std::fs::write(&input, ">a\nMK\n>b\nMWW\n").unwrap();
        write_part(1);
        let out = tmp.path().join("m.parquet");
        let e = merge(&dir, &out).unwrap_err();
        assert!(e.is_bad_input());
        let e = e.to_string();
        assert!(
            e.contains(&format!(
                "were computed from different contents of {} (biotorch.input_fingerprint size=13 sha256=",
                input.display()
            )),
            "{e}"
        );
        assert!(e.ends_with("the input changed between the runs; compute every shard from the same input"), "{e}");
        // The same check guards the readers of dataset directories (select, evaluate).
        assert_eq!(crate::dataset::input_files(&dir).unwrap_err().to_string(), e);
        write_part(1);
        write_part(0);
        assert_eq!(merge(&dir, &out).unwrap().rows, 2);
        let (kv, _) = read_metadata(&out).unwrap();
        assert_eq!(kv[keys::INPUT_FINGERPRINT], crate::digest::input_fingerprint(&input).unwrap().unwrap());
    }

    #[test]
    fn a_truncated_part_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ds");
        std::fs::create_dir(&dir).unwrap();
        part(&dir, 0, 2, &[0, 2], 10, "{}");
        part(&dir, 1, 2, &[1], 10, "{}");
        let cut = dir.join(part_name(1, 2));
        let bytes = std::fs::read(&cut).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let out = tmp.path().join("m.parquet");
        let e = merge(&dir, &out).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        let e = e.to_string();
        assert!(e.starts_with(&format!("{}: not a complete Parquet file (", cut.display())), "{e}");
        assert!(e.ends_with("): the part is truncated or damaged; compute its shard again"), "{e}");
        assert_eq!(crate::dataset::input_files(&dir).unwrap_err().to_string(), e);
        assert!(!out.exists());
    }

    #[test]
    fn the_output_cannot_go_into_the_directory_merged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ds");
        std::fs::create_dir(&dir).unwrap();
        part(&dir, 0, 1, &[0, 1], 10, "{}");
        for out in [dir.join("merged.parquet"), dir.join("part-00001-of-00002.parquet"), tmp.path().to_path_buf()] {
            let e = merge(&dir, &out).unwrap_err();
            assert!(e.is_bad_input() && matches!(e, Error::OutputOverInput { .. }), "{e}");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing written into the directory");
    }

    #[test]
    fn merged_into_csv() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ds");
        std::fs::create_dir(&dir).unwrap();
        part(&dir, 0, 2, &[0, 2], 1, "{}");
        part(&dir, 1, 2, &[1], 1, "{}");
        let out = tmp.path().join("m.csv");
        assert_eq!(merge(&dir, &out).unwrap().rows, 3);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "index,value\n0,r0\n1,r1\n2,r2\n");
    }
}
