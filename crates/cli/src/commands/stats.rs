//! `biotorch stats`: one row per record (length, modality, alphabet problems or SMILES validity), a printed
//! summary and a length histogram. Memory is bounded: records stream through in batches, and lengths are kept as
//! exact counts per distinct length.

use std::collections::BTreeMap;

use anyhow::Result;
use biotorch_io::polars::prelude::*;
use biotorch_io::{FastaReader, SmilesReader};
use rayon::prelude::*;
use serde_json::json;

use super::{Ctx, TableOut};
use crate::cli::{InputFormat, StatsArgs};
use crate::input;

const BATCH: usize = 16_384;

/// Exact length distribution with constant memory in the number of records.
#[derive(Default)]
struct Lengths {
    counts: BTreeMap<u32, u64>,
    n: u64,
    sum: u64,
}

impl Lengths {
    fn add(&mut self, len: u32) {
        *self.counts.entry(len).or_default() += 1;
        self.n += 1;
        self.sum += u64::from(len);
    }

    fn quantile(&self, q: f64) -> u32 {
        let target = ((self.n as f64 - 1.0) * q).round() as u64;
        let mut seen = 0;
        for (&len, &c) in &self.counts {
            seen += c;
            if seen > target {
                return len;
            }
        }
        0
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "min": self.counts.keys().next(),
            "median": self.quantile(0.5),
            "mean": if self.n > 0 { self.sum as f64 / self.n as f64 } else { 0.0 },
            "max": self.counts.keys().next_back(),
            "total": self.sum,
        })
    }

    fn line(&self, unit: &str) -> String {
        format!(
            "{unit}: min {}, median {}, mean {:.1}, max {}",
            self.counts.keys().next().unwrap_or(&0),
            self.quantile(0.5),
            if self.n > 0 { self.sum as f64 / self.n as f64 } else { 0.0 },
            self.counts.keys().next_back().unwrap_or(&0)
        )
    }
}

pub(crate) fn run(ctx: &Ctx, args: StatsArgs) -> Result<()> {
    match input::format_of(&args.input)? {
        InputFormat::Fasta => fasta(ctx, &args),
        InputFormat::Smiles => smiles(ctx, &args),
    }
}

/// The output table of a `stats` run: the file (a part of a dataset directory, maybe) and the shard's metadata.
fn table_out(args: &StatsArgs, shard: Option<&input::Shard>) -> Result<Option<TableOut>> {
    let Some(path) = args.output.as_deref() else { return Ok(None) };
    let path = crate::dataset::output_file(path, shard)?;
    Ok(Some(TableOut::new(&path, "stats", &args.input.input).with_shard(shard)))
}

