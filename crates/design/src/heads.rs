//! Property-prediction heads (made by `biotorch finetune`, loaded by biotorch-heads) as run-time variables of
//! `--filter` and `--objective`: `--head NAME=DIR` makes the head's prediction the variable `NAME`, and for an
//! ensemble its spread over members `NAME_std`.
//!
//! A head must read SMILES and have one target. A regression target gives its value; a two-class target gives the
//! probability of its second class (the positive one: `1` of `0`/`1`, classes being ordered as `finetune` orders
//! them); a target of more classes is refused. Each distinct molecule (by canonical SMILES) is predicted once per
//! run ([`Heads::predict`] keeps a cache), the backbone batched on the device; a molecule the head cannot read gets
//! missing values (unknown in a filter, missing in an objective).

use std::collections::HashMap;
use std::path::PathBuf;

use biotorch_expr::{VarId, Variables};
use biotorch_heads::predict::{self, Predictor};
use biotorch_heads::{HeadSpec, Modality, Task};
use tch::Device;

use crate::error::{Error, Result};
use crate::properties::{variables, Property};

/// A `--head NAME=DIR` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadArg {
    /// The variable name.
    pub name: String,
    /// The head folder.
    pub dir: PathBuf,
}

impl HeadArg {
    /// Parses `NAME=DIR`; `NAME` must be spellable in an expression and not a property's name.
    pub fn parse(spec: &str) -> Result<HeadArg> {
        let bad = |why: &str| {
            Error::Request(format!("--head {spec:?}: {why} (write --head NAME=DIR, e.g. --head logs=heads/logs)"))
        };
        let Some((name, dir)) = spec.split_once('=') else {
            return Err(bad("no `=`"));
        };
        let (name, dir) = (name.trim(), dir.trim());
        if name.is_empty() {
            return Err(bad("no NAME before `=`"));
        }
        if dir.is_empty() {
            return Err(bad("no head folder after `=`"));
        }
        if let Some(p) = Property::from_name(name) {
            return Err(bad(&format!("`{name}` is already the property `{}`", p.name())));
        }
        if let Err(e) = Variables::new().number(name, &[]) {
            return Err(bad(&e.to_string()));
        }
        Ok(HeadArg { name: name.to_string(), dir: PathBuf::from(dir) })
    }
}

/// What a head's number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// The regression value.
    Value,
    /// The probability of class `k`.
    Probability(usize),
}

struct Head {
    name: String,
    dir: PathBuf,
    spec: HeadSpec,
    /// Loaded by [`Heads::load`].
    predictor: Option<Predictor>,
    output: Output,
    /// An ensemble: `NAME_std` exists.
    ensemble: bool,
    /// Per canonical SMILES: the value and the spread (`None`: the head cannot read it).
    cache: HashMap<String, Option<(f64, f64)>>,
}

/// The heads of a run and the expression variables they add after the molecule properties.
pub struct Heads {
    heads: Vec<Head>,
    vars: Variables,
    columns: Vec<String>,
}

impl Default for Heads {
    fn default() -> Self {
        Heads::none()
    }
}

impl std::fmt::Debug for Heads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heads").field("columns", &self.columns).finish()
    }
}

impl Heads {
    /// No heads: the properties' variables only.
    pub fn none() -> Heads {
        Heads { heads: Vec::new(), vars: variables().clone(), columns: Vec::new() }
    }

    /// Reads each head's description (not its weights: cheap), checks that it reads SMILES and gives one number,
    /// and declares its variables, so that expressions can be parsed before the models load ([`Heads::load`]).
    pub fn open(args: &[HeadArg]) -> Result<Heads> {
        let mut out = Heads::none();
        for arg in args {
            let (name, dir) = (&arg.name, &arg.dir);
            let shown = format!("--head {name}={}", dir.display());
            if !dir.join(biotorch_heads::spec::HEAD_JSON).is_file() {
                return Err(Error::Request(format!(
                    "{shown}: {} is not a head folder (no {}; heads are made by `biotorch finetune`)",
                    dir.display(),
                    biotorch_heads::spec::HEAD_JSON
                )));
            }
            let spec = HeadSpec::read(dir)?;
            let output = check(&shown, &spec)?;
            let ensemble = spec.members > 1;
            let var = |vars: &mut Variables, n: &str| {
                vars.number(n, &[]).map_err(|e| Error::Request(format!("{shown}: {e} (give each head its own NAME)")))
            };
            var(&mut out.vars, name)?;
            out.columns.push(name.clone());
            if ensemble {
                let std = format!("{name}_std");
                var(&mut out.vars, &std)?;
                out.columns.push(std);
            }
            out.heads.push(Head {
                name: name.clone(),
                dir: dir.clone(),
                spec,
                predictor: None,
                output,
                ensemble,
                cache: HashMap::new(),
            });
        }
        Ok(out)
    }

