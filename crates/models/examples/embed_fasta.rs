//! biotorch as a library: embed every record of a FASTA file with an ESM-2-style model, no CLI involved.
//!
//! `cargo run --release -p biotorch-models --example embed_fasta -- data/demo/swissprot_100.fasta protein-small`
//! prints one line per record: its id and its embedding (mean of the last layer), tab-separated.

use biotorch_io::{FastaOptions, FastaReader};
use biotorch_models::embed::{EmbedPlan, Embedder, LongPolicy, Specials};
use biotorch_models::{Esm2, Resolver};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fasta, model] = args.as_slice() else { return Err("usage: embed_fasta FASTA MODEL".into()) };
    // A folder, a bundled name (data/models) or a HuggingFace repo id in the local cache.
    let dir = Resolver::from_env().with_bundled_dir("data/models").resolve(model)?.path;
    let esm = Esm2::load(&dir, tch::Device::Cpu, tch::Kind::Float)?;
    let tokenizer = biotorch_tokenizers::load(&dir)?;
    let plan = EmbedPlan::mean_of_last(esm.num_layers(), 1022, LongPolicy::Truncate, 1024);
    let embedder = Embedder::new(plan, Specials::of(tokenizer.as_ref())?)?;
    let (mut ids, mut tokens) = (Vec::new(), Vec::new());
    let mut reader = FastaReader::from_path(fasta, FastaOptions::default())?;
    for record in reader.records() {
        let record = record?;
        tokens.push(tokenizer.encode_no_special(&record.seq_str())?.into_iter().map(i64::from).collect::<Vec<_>>());
        ids.push(record.id);
    }
    let items: Vec<&[i64]> = tokens.iter().map(Vec::as_slice).collect();
    for (id, row) in ids.iter().zip(embedder.embed(&esm, &items)?) {
        let values: Vec<String> = row.vectors[0].iter().map(f32::to_string).collect();
        println!("{id}\t{}", values.join("\t"));
    }
    Ok(())
}