fn fasta(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let mut reader = FastaReader::from_path(&args.input.input, input::fasta_options(&args.input, true))?;
    let shard = input::shard(&args.input);
    let mut out = table_out(args, shard.as_ref())?;
    let bar = ctx.progress.records("records");
    let mut lengths = Lengths::default();
    let (mut with_invalid, mut invalid_residues) = (0u64, 0u64);
    let mut gc_total = (0u64, 0u64);
    let mut cols = FastaColumns::default();
    let mut record = biotorch_io::Record::default();
    while reader.read_record(&mut record)? {
        if shard.is_some_and(|s| !s.keep(record.index, &record.id)) {
            continue;
        }
        let len = u32::try_from(record.seq.len()).unwrap_or(u32::MAX);
        lengths.add(len);
        if record.invalid_count > 0 {
            with_invalid += 1;
            invalid_residues += record.invalid_count;
        }
        let modality = reader.modality().expect("known after the first record");
        let gc = (modality != biotorch_io::Modality::Protein).then(|| {
            let gc = record.seq.iter().filter(|&&b| b == b'G' || b == b'C' || b == b'S').count() as u64;
            let acgt =
                record.seq.iter().filter(|&&b| matches!(b, b'A' | b'C' | b'G' | b'T' | b'U' | b'S' | b'W')).count()
                    as u64;
            gc_total.0 += gc;
            gc_total.1 += acgt;
            if acgt > 0 {
                gc as f64 / acgt as f64
            } else {
                f64::NAN
            }
        });
        if out.is_some() {
            cols.push(&record, len, modality.as_str(), gc);
            if cols.index.len() >= BATCH {
                out.as_mut().expect("checked").write(cols.take()?)?;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let modality = reader.modality().expect("at least one record was read");
    let mut written = None;
    if let Some(mut out) = out {
        if !cols.index.is_empty() || !out.is_started() {
            out.write(cols.take()?)?;
        }
        written = Some(out.finish()?);
    }
    let mut summary = json!({
        "input": args.input.input.display().to_string(),
        "format": "fasta",
        "modality": modality.as_str(),
        "records": lengths.n,
        "length": lengths.json(),
        "records_with_invalid_characters": with_invalid,
        "invalid_residues": invalid_residues,
    });
    if !ctx.global.quiet {
        println!("{}: {} {} records, {} residues", args.input.input.display(), lengths.n, modality, lengths.sum);
        println!("  {}", lengths.line("length"));
        if gc_total.1 > 0 {
            println!("  GC content: {:.4}", gc_total.0 as f64 / gc_total.1 as f64);
        }
        if with_invalid > 0 {
            println!("  {with_invalid} records hold {invalid_residues} characters outside the {modality} alphabet (see invalid_chars)");
        } else {
            println!("  all residues are in the {modality} alphabet");
        }
    }
    if gc_total.1 > 0 {
        summary["gc_content"] = json!(gc_total.0 as f64 / gc_total.1 as f64);
    }
    finish(ctx, args, &lengths, "sequence length (residues)", written, summary)
}

fn finish(
    ctx: &Ctx,
    args: &StatsArgs,
    lengths: &Lengths,
    x_label: &str,
    written: Option<(std::path::PathBuf, u64)>,
    mut summary: serde_json::Value,
) -> Result<()> {
    if let Some((path, rows)) = &written {
        ctx.info(format!("wrote {} ({rows} rows)", path.display()));
        summary["output"] = json!(path.display().to_string());
    }
    if let Some(plot) = &args.plot {
        let title = format!("{} ({} records)", args.input.input.display(), lengths.n);
        crate::plot::histogram(plot, &lengths.counts, &title, x_label)?;
        ctx.info(format!("wrote {}", plot.display()));
        summary["plot"] = json!(plot.display().to_string());
    }
    ctx.write_summary(&summary)
}

#[derive(Default)]
struct FastaColumns {
    index: Vec<u64>,
    id: Vec<String>,
    description: Vec<String>,
    length: Vec<u32>,
    modality: Vec<&'static str>,
    valid: Vec<bool>,
    invalid_count: Vec<u64>,
    invalid_chars: Vec<Option<String>>,
    gc: Vec<Option<f64>>,
}

impl FastaColumns {
    fn push(&mut self, r: &biotorch_io::Record, len: u32, modality: &'static str, gc: Option<f64>) {
        self.index.push(r.index);
        self.id.push(r.id.clone());
        self.description.push(r.description.clone());
        self.length.push(len);
        self.modality.push(modality);
        self.valid.push(r.invalid.is_empty());
        self.invalid_count.push(r.invalid_count);
        self.invalid_chars.push((!r.invalid.is_empty()).then(|| String::from_utf8_lossy(&r.invalid).into_owned()));
        self.gc.push(gc);
    }

    fn take(&mut self) -> Result<DataFrame> {
        let c = std::mem::take(self);
        let height = c.index.len();
        Ok(DataFrame::new(
            height,
            vec![
                Column::new("index".into(), c.index),
                Column::new("id".into(), c.id),
                Column::new("description".into(), c.description),
                Column::new("length".into(), c.length),
                Column::new("modality".into(), c.modality),
                Column::new("valid".into(), c.valid),
                Column::new("invalid_count".into(), c.invalid_count),
                Column::new("invalid_chars".into(), c.invalid_chars),
                Column::new("gc_content".into(), c.gc),
            ],
        )?)
    }
}

fn smiles(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let reader = SmilesReader::open(&args.input.input, &input::smiles_options(&args.input))?;
    let shard = input::shard(&args.input);
    let mut out = table_out(args, shard.as_ref())?
        .map(|o| o.with_metadata("biotorch.rdkit", biotorch_chem::rdkit_version().to_string()));
    let mut seen = 0u64;
    let bar = ctx.progress.records("molecules");
    let mut heavy = Lengths::default();
    let (mut n, mut valid) = (0u64, 0u64);
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut reader = reader.peekable();
    loop {
        batch.clear();
        while batch.len() < BATCH {
            match reader.next() {
                Some(r) => {
                    let r = r?;
                    seen += 1;
                    // Rows without an id are assigned by their SMILES under --shard-by id.
                    if shard.is_none_or(|s| s.keep(r.index, r.id.as_deref().unwrap_or(&r.smiles))) {
                        batch.push(r);
                    }
                }
                None => break,
            }
        }
        if batch.is_empty() && (seen == 0 || out.as_ref().is_none_or(TableOut::is_started)) {
            break;
        }
        let canonical = !args.no_canonical;
        let checked: Vec<Checked> = batch.par_iter().map(|r| Checked::new(&r.smiles, canonical)).collect();
        for v in &checked {
            n += 1;
            if v.valid {
                valid += 1;
                heavy.add(v.num_heavy_atoms.unwrap_or(0));
            } else if let Some(reason) = &v.reason {
                *reasons.entry(reason_kind(reason)).or_default() += 1;
            }
        }
        if let Some(out) = out.as_mut() {
            let height = batch.len();
            let df = DataFrame::new(
                height,
                vec![
                    Column::new("index".into(), batch.iter().map(|r| r.index).collect::<Vec<_>>()),
                    Column::new("line".into(), batch.iter().map(|r| r.line).collect::<Vec<_>>()),
                    Column::new("id".into(), batch.iter().map(|r| r.id.clone()).collect::<Vec<_>>()),
                    Column::new("smiles".into(), batch.iter().map(|r| r.smiles.as_str()).collect::<Vec<_>>()),
                    Column::new(
                        "length".into(),
                        batch.iter().map(|r| r.smiles.chars().count() as u32).collect::<Vec<_>>(),
                    ),
                    Column::new("valid".into(), checked.iter().map(|v| v.valid).collect::<Vec<_>>()),
                    Column::new(
                        "canonical_smiles".into(),
                        checked.iter().map(|v| v.canonical.clone()).collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "num_heavy_atoms".into(),
                        checked.iter().map(|v| v.num_heavy_atoms).collect::<Vec<_>>(),
                    ),
                    Column::new("reason".into(), checked.iter().map(|v| v.reason.clone()).collect::<Vec<_>>()),
                ],
            )?;
            out.write(df)?;
        }
        bar.inc(batch.len() as u64);
        if batch.is_empty() {
            break; // an empty shard, its empty table written
        }
    }
    bar.finish_and_clear();
    if seen == 0 {
        crate::exit::bad_input!("{}: no molecules in the input", args.input.input.display());
    }
    let written = out.map(TableOut::finish).transpose()?;
    if !ctx.global.quiet {
        println!(
            "{}: {n} molecules, {valid} valid ({:.2}%), {} invalid",
            args.input.input.display(),
            100.0 * valid as f64 / n as f64,
            n - valid
        );
        if valid > 0 {
            println!("  {}", heavy.line("heavy atoms"));
        }
        for (kind, count) in &reasons {
            println!("  invalid: {count} x {kind}");
        }
    }
    let summary = json!({
        "input": args.input.input.display().to_string(),
        "format": "smiles",
        "records": n,
        "valid": valid,
        "invalid": n - valid,
        "validity": valid as f64 / n as f64,
        "heavy_atoms": heavy.json(),
        "invalid_reasons": reasons,
        "rdkit": biotorch_chem::rdkit_version(),
    });
    finish(ctx, args, &heavy, "heavy atoms (valid molecules)", written, summary)
}

/// One molecule as RDKit sees it.
struct Checked {
    valid: bool,
    canonical: Option<String>,
    num_heavy_atoms: Option<u32>,
    reason: Option<String>,
}

impl Checked {
    fn new(smiles: &str, canonical: bool) -> Self {
        match biotorch_chem::Molecule::from_smiles(smiles) {
            Ok(m) => Checked {
                valid: true,
                canonical: canonical.then(|| m.canonical_smiles(true)),
                num_heavy_atoms: Some(m.num_heavy_atoms()),
                reason: None,
            },
            Err(e) => {
                Checked { valid: false, canonical: None, num_heavy_atoms: None, reason: Some(e.reason().to_string()) }
            }
        }
    }
}

/// Groups RDKit reasons by kind for the summary ("Explicit valence for atom # 3 N, 4, ..." -> "Explicit valence").
pub(crate) fn reason_kind(reason: &str) -> String {
    let cut = reason.find(|c: char| c.is_ascii_digit() || c == ':').unwrap_or(reason.len());
    let kind = reason[..cut].trim_end_matches([' ', '#', ',', '.']);
    let kind = kind.strip_suffix(" for atom").unwrap_or(kind);
    if kind.is_empty() {
        reason.to_string()
    } else {
        kind.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_kinds_group_messages() {
        assert_eq!(reason_kind("Explicit valence for atom # 1 C, 5, is greater than permitted"), "Explicit valence");
        assert_eq!(reason_kind("SMILES Parse Error: syntax error while parsing: C1CC("), "SMILES Parse Error");
        assert_eq!(
            reason_kind("Can't kekulize mol.  Unkekulized atoms: 0 1 2"),
            "Can't kekulize mol.  Unkekulized atoms"
        );
    }

    #[test]
    fn median_from_counts() {
        let mut l = Lengths::default();
        for v in [5, 1, 3, 3, 100] {
            l.add(v);
        }
        assert_eq!((l.quantile(0.5), l.quantile(0.0), l.quantile(1.0)), (3, 1, 100));
    }
}
