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

/// Causal log-likelihoods against HF `LlamaForCausalLM` (one unpadded sequence at a time): a random protein CLM over
/// the ESM-2 vocabulary, and the bundled smiles-small on SMILES; biotorch batches them padded, whatever the budget.
#[test]
fn causal_log_likelihoods_match_hf_llama_for_causal_lm() {
    use biotorch_models::{LanguageModel, Lm};
    use biotorch_score::likelihood::{log_likelihoods, LikelihoodOptions, Texts};
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("score_golden/golden.json")).unwrap()).unwrap();
    let check = |model: &LanguageModel, texts: Vec<String>, expected: Vec<Vec<f64>>, kind: Texts| {
        for batch_tokens in [1, 64, 100_000] {
            let options = LikelihoodOptions { max_tokens: 1024, batch_tokens };
            let rows = log_likelihoods(model, &texts, kind, &options, &mut |_, _| {}).unwrap();
            for ((row, terms), text) in rows.iter().zip(&expected).zip(&texts) {
                let got = row.given.as_ref().unwrap_or_else(|| panic!("{text}: {:?}", row.reason));
                assert_eq!(got.terms.len(), terms.len(), "{text}");
                for (g, e) in got.terms.iter().zip(terms) {
                    assert!((g - e).abs() < 1e-4, "{text} (budget {batch_tokens}): {g} vs {e}");
                }
                let sum: f64 = terms.iter().sum();
                assert!((got.sum() - sum).abs() < 1e-4 && (got.mean() - sum / terms.len() as f64).abs() < 1e-5);
            }
        }
    };
    let clm = LanguageModel::load(&fixture("score_golden/models/protein_clm"), Device::Cpu).unwrap();
    assert!(matches!(clm.model, Lm::Causal(_)) && clm.tokenizer.name() == "esm2");
    let cases = golden["causal"]["protein_clm"].as_array().unwrap();
    let texts: Vec<String> = cases.iter().map(|c| c["sequence"].as_str().unwrap().to_string()).collect();
    let terms = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect::<Vec<_>>();
    let expected: Vec<Vec<f64>> = cases.iter().map(|c| terms(&c["terms"])).collect();
    assert_eq!(expected[0].len(), texts[0].len() + 1, "every residue and <eos>");
    check(&clm, texts, expected, Texts::Sequences);

    let smiles = LanguageModel::load(
        &PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/models/smiles-small")),
        Device::Cpu,
    )
    .unwrap();
    let table = golden["causal"]["smiles"].as_object().unwrap();
    let texts: Vec<String> = table.keys().cloned().collect();
    let expected: Vec<Vec<f64>> = texts.iter().map(|t| terms(&table[t])).collect();
    check(&smiles, texts.clone(), expected, Texts::Smiles);
    // The canonical form of each is scored too, and equals the golden of that text.
    let options = LikelihoodOptions { max_tokens: 1024, batch_tokens: 4096 };
    let rows = log_likelihoods(&smiles, &texts, Texts::Smiles, &options, &mut |_, _| {}).unwrap();
    for (row, text) in rows.iter().zip(&texts) {
        let canonical = row.canonical_smiles.as_deref().unwrap();
        let expected: f64 = terms(&table[canonical]).iter().sum();
        assert!((row.canonical.as_ref().unwrap().sum() - expected).abs() < 1e-4, "{text} -> {canonical}");
    }
}

/// Flagged rows: a molecule RDKit rejects (its given text still scored), a token the vocabulary lacks, a sequence
/// longer than a causal model's context; and a masked model's pseudo-log-likelihood equals the variant engine's.
#[test]
fn likelihood_rows_flag_what_cannot_be_scored() {
    use biotorch_models::LanguageModel;
    use biotorch_score::likelihood::{log_likelihoods, LikelihoodOptions, Texts};
    let smiles = LanguageModel::load(
        &PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/models/smiles-small")),
        Device::Cpu,
    )
    .unwrap();
    let texts: Vec<String> = ["c1cccc1", "CC[Se]C", "CCO"].iter().map(|s| s.to_string()).collect();
    let options = LikelihoodOptions { max_tokens: 1024, batch_tokens: 4096 };
    let rows = log_likelihoods(&smiles, &texts, Texts::Smiles, &options, &mut |_, _| {}).unwrap();
    assert!(rows[0].reason.as_deref().unwrap().contains("kekulize") && rows[0].given.is_some(), "{:?}", rows[0]);
    assert!(rows[0].canonical.is_none());
    assert!(
        rows[1].reason.as_deref().unwrap().contains("token 3 ('[Se]') is not in the model's vocabulary"),
        "{:?}",
        rows[1]
    );
    assert!(rows[1].given.is_none() && rows[2].is_valid() && rows[2].given.is_some());
    let e = log_likelihoods(&smiles, &texts, Texts::Sequences, &options, &mut |_, _| {}).err().unwrap();
    assert!(e.is_bad_input() && e.to_string().contains("SMILES model"), "{e}");

    let clm = LanguageModel::load(&fixture("score_golden/models/protein_clm"), Device::Cpu).unwrap();
    let long = vec!["A".repeat(200), "MKV".to_string()];
    let rows = log_likelihoods(&clm, &long, Texts::Sequences, &options, &mut |_, _| {}).unwrap();
    assert!(rows[0].reason.as_deref().unwrap().contains("202 tokens, longer than the model's context of 160"));
    assert!(rows[1].is_valid());

    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("score_golden/golden.json")).unwrap()).unwrap();
    let masked = LanguageModel::load(&fixture("esm_checkpoints/models/small"), Device::Cpu).unwrap();
    for case in golden["pll"].as_array().unwrap() {
        let seq = case["sequence"].as_str().unwrap().to_string();
        let options =
            LikelihoodOptions { max_tokens: case["max_tokens"].as_u64().unwrap() as usize, batch_tokens: 500 };
        let rows =
            log_likelihoods(&masked, &[seq.clone(), "MKJ".into()], Texts::Sequences, &options, &mut |_, _| {}).unwrap();
        let got = rows[0].given.as_ref().unwrap();
        assert_eq!(got.len(), seq.len());
        assert!((got.sum() - case["pll"].as_f64().unwrap()).abs() < 1e-4);
        assert!(rows[1].reason.as_deref().unwrap().contains("residue 3 ('J')"), "{:?}", rows[1]);
    }
}
