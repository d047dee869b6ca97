//! `biotorch models`: the bundled models (every `<dir>/<name>/config.json` of the bundled folders: `data/models`
//! and `BIOTORCH_MODELS_PATH`) and the ESM models in the HuggingFace cache, as a table on stdout. The listing is
//! [`biotorch_models::resolve::list_models`]; the tokenizer column is read here.

use std::io::Write;

use anyhow::Result;
use biotorch_models::resolve::{list_models, ModelInfo};
use clap::Args;
use serde_json::json;

use crate::ctx::Ctx;

#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {}

pub(crate) fn run(ctx: &Ctx, _args: ModelsArgs) -> Result<()> {
    let resolver = crate::args::resolver();
    let models = list_models(&resolver);
    let tokenizers: Vec<String> = models.iter().map(tokenizer).collect();
    if models.is_empty() {
        ctx.info(format!(
            "no models found (bundled folders: {}; HuggingFace cache: {})",
            resolver.bundled_dirs_shown(),
            resolver.hf_hub_cache().display()
        ));
    } else {
        print_table(&models, &tokenizers)?;
    }
    ctx.write_summary(&json!({
        "models": models.iter().zip(&tokenizers).map(|(m, tokenizer)| json!({
            "name": m.name, "source": m.source.to_string(), "architecture": m.architecture, "shape": m.shape(),
            "parameters": m.parameters, "tokenizer": tokenizer, "bytes": m.bytes, "summary": m.summary,
        })).collect::<Vec<_>>(),
    }))
}

/// The tokenizer's name and vocabulary size, as `esm2 (33)`; `? (N)` with the config's size when it cannot be read.
fn tokenizer(model: &ModelInfo) -> String {
    match biotorch_tokenizers::load(&model.dir) {
        Ok(t) => format!("{} ({})", t.name(), t.vocab_size()),
        Err(_) => format!("? ({})", model.vocab_size.map_or("?".to_string(), |v| v.to_string())),
    }
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

fn print_table(models: &[ModelInfo], tokenizers: &[String]) -> Result<()> {
    let header = ["NAME", "SOURCE", "ARCHITECTURE", "SHAPE", "PARAMS", "TOKENIZER", "SIZE", "SUMMARY"];
    let cells: Vec<[String; 8]> = models
        .iter()
        .zip(tokenizers)
        .map(|(m, tokenizer)| {
            [
                m.name.clone(),
                m.source.to_string(),
                m.architecture.clone(),
                m.shape(),
                m.parameters.map_or("?".to_string(), human_count),
                tokenizer.clone(),
                human_bytes(m.bytes),
                m.summary.clone(),
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
