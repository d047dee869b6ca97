//! `biotorch models`: the bundled models (every `<dir>/<name>/config.json` of the bundled folders: `data/models`
//! and `BIOTORCH_MODELS_PATH`) and the ESM models in the HuggingFace cache, as a table on stdout.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::ModelsArgs;

/// One line of the table.
struct Row {
    name: String,
    source: String,
    architecture: String,
    shape: String,
    parameters: Option<u64>,
    tokenizer: String,
    bytes: u64,
    summary: String,
}

pub(crate) fn run(ctx: &Ctx, _args: ModelsArgs) -> Result<()> {
    let resolver = super::embed::resolver();
    let mut rows = Vec::new();
    for dir in resolver.bundled_dirs() {
        for (name, path) in subdirs(dir) {
            if path.join("config.json").is_file() {
                rows.push(describe(&name, "bundled", &path));
            }
        }
    }
    let cache = resolver.hf_hub_cache();
    for (folder, _) in subdirs(cache) {
        let Some(repo_id) = folder.strip_prefix("models--").map(|r| r.replacen("--", "/", 1)) else { continue };
        let Ok(resolved) = resolver.resolve(&repo_id) else { continue };
        let config = read_json(&resolved.path.join("config.json"));
        if config.as_ref().and_then(|c| c["model_type"].as_str()) == Some("esm") {
            rows.push(describe(&repo_id, "hf-cache", &resolved.path));
        }
    }
    if rows.is_empty() {
        let bundled: Vec<String> = resolver.bundled_dirs().iter().map(|d| d.display().to_string()).collect();
        ctx.info(format!(
            "no models found (bundled folders: {}; HuggingFace cache: {})",
            if bundled.is_empty() { "none".to_string() } else { bundled.join(", ") },
            cache.display()
        ));
    } else {
        print_table(&rows)?;
    }
    ctx.write_summary(&json!({
        "models": rows.iter().map(|r| json!({
            "name": r.name, "source": r.source, "architecture": r.architecture, "shape": r.shape,
            "parameters": r.parameters, "tokenizer": r.tokenizer, "bytes": r.bytes, "summary": r.summary,
        })).collect::<Vec<_>>(),
    }))
}

/// Sub-folders of `dir` (following links), sorted by name.
fn subdirs(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(_, p)| p.is_dir())
        .collect();
    out.sort();
    out
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn describe(name: &str, source: &str, dir: &Path) -> Row {
    let config = read_json(&dir.join("config.json")).unwrap_or(Value::Null);
    let architecture =
        config["architectures"][0].as_str().or_else(|| config["model_type"].as_str()).unwrap_or("?").to_string();
    let int = |k: &str| config[k].as_i64().map_or("?".to_string(), |v| v.to_string());
    let shape = format!("{}x{}", int("num_hidden_layers"), int("hidden_size"));
    let tokenizer = match biotorch_tokenizers::load(dir) {
        Ok(t) => format!("{} ({})", t.name(), t.vocab_size()),
        Err(_) => format!("? ({})", int("vocab_size")),
    };
    let summary = read_json(&dir.join("biotorch.json"))
        .and_then(|p| p["summary"].as_str().map(str::to_string))
        .unwrap_or_default();
    Row {
        name: name.to_string(),
        source: source.to_string(),
        architecture,
        shape,
        parameters: parameters(dir),
        tokenizer,
        bytes: folder_bytes(dir),
        summary,
    }
}

/// Weights counted from the safetensors headers (`model.safetensors` or the shards of its index), rotary buffers
/// left out.
fn parameters(dir: &Path) -> Option<u64> {
    let single = dir.join("model.safetensors");
    let files: Vec<std::path::PathBuf> = if single.is_file() {
        vec![single]
    } else {
        let index = read_json(&dir.join("model.safetensors.index.json"))?;
        let mut shards: Vec<String> =
            index["weight_map"].as_object()?.values().filter_map(|v| v.as_str().map(str::to_string)).collect();
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
        let header: Value = serde_json::from_slice(&header).ok()?;
        for (key, info) in header.as_object()? {
            if key == "__metadata__" || key.ends_with("inv_freq") {
                continue;
            }
            total += info["shape"].as_array()?.iter().map(|d| d.as_u64().unwrap_or(0)).product::<u64>();
        }
    }
    Some(total)
}

/// Bytes of the files in the folder (links followed, as in the HF cache).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn human_count(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1024.0 * 1024.0 * 1024.0 => format!("{:.1} GiB", n / (1024.0 * 1024.0 * 1024.0)),
        n if n >= 1024.0 * 1024.0 => format!("{:.1} MiB", n / (1024.0 * 1024.0)),
        n if n >= 1024.0 => format!("{:.1} KiB", n / 1024.0),
        n => format!("{n:.0} B"),
    }
}

fn print_table(rows: &[Row]) -> Result<()> {
    let header = ["NAME", "SOURCE", "ARCHITECTURE", "SHAPE", "PARAMS", "TOKENIZER", "SIZE", "SUMMARY"];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.source.clone(),
                r.architecture.clone(),
                r.shape.clone(),
                r.parameters.map_or("?".to_string(), human_count),
                r.tokenizer.clone(),
                human_bytes(r.bytes),
                r.summary.clone(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let last = cols.len() - 1;
        cols.iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in &cells {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
