//! The molecule properties that `--filter` and `--objective` expressions name, bound to the expression language of
//! biotorch-expr: [`Property`], the [`variables`] set, [`Filter`], [`Objective`] and [`MoleculeValues`] (one
//! molecule as an expression sees it).
//!
//! Two functions take a SMARTS: `matches("[NX3][CX3](=O)")` is true when the molecule has the substructure and
//! `count("c1ccccc1")` is its number of unique matches (Python RDKit's `len(mol.GetSubstructMatches(q))`). Each
//! distinct pattern of an expression is compiled once, when the expression is parsed, so an invalid SMARTS is an
//! error before any molecule is read ([`Substructures`]); a molecule's counts are taken once for all patterns
//! ([`Matches`]).

use std::fmt;
use std::sync::{Arc, LazyLock};

use biotorch_chem::{Molecule, Pattern};
use biotorch_expr::{Call, Formula, Predicate, Type, Values, VarId, Variables};

use crate::error::Result;
use crate::score::Scored;

/// A property an expression can read. The first fifteen are numbers, the last five true/false flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// Quantitative estimate of drug-likeness.
    Qed,
    /// Synthetic accessibility score (1 easy .. 10 hard).
    Sa,
    /// Crippen logP.
    Logp,
    /// Molecular weight.
    Mw,
    /// Topological polar surface area.
    Tpsa,
    /// Hydrogen-bond donors.
    Hbd,
    /// Hydrogen-bond acceptors.
    Hba,
    /// Rotatable bonds.
    Rotb,
    /// Rings.
    Rings,
    /// Aromatic rings.
    AromaticRings,
    /// Heavy atoms.
    HeavyAtoms,
    /// Formal charge.
    FormalCharge,
    /// Negative log-likelihood of a sample under the model that drew it.
    Nll,
    /// Maximum Tanimoto similarity to the training (reference) set.
    Similarity,
    /// Tanimoto similarity to the `--similar-to` reference molecule.
    SimRef,
    /// Matches a PAINS alert.
    Pains,
    /// Matches a Brenk alert.
    Brenk,
    /// Not in the training (reference) set.
    Novel,
    /// RDKit parsed and sanitized it.
    Valid,
    /// The sample ended with `<eos>`.
    Finished,
}

/// (property, canonical name, aliases, table column), in the order `--help` and error messages list them.
const TABLE: [(Property, &str, &[&str], &str); 20] = [
    (Property::Qed, "qed", &[], "qed"),
    (Property::Sa, "sa", &["sa_score"], "sa"),
    (Property::Logp, "logp", &["clogp"], "logp"),
    (Property::Mw, "mw", &["molwt", "mol_weight"], "mw"),
    (Property::Tpsa, "tpsa", &[], "tpsa"),
    (Property::Hbd, "hbd", &[], "hbd"),
    (Property::Hba, "hba", &[], "hba"),
    (Property::Rotb, "rotb", &["rotatable_bonds"], "rotatable_bonds"),
    (Property::Rings, "rings", &[], "rings"),
    (Property::AromaticRings, "aromatic_rings", &[], "aromatic_rings"),
    (Property::HeavyAtoms, "heavy_atoms", &[], "heavy_atoms"),
    (Property::FormalCharge, "formal_charge", &[], "formal_charge"),
    (Property::Nll, "nll", &[], "nll"),
    (Property::Similarity, "similarity", &["max_train_similarity"], "max_train_similarity"),
    (Property::SimRef, "sim_ref", &[], "sim_ref"),
    (Property::Pains, "pains", &[], "pains"),
    (Property::Brenk, "brenk", &[], "brenk"),
    (Property::Novel, "novel", &[], "novel"),
    (Property::Valid, "valid", &[], "valid"),
    (Property::Finished, "finished", &[], "finished"),
];

static VARIABLES: LazyLock<Variables> = LazyLock::new(|| {
    let mut vars = Variables::new();
    for (p, name, aliases, _) in TABLE {
        let id = vars.add(name, aliases, p.ty()).expect("the property names are distinct and spellable");
        debug_assert_eq!(id.index(), p as usize);
    }
    vars.function("matches", "SMARTS", Type::Bool).expect("a new function name");
    vars.function("count", "SMARTS", Type::Number).expect("a new function name");
    vars
});

