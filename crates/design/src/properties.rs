//! The molecule properties that `--filter` and `--objective` expressions name, bound to the expression language of
//! biotorch-expr: [`Property`], the [`variables`] set, [`Filter`], [`Objective`] and [`MoleculeValues`] (one
//! molecule as an expression sees it).

use std::fmt;
use std::sync::LazyLock;

use biotorch_expr::{Formula, Predicate, Type, Values, VarId, Variables};

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
    vars
});

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
pub struct Filter(Predicate);

impl Filter {
    /// Parses a `--filter` text (errors name `--filter`).
    pub fn parse(text: &str) -> Result<Filter> {
        Ok(Filter(Predicate::parse(text, variables()).map_err(|e| e.with_label("--filter"))?))
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
pub struct Objective(Formula);

impl Objective {
    /// Parses an `--objective` text (errors name `--objective`).
    pub fn parse(text: &str) -> Result<Objective> {
        Ok(Objective(Formula::parse(text, variables()).map_err(|e| e.with_label("--objective"))?))
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
}

impl<'a> MoleculeValues<'a> {
    /// The molecule alone: what its origin would add is missing.
    pub fn of(scored: &'a Scored) -> Self {
        MoleculeValues { scored, nll: None, finished: None, novel: None, similarity: None, sim_ref: None }
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
        Property::from_var(v).and_then(|p| self.value(p))
    }

    fn boolean(&self, v: VarId) -> Option<bool> {
        Property::from_var(v).and_then(|p| self.flag(p))
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
}
