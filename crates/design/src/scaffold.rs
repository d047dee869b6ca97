//! Scaffold decoration with a SMILES decoder (issue 19, item 3): a scaffold with one attachment point (`*` or
//! `[*:1]`) is written as a SMILES that ends at the attachment, the decoder is forced to start with it (without the
//! dummy atom) and samples the rest, so every sample continues from the attachment atom.
//!
//! Which writing of the scaffold? Any SMILES of the molecule whose last atom is the dummy will do, but the decoder
//! was trained on canonical SMILES, so some writings are far more natural to it than others. [`Scaffold::new`] draws
//! RDKit's randomized SMILES of the scaffold (seeded, so the choice is fixed), keeps those ending in the dummy whose
//! tokens the vocabulary has, and takes the one the decoder itself finds most likely per token.
//!
//! [`Containment`] then counts the valid samples that contain the scaffold: a substructure match of the scaffold,
//! its dummy atom matching any atom, so the attachment must carry something.

use biotorch_chem::{Molecule, Pattern};
use biotorch_tokenizers::SmilesTokenizer;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::generate::GeneratedRow;
use crate::generator::Generator;

/// Randomized writings tried when looking for ones that end at the attachment point.
const TRIES: u64 = 4096;
/// Candidate writings scored by the decoder.
const CANDIDATES: usize = 64;

/// A scaffold ready to decorate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaffold {
    /// The scaffold as RDKit writes it canonically (isomeric), attachment point included.
    pub canonical: String,
    /// The writing the decoder starts from: ends at the attachment atom, the dummy atom removed.
    pub prefix_smiles: String,
    /// Its token ids (no `<bos>`).
    pub prefix: Vec<i64>,
    /// The decoder's mean negative log-likelihood per token of the prefix (nats): how natural the writing is.
    pub prefix_nll_per_token: f64,
    /// How many writings ending at the attachment point were scored.
    pub candidates: usize,
}

fn is_dummy(token: &str) -> bool {
    token == "*" || (token.starts_with("[*") && token.ends_with(']'))
}

impl Scaffold {
    /// Parses `smiles` (one attachment point) and chooses its writing for `generator`'s decoder.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] naming the scaffold: RDKit cannot parse it, it has no or several attachment points, or no
    /// writing ending at the attachment point can be spelt with the decoder's vocabulary.
    pub fn new(smiles: &str, generator: &Generator) -> Result<Scaffold> {
        let bad = |why: String| Error::Request(format!("--scaffold {smiles:?}: {why}"));
        let mol = Molecule::from_smiles(smiles).map_err(|e| bad(format!("RDKit cannot parse it: {}", e.reason())))?;
        let canonical = mol.try_canonical_smiles(true).map_err(|e| bad(e.to_string()))?;
        let tokens = SmilesTokenizer::tokenize(&canonical).map_err(|e| bad(e.to_string()))?;
        let dummies = tokens.iter().filter(|t| is_dummy(t)).count();
        if dummies != 1 {
            return Err(bad(format!(
                "it has {dummies} attachment points (`*` or `[*:1]` atoms); give exactly one, e.g. `c1ccc(cc1)[*:1]`"
            )));
        }
        let vocab = generator.tokenizer.as_ref();
        let mut seen = std::collections::BTreeSet::new();
        let mut unknown = std::collections::BTreeSet::new();
        for seed in 0..TRIES {
            if seen.len() >= CANDIDATES {
                break;
            }
            let Ok(random) = mol.try_randomized_smiles(seed) else { continue };
            let Ok(pieces) = SmilesTokenizer::tokenize(&random) else { continue };
            let Some((last, body)) = pieces.split_last() else { continue };
            if !is_dummy(last) || body.is_empty() {
                continue;
            }
            let missing: Vec<&str> = body.iter().copied().filter(|t| vocab.token_to_id(t).is_none()).collect();
            if missing.is_empty() {
                seen.insert(body.concat());
            } else {
                unknown.extend(missing.into_iter().map(str::to_owned));
            }
        }
        if seen.is_empty() {
            return Err(bad(if unknown.is_empty() {
                "no SMILES of it ends at the attachment point (is the attachment atom bonded to exactly one atom?)"
                    .to_string()
            } else {
                format!(
                    "the model's vocabulary lacks its token(s) {}",
                    unknown.into_iter().collect::<Vec<_>>().join(" ")
                )
            }));
        }
        let candidates = seen.len();
        let mut best: Option<(f64, String, Vec<i64>)> = None;
        for text in seen {
            let ids: Vec<i64> = SmilesTokenizer::tokenize(&text)
                .expect("tokenized above")
                .iter()
                .map(|t| i64::from(vocab.token_to_id(t).expect("checked above")))
                .collect();
            let nll = mean_nll(generator, &ids)?;
            if best.as_ref().is_none_or(|(b, _, _)| nll < *b) {
                best = Some((nll, text, ids));
            }
        }
        let (prefix_nll_per_token, prefix_smiles, prefix) = best.expect("at least one candidate");
        Ok(Scaffold { canonical, prefix_smiles, prefix, prefix_nll_per_token, candidates })
    }
}