/// The SMARTS patterns of an expression's `matches(..)` and `count(..)` calls, each compiled once.
#[derive(Debug, Clone, Default)]
pub struct Substructures {
    patterns: Vec<Arc<Pattern>>,
}

impl PartialEq for Substructures {
    fn eq(&self, other: &Self) -> bool {
        self.smarts().eq(other.smarts())
    }
}

impl Substructures {
    /// Compiles `smarts` unless it is there already; the error is the expression's reason (`invalid SMARTS
    /// "[C": ...`).
    fn add(&mut self, smarts: &str) -> std::result::Result<(), String> {
        if self.smarts().any(|s| s == smarts) {
            return Ok(());
        }
        let pattern =
            Pattern::from_smarts(smarts).map_err(|e| format!("invalid SMARTS \"{smarts}\": {}", e.reason()))?;
        self.patterns.push(Arc::new(pattern));
        Ok(())
    }

    /// Binding's check of a call: compiles its SMARTS.
    fn check(&mut self, call: &Call) -> std::result::Result<(), String> {
        self.add(call.argument())
    }

    /// The patterns of both sets, each once (those of `self` first).
    pub fn union(&self, other: &Substructures) -> Substructures {
        let mut out = self.clone();
        for p in &other.patterns {
            if !out.smarts().any(|s| s == p.smarts()) {
                out.patterns.push(Arc::clone(p));
            }
        }
        out
    }

    /// Whether there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The SMARTS, in order of first use.
    pub fn smarts(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.smarts())
    }

    /// The counts of every pattern in `mol`; `None` when RDKit fails on it.
    pub fn count_in(&self, mol: &Molecule) -> Option<Matches> {
        let counts: Option<Vec<_>> =
            self.patterns.iter().map(|p| Some((Arc::clone(p), mol.count_matches(p).ok()?))).collect();
        counts.map(|counts| Matches { counts })
    }

    /// The counts of every pattern in the molecule `smiles` (parsed once); `None` when it is not a valid molecule.
    pub fn count(&self, smiles: &str) -> Option<Matches> {
        Molecule::from_smiles(smiles).ok().and_then(|mol| self.count_in(&mol))
    }
}

/// One molecule's unique-match counts for the patterns of a [`Substructures`].
#[derive(Debug, Clone, Default)]
pub struct Matches {
    counts: Vec<(Arc<Pattern>, u32)>,
}

impl Matches {
    /// The count for `smarts`, when it is one of the patterns.
    pub fn count(&self, smarts: &str) -> Option<u32> {
        self.counts.iter().find(|(p, _)| p.smarts() == smarts).map(|&(_, n)| n)
    }
}

/// The value of a `count(..)` (a number) or `matches(..)` (true/false) call in `matches`.
pub(crate) fn call_count(matches: Option<&Matches>, call: &Call) -> Option<u32> {
    matches.and_then(|m| m.count(call.argument()))
}

/// The variables of the molecule properties: variable `i` is `Property::ALL[i]`. A program that adds run-time
/// variables (a head's predictions) clones this set and declares them after.
pub fn variables() -> &'static Variables {
    &VARIABLES
}

impl Property {
    /// Every property, in the order of the variables.
    pub const ALL: [Property; 20] = {
        let mut all = [Property::Qed; 20];
        let mut i = 0;
        while i < 20 {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    /// The molecular descriptors RDKit computes (what a property plot draws), in `Properties`' order.
    pub const DESCRIPTORS: [Property; 12] = [
        Property::Mw,
        Property::Logp,
        Property::Tpsa,
        Property::Hbd,
        Property::Hba,
        Property::Rotb,
        Property::Rings,
        Property::AromaticRings,
        Property::HeavyAtoms,
        Property::FormalCharge,
        Property::Qed,
        Property::Sa,
    ];

    /// The canonical (lowercase) name.
    pub fn name(self) -> &'static str {
        TABLE[self as usize].1
    }

    /// The column of a `chem`, `generate` or `optimize` table that holds it.
    pub fn column(self) -> &'static str {
        TABLE[self as usize].3
    }

