//! Accuracy gates of the reduced-precision tiers on CPU: the mean embedding (last layer) of real proteins in bf16 and
//! int8 against fp32, per sequence, on the bundled `protein-small` and on the random-weight t6-shaped checkpoint that
//! HF transformers wrote (`make fixtures`). Gates: cosine ≥ 0.9999 for bf16, ≥ 0.999 for int8. The worst cosine and
//! the largest absolute difference are printed (`--nocapture`) so that docs can quote them.

use std::path::{Path, PathBuf};

use biotorch_io::{FastaOptions, FastaReader};
use biotorch_models::embed::{EmbedPlan, Embedder, LongPolicy, Specials};
use biotorch_models::{Error, Esm2, Esm2Request, Precision};
use tch::{Device, Kind, Tensor};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The first 40 SwissProt proteins of the demo file, truncated at 600 residues.
fn proteins(tokenizer: &dyn biotorch_tokenizers::Tokenizer) -> Vec<Vec<i64>> {
    let path = Path::new(ROOT).join("data/demo/swissprot_100.fasta");
    let mut reader = FastaReader::from_path(&path, FastaOptions::default()).unwrap();
    reader
        .records()
        .take(40)
        .map(|r| tokenizer.encode_no_special(&r.unwrap().seq_str()).unwrap().into_iter().map(i64::from).collect())
        .collect()
}

/// `[n, hidden]` mean embeddings of the proteins.
fn embed(dir: &Path, precision: Precision) -> Tensor {
    let model = Esm2::load_precision(dir, Device::Cpu, precision).unwrap();
    assert_eq!(model.precision(), precision);
    let tokenizer = biotorch_tokenizers::load(dir).unwrap();
    let plan = EmbedPlan::mean_of_last(model.num_layers(), 600, LongPolicy::Truncate, 2048);
    let embedder = Embedder::new(plan, Specials::of(tokenizer.as_ref()).unwrap()).unwrap();
    let tokens = proteins(tokenizer.as_ref());
    let items: Vec<&[i64]> = tokens.iter().map(Vec::as_slice).collect();
    let rows: Vec<Tensor> =
        embedder.embed(&model, &items).unwrap().into_iter().map(|e| Tensor::from_slice(&e.vectors[0])).collect();
    Tensor::stack(&rows, 0)
}

/// (worst per-sequence cosine, largest absolute difference) of `approx` against `exact`.
fn compare(exact: &Tensor, approx: &Tensor) -> (f64, f64) {
    let cos = Tensor::cosine_similarity(exact, approx, 1, 1e-12).min().double_value(&[]);
    let diff = (exact - approx).abs().max().double_value(&[]);
    (cos, diff)
}

fn gates(name: &str, dir: &Path) {
    let exact = embed(dir, Precision::F32);
    for (precision, gate) in [(Precision::Bf16, 0.9999), (Precision::Int8, 0.999)] {
        let approx = embed(dir, precision);
        let (cos, diff) = compare(&exact, &approx);
        let scale = exact.abs().max().double_value(&[]);
        println!(
            "{name} {}: min cosine to f32 {cos:.6}, max abs diff {diff:.3e} (largest |value| {scale:.3})",
            precision.name()
        );
        assert!(cos >= gate, "{name} {}: min cosine {cos} under the gate {gate}", precision.name());
        // Each tier does change the numbers: a test that compared f32 with itself would pass the gate too.
        assert!(diff > 1e-6, "{name} {}: identical to f32", precision.name());
    }
}

#[test]
fn bf16_and_int8_embeddings_of_protein_small_pass_the_gates() {
    gates("protein-small", &Path::new(ROOT).join("data/models/protein-small"));
}

#[test]
fn bf16_and_int8_embeddings_of_a_random_t6_checkpoint_pass_the_gates() {
    let dir = PathBuf::from(ROOT).join(".fixtures/esm_checkpoints/models/t6");
    assert!(dir.exists(), "missing test fixture {}: run `make fixtures` first", dir.display());
    gates("random t6", &dir);
}

#[test]
fn int8_is_refused_where_it_cannot_run() {
    let dir = Path::new(ROOT).join("data/models/protein-small");
    let mut bf16 = Esm2::load(&dir, Device::Cpu, Kind::BFloat16).unwrap();
    assert!(bf16.quantize_int8().unwrap_err().to_string().contains("starts from f32"));
    let mut model = Esm2::load(&dir, Device::Cpu, Kind::Float).unwrap();
    model.quantize_int8().unwrap();
    let ids = Tensor::from_slice(&[0i64, 5, 6, 7, 2]).unsqueeze(0);
    let mask = ids.ones_like();
    let err = model.forward_t(&ids, &mask, &Esm2Request::default(), true).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("inference only"), "{err}");
    // The logits (fp32 LM head over int8 layers) still come out for inference.
    let request = Esm2Request { logits: true, ..Esm2Request::default() };
    let logits = model.forward(&ids, &mask, &request).unwrap().logits.unwrap();
    assert_eq!(logits.size(), vec![1, 5, 33]);
}