/// Counts, over the rounds of a run, the valid molecules that contain a scaffold (the query compiled once).
#[derive(Debug)]
pub struct Containment {
    query: Pattern,
    /// Valid molecules seen.
    pub valid: u64,
    /// Those that contain the scaffold.
    pub contained: u64,
}

impl Containment {
    /// A counter for `scaffold`, read as a SMARTS query (its dummy atom matches any atom).
    pub fn new(scaffold: &Scaffold) -> Result<Containment> {
        let query = Pattern::from_smarts(&scaffold.canonical)
            .map_err(|e| Error::Request(format!("--scaffold {}: as a substructure query: {e}", scaffold.canonical)))?;
        Ok(Containment { query, valid: 0, contained: 0 })
    }

    /// Adds a round's rows (invalid ones are skipped).
    pub fn add(&mut self, rows: &[GeneratedRow]) -> Result<()> {
        for canonical in rows.iter().filter_map(|r| r.molecule.canonical.as_deref()) {
            let hit = Molecule::from_smiles(canonical)
                .and_then(|mol| mol.has_match(&self.query))
                .map_err(|e| Error::Request(format!("matching the scaffold in {canonical}: {e}")))?;
            self.valid += 1;
            self.contained += u64::from(hit);
        }
        Ok(())
    }

    /// The share of valid molecules that contain the scaffold (0 when none is valid).
    pub fn share(&self) -> f64 {
        self.contained as f64 / self.valid.max(1) as f64
    }
}

/// Mean teacher-forced negative log-likelihood per token of `<bos> ids` (without `<eos>`: the molecule goes on).
fn mean_nll(generator: &Generator, ids: &[i64]) -> Result<f64> {
    let bos = generator.model.config().bos_token_id.unwrap_or(1);
    let mut input = vec![bos];
    input.extend_from_slice(ids);
    let input = Tensor::from_slice(&input).unsqueeze(0).to_device(generator.device());
    let mask = input.ones_like();
    let per_token = generator
        .model
        .token_log_probs(&input, &mask)
        .map_err(|e| Error::Request(format!("scoring the scaffold: {e}")))?;
    Ok(-per_token.sum(Kind::Double).double_value(&[]) / ids.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::tests::tiny_model;

    #[test]
    fn the_prefix_ends_at_the_attachment_atom_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path());
        let g = Generator::load("tiny", dir.path(), dir.path(), tch::Device::Cpu).unwrap();
        let s = Scaffold::new("c1ccc(cc1)[*:1]", &g).unwrap();
        assert_eq!(s.canonical, "c1ccc([*:1])cc1", "RDKit 2022.09's canonical form");
        assert!(s.candidates >= 1);
        // Appending a methyl where the dummy was gives toluene: the prefix ends at the attachment atom.
        let toluene = Molecule::from_smiles(&format!("{}C", s.prefix_smiles)).unwrap();
        assert_eq!(toluene.canonical_smiles(true), "Cc1ccccc1");
        assert_eq!(Scaffold::new("[*:1]c1ccccc1", &g).unwrap(), s, "any spelling, same choice");
        let err = Scaffold::new("c1ccccc1", &g).unwrap_err().to_string();
        assert!(err.contains("0 attachment points"), "{err}");
        let err = Scaffold::new("*c1ccc(*)cc1", &g).unwrap_err().to_string();
        assert!(err.contains("2 attachment points"), "{err}");
        let err = Scaffold::new("c1ccc(cc1)[*:1", &g).unwrap_err().to_string();
        assert!(err.contains("RDKit cannot parse"), "{err}");
        // The tiny vocabulary has no sulfur.
        let err = Scaffold::new("*c1ccsc1", &g).unwrap_err().to_string();
        assert!(err.ends_with("lacks its token(s) s"), "{err}");
    }
}
