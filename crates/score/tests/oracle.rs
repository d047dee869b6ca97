//! biotorch-score against HF transformers' `EsmForMaskedLM`: the scores that `scripts/oracle/score_golden.py`
//! computed on the random checkpoint `small` (run `make fixtures`): masked-marginal, wt-marginal and pll for single
//! and multi-mutants of a wild type numbered from 290 (one mutation with a leading zero), and of a 128-residue
//! wild type with a context of 40 tokens (every pass a window, ProteinGym's rule); sequence pseudo-log-likelihoods.
//! Within 1e-4.

use std::path::PathBuf;

use biotorch_models::Esm2;
use biotorch_score::{Method, ScoreOptions, Scorer, Variant, WildType};
use tch::{Device, Kind};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.fixtures");

fn fixture(relative: &str) -> PathBuf {
    let path = PathBuf::from(FIXTURES).join(relative);
    assert!(path.exists(), "missing test fixture {}: run `make fixtures` first", path.display());
    path
}

#[test]
fn scores_match_hf_esm_for_masked_lm() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("score_golden/golden.json")).unwrap()).unwrap();
    let dir = fixture("esm_checkpoints/models/small");
    let model = Esm2::load(&dir, Device::Cpu, Kind::Float).unwrap();
    let tokenizer = biotorch_tokenizers::load(&dir).unwrap();
    let scorer = Scorer::new(&model, tokenizer.as_ref()).unwrap();
    let mut worst: f64 = 0.0;
    for case in golden["cases"].as_array().unwrap() {
        let wild_type = WildType::new(case["wt"].as_str().unwrap(), case["offset"].as_i64().unwrap());
        let method = match case["method"].as_str().unwrap() {
            "masked-marginal" => Method::MaskedMarginal,
            "wt-marginal" => Method::WtMarginal,
            _ => Method::Pll,
        };
        let variants: Vec<Variant> =
            case["mutants"].as_array().unwrap().iter().map(|m| wild_type.parse(m.as_str().unwrap()).unwrap()).collect();
        let refs: Vec<&Variant> = variants.iter().collect();
        let options =
            ScoreOptions { method, max_tokens: case["max_tokens"].as_u64().unwrap() as usize, batch_tokens: 300 };
        let got = scorer.score(&wild_type, &refs, &options, &mut |_, _| {}).unwrap();
        for ((g, expected), mutant) in got.iter().zip(case["scores"].as_array().unwrap()).zip(&variants) {
            let diff = (g.score - expected.as_f64().unwrap()).abs();
            worst = worst.max(diff);
            assert!(diff < 1e-4, "{} {}: {} vs {expected}", case["name"], wild_type.name(mutant), g.score);
        }
    }
    for case in golden["pll"].as_array().unwrap() {
        let seq = case["sequence"].as_str().unwrap().as_bytes();
        let options = ScoreOptions {
            method: Method::Pll,
            max_tokens: case["max_tokens"].as_u64().unwrap() as usize,
            batch_tokens: 500,
        };
        let got = scorer.pseudo_log_likelihoods(&[seq, seq], &options, &mut |_, _| {}).unwrap();
        let diff = (got[0] - case["pll"].as_f64().unwrap()).abs();
        worst = worst.max(diff);
        assert!(diff < 1e-4 && got[0] == got[1], "pll of {} residues: {} vs {}", seq.len(), got[0], case["pll"]);
    }
    eprintln!("largest difference from HF: {worst:e}");
}
