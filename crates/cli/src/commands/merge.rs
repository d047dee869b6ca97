//! `biotorch merge DIR -o FILE.parquet`: the parts of a dataset directory (written with `--shard I/N`) as one
//! file, rows in input order.
//!
//! Checks first, then streams: all N parts must be there, with one shard count, the same schema and the same
//! settings (command, input, model, options); each part is read one row group at a time and the parts are merged
//! by their `index` column (each part is in input order, so this is a k-way merge), which must cover 0..total
//! exactly once. Memory holds one row group per part.

use anyhow::Result;
use biotorch_io::polars::prelude::*;
use biotorch_io::ParquetSink;
use serde_json::json;
use std::collections::BTreeMap;

use super::Ctx;
use crate::cli::MergeArgs;
use crate::dataset::{check_same_run, list_parts, read_metadata, Groups};
use crate::exit::bad_input;

/// One part file being read row group by row group.
struct Part {
    name: String,
    groups: Groups,
    buffer: DataFrame,
    indices: Vec<u64>,
    pos: usize,
}

impl Part {
    /// Loads row groups until there are unread rows; false when the part is exhausted.
    fn refill(&mut self) -> Result<bool> {
        while self.pos >= self.indices.len() {
            let Some(df) = self.groups.next()? else { return Ok(false) };
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
        bad_input!(
            "{}: not a directory (merge takes a dataset directory of part-IIIII-of-NNNNN.parquet files)",
            dir.display()
        );
    }
    let (n, parts) = list_parts(dir)?;

    // Metadata and schemas must agree.
    let mut opened: Vec<Part> = Vec::with_capacity(parts.len());
    let mut reference: Option<(String, BTreeMap<String, String>, Schema)> = None;
    let mut total_rows = 0u64;
    for (i, path) in parts.into_iter().enumerate() {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
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
        let (groups, schema) = Groups::open(&path)?;
        if !schema.contains("index") {
            bad_input!(
                "{}: {name} has no `index` column (record positions): it cannot be merged in input order",
                dir.display()
            );
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
                    bad_input!("{}: {name} and {ref_name} have different schemas ({diff})", dir.display());
                }
            }
        }
        opened.push(Part { name, groups, buffer: DataFrame::empty(), indices: Vec::new(), pos: 0 });
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