    /// A number or a flag.
    pub fn ty(self) -> Type {
        if (self as usize) < Property::Pains as usize {
            Type::Number
        } else {
            Type::Bool
        }
    }

    /// Looks a name or alias up, case-insensitively.
    pub fn from_name(name: &str) -> Option<Property> {
        variables().lookup(name).and_then(Property::from_var)
    }

    /// The property of variable `v` of [`variables`] (or of a set extending it); `None` for a later variable.
    pub fn from_var(v: VarId) -> Option<Property> {
        Property::ALL.get(v.index()).copied()
    }

    /// Its variable in [`variables`].
    pub fn var(self) -> VarId {
        variables().lookup(self.name()).expect("every property is declared")
    }
}

/// The properties an expression reads, each once, in order of first use.
fn properties_of(vars: Vec<VarId>) -> Vec<Property> {
    vars.into_iter().filter_map(Property::from_var).collect()
}

/// A parsed `--filter` condition over molecule properties, e.g. `qed > 0.6 and mw < 500 and not pains`.
///
/// Its `Display` is the normalized form, which goes into tables' metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Predicate, Substructures);

impl Filter {
    /// Parses a `--filter` text (errors name `--filter`), compiling its SMARTS patterns.
    pub fn parse(text: &str) -> Result<Filter> {
        Filter::parse_in(text, variables())
    }

    /// Parses a `--filter` text over `vars`: [`variables`] and the run-time variables a program adds after them
    /// (a head's predictions).
    pub fn parse_in(text: &str, vars: &Variables) -> Result<Filter> {
        let mut subs = Substructures::default();
        let p = Predicate::parse_with(text, vars, &mut |c| subs.check(c)).map_err(|e| e.with_label("--filter"))?;
        Ok(Filter(p, subs))
    }

    /// The SMARTS patterns it matches.
    pub fn substructures(&self) -> &Substructures {
        &self.1
    }

    /// The variables it reads (run-time ones included), each once, in order of first use.
    pub fn variables(&self) -> Vec<VarId> {
        self.0.variables()
    }

    /// True when the molecule passes: the condition is true, not false or unknown. Callers should evaluate valid
    /// molecules only (an invalid one has no properties).
    pub fn passes(&self, values: &dyn Values) -> bool {
        self.0.passes(values)
    }

    /// The expression as the user wrote it.
    pub fn text(&self) -> &str {
        self.0.text()
    }

    /// The properties it reads, each once, in order of first use.
    pub fn properties(&self) -> Vec<Property> {
        properties_of(self.0.variables())
    }

    /// Whether it reads `p`.
    pub fn reads(&self, p: Property) -> bool {
        self.properties().contains(&p)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A parsed `--objective`: a number computed from molecule properties, e.g. `qed - 0.1*sa + 0.5*sim_ref`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective(Formula, Substructures);

impl Objective {
    /// Parses an `--objective` text (errors name `--objective`), compiling its SMARTS patterns.
    pub fn parse(text: &str) -> Result<Objective> {
        Objective::parse_in(text, variables())
    }

    /// Parses an `--objective` text over `vars` (see [`Filter::parse_in`]).
    pub fn parse_in(text: &str, vars: &Variables) -> Result<Objective> {
        let mut subs = Substructures::default();
        let f = Formula::parse_with(text, vars, &mut |c| subs.check(c)).map_err(|e| e.with_label("--objective"))?;
        Ok(Objective(f, subs))
    }

    /// The SMARTS patterns it matches.
    pub fn substructures(&self) -> &Substructures {
        &self.1
    }

    /// The variables it reads (run-time ones included), each once, in order of first use.
    pub fn variables(&self) -> Vec<VarId> {
        self.0.variables()
    }

    /// The value, or `None` when a property it needs is missing.
    pub fn eval(&self, values: &dyn Values) -> Option<f64> {
        self.0.eval(values)
    }

    /// The expression as the user wrote it.
    pub fn text(&self) -> &str {
        self.0.text()
    }

    /// Whether it reads `p`.
    pub fn reads(&self, p: Property) -> bool {
        properties_of(self.0.variables()).contains(&p)
    }
}

/// One molecule as a filter or an objective sees it: its RDKit description plus what its origin adds (a sample's
/// NLL and whether it finished; novelty and similarity against a reference set; similarity to one molecule).
#[derive(Debug, Clone, Copy)]
pub struct MoleculeValues<'a> {
    /// The molecule.
    pub scored: &'a Scored,
    /// The sample's negative log-likelihood.
    pub nll: Option<f64>,
    /// Whether the sample ended with `<eos>`.
    pub finished: Option<bool>,
    /// Not in the reference set.
    pub novel: Option<bool>,
    /// Maximum Tanimoto similarity to the reference set.
    pub similarity: Option<f64>,
    /// Tanimoto similarity to the reference molecule.
    pub sim_ref: Option<f64>,
    /// Its substructure counts for the expression's patterns (`None`: every call is unknown).
    pub matches: Option<&'a Matches>,
    /// The values of the run's heads ([`crate::Heads::columns`]; empty without heads).
    pub heads: &'a [Option<f64>],
}

impl<'a> MoleculeValues<'a> {
    /// The molecule alone: what its origin would add is missing.
    pub fn of(scored: &'a Scored) -> Self {
        MoleculeValues {
            scored,
            nll: None,
            finished: None,
            novel: None,
            similarity: None,
            sim_ref: None,
            matches: None,
            heads: &[],
        }
    }