    /// Loads every head's backbone and weights on `device`, finding the backbone with `resolver`.
    pub fn load(&mut self, device: Device, resolver: &biotorch_models::Resolver) -> Result<()> {
        for head in &mut self.heads {
            let source = predict::locate(&head.dir, &head.spec, resolver)?;
            let batch_tokens = predict::default_batch_tokens(device);
            head.predictor = Some(Predictor::load(&head.dir, head.spec.clone(), &source, device, batch_tokens)?);
        }
        Ok(())
    }

    /// Whether there is no head.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// The properties' variables, then each head's (`NAME`, and `NAME_std` for an ensemble).
    pub fn variables(&self) -> &Variables {
        &self.vars
    }

    /// The names of the values [`Heads::predict`] gives, in order: the table columns a command writes.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Each head as `NAME=DIR`, for a table's metadata.
    pub fn describe(&self) -> String {
        self.heads.iter().map(|h| format!("{}={}", h.name, h.dir.display())).collect::<Vec<_>>().join(", ")
    }

    /// The values of [`Heads::columns`] for each molecule given by its canonical SMILES (`None`: not a molecule).
    /// A SMILES already seen in this run is not predicted again.
    pub fn predict(&mut self, canonical: &[Option<&str>]) -> Result<Vec<Vec<Option<f64>>>> {
        let mut rows: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(self.columns.len()); canonical.len()];
        for head in &mut self.heads {
            let mut new: Vec<String> = Vec::new();
            for s in canonical.iter().flatten() {
                if !head.cache.contains_key(*s) && !new.iter().any(|n| n == s) {
                    new.push(s.to_string());
                }
            }
            if !new.is_empty() {
                let Some(predictor) = &head.predictor else {
                    return Err(Error::Request(format!("--head {}: predict before load", head.name)));
                };
                let predictions = predictor.predict(&new)?;
                for (s, p) in new.into_iter().zip(predictions) {
                    let value = p.targets.first().map(|t| match head.output {
                        Output::Value => (t.value, t.std),
                        Output::Probability(k) => (t.probs[k], t.std),
                    });
                    head.cache.insert(s, value);
                }
            }
            for (row, s) in rows.iter_mut().zip(canonical) {
                let value = s.and_then(|s| head.cache.get(s).copied().flatten());
                row.push(value.map(|v| v.0));
                if head.ensemble {
                    row.push(value.map(|v| v.1));
                }
            }
        }
        Ok(rows)
    }

    /// The index of variable `v` in a row of [`Heads::predict`], when it is a head's.
    pub fn position(v: VarId) -> Option<usize> {
        v.index().checked_sub(Property::ALL.len())
    }
}

/// What number a head gives; refuses a head that does not read SMILES or gives no single number.
fn check(shown: &str, spec: &HeadSpec) -> Result<Output> {
    if spec.backbone.modality != Modality::Molecule {
        return Err(Error::Request(format!(
            "{shown}: the head reads {:?} sequences, not SMILES (--head takes heads fine-tuned on a SMILES model)",
            spec.backbone.modality
        )));
    }
    let [target] = spec.targets.as_slice() else {
        let names: Vec<&str> = spec.targets.iter().map(|t| t.name.as_str()).collect();
        return Err(Error::Request(format!(
            "{shown}: the head has {} targets ({}); --head takes a head of one target",
            names.len(),
            names.join(", ")
        )));
    };
    match target.task {
        Task::Regression => Ok(Output::Value),
        Task::Classification if target.classes.len() == 2 => Ok(Output::Probability(1)),
        Task::Classification => Err(Error::Request(format!(
            "{shown}: the head's target {} has {} classes; --head takes regression or two-class heads",
            target.name,
            target.classes.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_args_are_name_equals_dir() {
        assert_eq!(
            HeadArg::parse("logs=heads/logs").unwrap(),
            HeadArg { name: "logs".into(), dir: "heads/logs".into() }
        );
        for (bad, why) in [
            ("heads/logs", "no `=`"),
            ("=heads/logs", "no NAME before `=`"),
            ("logs=", "no head folder after `=`"),
            ("qed=heads/q", "`qed` is already the property `qed`"),
        ] {
            let e = HeadArg::parse(bad).unwrap_err();
            assert!(e.is_bad_input());
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }
}
