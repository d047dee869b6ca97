//! `biotorch merge DIR -o FILE.parquet`: the parts of a dataset directory (written with `--shard I/N`) as one
//! file, rows in input order.
//!
//! Checks first, then streams: all N parts must be there, with one shard count, the same schema and the same
//! settings (command, input, model, options); each part is read one row group at a time and the parts are merged
//! by their `index` column (each part is in input order, so this is a k-way merge), which must cover 0..total
//! exactly once. Memory holds one row group per part.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use biotorch_io::polars::prelude::*;
use biotorch_io::ParquetSink;
use serde_json::json;

use super::Ctx;
use crate::cli::MergeArgs;
use crate::dataset::{parse_part_name, part_name, read_metadata, SAME_IN_EVERY_PART};
use crate::exit::bad_input;


/// One part file being read row group by row group.
struct Part {
    name: String,
    path: PathBuf,
    metadata: biotorch_io::polars::io::parquet::metadata::FileMetadataRef,
    next_group: usize,
    next_offset: usize,
    buffer: DataFrame,
    indices: Vec<u64>,
    pos: usize,
}

impl Part {
    /// Loads row groups until there are unread rows; false when the part is exhausted.
    fn refill(&mut self) -> Result<bool> {
        while self.pos >= self.indices.len() {
            let Some(group) = self.metadata.row_groups.get(self.next_group) else { return Ok(false) };
            let rows = group.num_rows();
            let mut reader = ParquetReader::new(std::fs::File::open(&self.path)?);
            reader.set_metadata(self.metadata.clone());
            let df = reader
                .with_slice(Some((self.next_offset, rows)))
                .finish();
            let df = anyhow::Context::with_context(df, || format!("{}: cannot read row group {}", self.path.display(), self.next_group))?;
            self.next_group += 1;
            self.next_offset += rows;
            let indices: Vec<u64> = df.column("index")?.u64()?.into_no_null_iter().collect();
            let mut prev = self.indices.last().copied();
            for &i in &indices {
                if let Some(p) = prev.filter(|&p| p >= i) {
                    bad_input!("{}: record index {i} follows {p}: the part is not in input order (was it written by biotorch?)", self.name);
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

pub(crate) fn run(ctx: &Ctx, args: MergeArgs) -> Result<()> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bad_input!("{}: not a directory (merge takes a dataset directory of part-IIIII-of-NNNNN.parquet files)", dir.display());
    }
    // The part files, by shard number; checks that they form one complete set.
    let mut parts: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    let mut counts: BTreeMap<u64, String> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue; // temporary files of running shards, _SUCCESS markers and the like
        }
        match parse_part_name(&name) {
            Some((i, n)) => {
                counts.entry(n).or_insert_with(|| name.clone());
                parts.insert(i, (name, n));
            }
            None if name.ends_with(".parquet") => {
                bad_input!("{}: {name} is not named part-IIIII-of-NNNNN.parquet: move it out of the dataset directory", dir.display())
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

    // Metadata and schemas must agree.
    let mut opened: Vec<Part> = Vec::with_capacity(parts.len());
    let mut reference: Option<(String, BTreeMap<String, String>, Schema)> = None;
    let mut total_rows = 0u64;
    for (&i, (name, _)) in &parts {
        let path = dir.join(name);
        let (kv, rows) = read_metadata(&path)?;
        total_rows += rows;
        if let Some(shard) = kv.get("biotorch.shard") {
            if *shard != format!("{i}/{n}") {
                bad_input!(
                    "{}: {name} holds shard {shard} (by its metadata), not {i}/{n}: it duplicates another part or was renamed; remove it",
                    dir.display()
                );
            }
        }
        let mut reader = ParquetReader::new(std::fs::File::open(&path)?);
        let schema = Schema::from_arrow_schema(reader.schema()?.as_ref());
        let metadata = reader.get_metadata()?.clone();
        if !schema.contains("index") {
            bad_input!("{}: {name} has no `index` column (record positions): it cannot be merged in input order", dir.display());
        }
        match &reference {
            None => reference = Some((name.clone(), kv, schema)),
            Some((ref_name, ref_kv, ref_schema)) => {
                for key in SAME_IN_EVERY_PART {
                    if kv.get(*key) != ref_kv.get(*key) {
                        bad_input!(
                            "{}: {name} and {ref_name} were written with different {key} ({} vs {}): they are not parts of one run",
                            dir.display(),
                            kv.get(*key).map_or("none", String::as_str),
                            ref_kv.get(*key).map_or("none", String::as_str)
                        );
                    }
                }
                if schema != *ref_schema {
                    let diff = schema
                        .iter()
                        .zip(ref_schema.iter())
                        .find(|(a, b)| a != b)
                        .map(|((n1, t1), (n2, t2))| format!("column {n1}: {t1} vs column {n2}: {t2}"))
                        .unwrap_or_else(|| format!("{} vs {} columns", schema.len(), ref_schema.len()));
                    bad_input!("{}: {name} and {ref_name} have different schemas ({diff})", dir.display());
                }
            }
        }
        opened.push(Part {
            name: name.clone(),
            path,
            metadata,
            next_group: 0,
            next_offset: 0,
            buffer: DataFrame::empty(),
            indices: Vec::new(),
            pos: 0,
        });
    }
    let (_, ref_kv, schema) = reference.expect("at least one part");

    // The merged file keeps the parts' metadata, less what only described one shard.
    let mut metadata: Vec<(String, String)> = ref_kv
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "biotorch.shard" | "biotorch.shard_by" | "biotorch.argv"))
        .collect();
    metadata.push(("biotorch.merged_parts".to_string(), n.to_string()));
    metadata.push(("biotorch.argv".to_string(), std::env::args().collect::<Vec<_>>().join(" ")));
    let mut sink = ParquetSink::create(&args.output, &schema, metadata)?;
    let bar = ctx.progress.records("merging");
    let mut expected = 0u64;
    let mut last_part = usize::MAX;
    loop {
        let mut active = Vec::new();
        for (p, part) in opened.iter_mut().enumerate() {
            if part.refill()? {
                active.push(p);
            }
        }
        if active.is_empty() {
            break;
        }
        // Every row up to the smallest of the buffers' last indices is in memory now.
        let bound = active.iter().map(|&p| *opened[p].indices.last().expect("refilled")).min().expect("non-empty");
        let mut pieces: Vec<DataFrame> = Vec::new();
        let mut keys: Vec<(u64, usize)> = Vec::new();
        for &p in &active {
            let part = &mut opened[p];
            let take = part.indices[part.pos..].partition_point(|&i| i <= bound);
            pieces.push(part.buffer.slice(part.pos as i64, take));
            keys.extend(part.indices[part.pos..part.pos + take].iter().map(|&i| (i, p)));
            part.pos += take;
        }
        let mut batch = pieces.remove(0);
        for piece in &pieces {
            batch.vstack_mut(piece)?;
        }
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&k| keys[k].0);
        for &k in &order {
            let (index, p) = keys[k];
            if index < expected {
                bad_input!(
                    "{}: record index {index} is in {} and in {}: the parts overlap (were they written with the same --shard-by?)",
                    dir.display(),
                    opened[last_part].name,
                    opened[p].name
                );
            }
            if index > expected {
                bad_input!(
                    "{}: record index {expected} is in no part (the next one, {index}, is in {}): the parts do not cover the input",
                    dir.display(),
                    opened[p].name
                );
            }
            expected += 1;
            last_part = p;
        }
        let take = IdxCa::from_vec("".into(), order.iter().map(|&k| k as IdxSize).collect());
        let mut batch = batch.take(&take)?;
        sink.write(&mut batch)?;
        bar.inc(batch.height() as u64);
    }
    bar.finish_and_clear();
    let rows = sink.finish()?;
    debug_assert_eq!(rows, total_rows);
    ctx.info(format!("wrote {} ({rows} rows from {n} parts of {})", args.output.display(), dir.display()));
    if let Some(plot) = &args.plot {
        if !schema.contains("embedding") {
            bad_input!("--plot draws the `embedding` column, which the merged table does not have");
        }
        crate::pca::plot_embeddings(ctx, &args.output, plot, args.labels.as_deref(), args.label_column.as_deref())?;
    }
    ctx.write_summary(&json!({
        "input": dir.display().to_string(),
        "output": args.output.display().to_string(),
        "parts": n,
        "rows": rows,
    }))
}