    /// The value of property `p` (a flag as 1/0 is not given: `None` for flags).
    pub fn value(&self, p: Property) -> Option<f64> {
        let d = self.scored.props.as_ref();
        match p {
            Property::Qed => d.map(|d| d.qed),
            Property::Sa => d.map(|d| d.sa),
            Property::Logp => d.map(|d| d.logp),
            Property::Mw => d.map(|d| d.mw),
            Property::Tpsa => d.map(|d| d.tpsa),
            Property::Hbd => d.map(|d| f64::from(d.hbd)),
            Property::Hba => d.map(|d| f64::from(d.hba)),
            Property::Rotb => d.map(|d| f64::from(d.rotatable_bonds)),
            Property::Rings => d.map(|d| f64::from(d.rings)),
            Property::AromaticRings => d.map(|d| f64::from(d.aromatic_rings)),
            Property::HeavyAtoms => d.map(|d| f64::from(d.heavy_atoms)),
            Property::FormalCharge => d.map(|d| f64::from(d.formal_charge)),
            Property::Nll => self.nll,
            Property::Similarity => self.similarity,
            Property::SimRef => self.sim_ref,
            Property::Pains | Property::Brenk | Property::Novel | Property::Valid | Property::Finished => None,
        }
    }

    /// The value of flag `p` (`None` for numbers).
    pub fn flag(&self, p: Property) -> Option<bool> {
        match p {
            Property::Pains => self.scored.pains,
            Property::Brenk => self.scored.brenk,
            Property::Novel => self.novel,
            Property::Valid => Some(self.scored.valid),
            Property::Finished => self.finished,
            _ => None,
        }
    }
}

impl Values for MoleculeValues<'_> {
    fn number(&self, v: VarId) -> Option<f64> {
        match Property::from_var(v) {
            Some(p) => self.value(p),
            None => crate::Heads::position(v).and_then(|i| self.heads.get(i).copied().flatten()),
        }
    }

    fn boolean(&self, v: VarId) -> Option<bool> {
        Property::from_var(v).and_then(|p| self.flag(p))
    }

    fn call_number(&self, call: &Call) -> Option<f64> {
        call_count(self.matches, call).map(f64::from)
    }

    fn call_boolean(&self, call: &Call) -> Option<bool> {
        call_count(self.matches, call).map(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_the_variables_in_order() {
        for (i, p) in Property::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i);
            assert_eq!(p.var().index(), i);
            assert_eq!(Property::from_name(p.name()), Some(p));
            assert_eq!(variables().get(p.var()).ty(), p.ty());
        }
        assert_eq!(Property::from_name("Aromatic_Rings"), Some(Property::AromaticRings));
        assert_eq!(Property::from_name("FINISHED"), Some(Property::Finished));
        assert_eq!(Property::from_name("max_train_similarity"), Some(Property::Similarity));
        assert_eq!(Property::Rotb.column(), "rotatable_bonds");
        assert_eq!(Property::Similarity.column(), "max_train_similarity");
        assert_eq!(Property::Mw.ty(), Type::Number);
        assert_eq!(Property::Pains.ty(), Type::Bool);
    }

    #[test]
    fn filters_and_objectives_read_a_scored_molecule() {
        let aspirin = Scored::new("CC(=O)Oc1ccccc1C(=O)O", false);
        let props = aspirin.props.expect("valid");
        let values = MoleculeValues { sim_ref: Some(0.25), ..MoleculeValues::of(&aspirin) };
        let f = Filter::parse("qed > 0.5 and mw < 200 and not pains and hbd == 1").unwrap();
        assert_eq!(f.passes(&values), props.qed > 0.5);
        assert_eq!(f.properties(), vec![Property::Qed, Property::Mw, Property::Pains, Property::Hbd]);
        assert!(!Filter::parse("novel").unwrap().passes(&values), "no reference set: unknown");
        assert!(Filter::parse("valid and not finished or mw > 1").unwrap().passes(&values));
        let o = Objective::parse("qed - 0.1*sa + 0.5*sim_ref").unwrap();
        assert_eq!(o.eval(&values), Some(props.qed - 0.1 * props.sa + 0.5 * 0.25));
        assert!(o.reads(Property::SimRef) && !o.reads(Property::Mw));
        assert_eq!(Objective::parse("qed + nll").unwrap().eval(&values), None);
        let e = Filter::parse("qed > 0.5 and mww < 3").unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().starts_with("cannot parse --filter \"qed > 0.5 and mww < 3\": unknown property `mww`"));
        let e = Objective::parse("qed + mww").unwrap_err().to_string();
        assert!(e.starts_with("cannot parse --objective \"qed + mww\": unknown property `mww`"), "{e}");
    }

    #[test]
    fn smarts_calls_count_unique_matches() {
        // Counts from PyPI RDKit 2026.09 (biotorch-chem's counts_match_python_rdkit): aspirin has one benzene ring,
        // one C(=O)[OH], six aromatic atoms and no nitrogen.
        let aspirin = Scored::new("CC(=O)Oc1ccccc1C(=O)O", false);
        let f = Filter::parse("matches('C(=O)[OH]') and count(\"c1ccccc1\") == 1 and not matches('[#7]')").unwrap();
        assert_eq!(f.substructures().smarts().collect::<Vec<_>>(), ["C(=O)[OH]", "c1ccccc1", "[#7]"]);
        let m = f.substructures().count("CC(=O)Oc1ccccc1C(=O)O").unwrap();
        assert!(f.passes(&MoleculeValues { matches: Some(&m), ..MoleculeValues::of(&aspirin) }));
        assert!(!f.passes(&MoleculeValues::of(&aspirin)), "without counts the calls are unknown");
        let o = Objective::parse("qed + count('a') - 2*count('a')").unwrap();
        assert_eq!(o.substructures().smarts().count(), 1, "each pattern compiled once");
        let m = o.substructures().count("CC(=O)Oc1ccccc1C(=O)O").unwrap();
        let props = aspirin.props.unwrap();
        assert_eq!(
            o.eval(&MoleculeValues { matches: Some(&m), ..MoleculeValues::of(&aspirin) }),
            Some(props.qed - 6.0)
        );
        let both = f.substructures().union(o.substructures());
        assert_eq!(both.smarts().collect::<Vec<_>>(), ["C(=O)[OH]", "c1ccccc1", "[#7]", "a"]);
        assert!(f.substructures().count("C1CC").is_none(), "not a molecule");

        let e = Filter::parse("qed > 0.5 and matches(\"C(=O\")").unwrap_err();
        assert!(e.is_bad_input());
        let e = e.to_string();
        assert!(
            e.starts_with("cannot parse --filter \"qed > 0.5 and matches(\"C(=O\")\": invalid SMARTS \"C(=O\": "),
            "{e}"
        );
        assert!(e.contains(" at column 23\n"), "{e}");
        assert!(e.ends_with("\n  qed > 0.5 and matches(\"C(=O\")\n                        ^"), "{e}");
        let e = Objective::parse("count('[C') + count('[N')").unwrap_err().to_string();
        assert!(e.contains("invalid SMARTS \"[C\"") && e.contains("at column 7"), "the first bad pattern: {e}");
    }
}
