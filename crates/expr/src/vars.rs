//! The variables an expression can name: declared by the program (molecule properties, a model's outputs), never
//! hard-coded in the parser.

use crate::error::{Error, Result};
use crate::Type;

/// A variable of a [`Variables`] set: its index in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(usize);

impl VarId {
    /// The position of the variable in its set (0 for the first declared).
    pub fn index(self) -> usize {
        self.0
    }
}

/// A function of a [`Variables`] set: its index in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnId(usize);

impl FnId {
    /// The position of the function in its set (0 for the first declared).
    pub fn index(self) -> usize {
        self.0
    }
}

/// A function an expression can call with one quoted string (`matches("c1ccccc1")`): its name, what the string
/// is (`SMARTS`) and what it gives, a number or true/false. The program evaluates calls (see
/// [`Values::call_number`](crate::Values::call_number)) and may check each argument when binding (see
/// [`Predicate::bind_with`](crate::Predicate::bind_with)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    name: String,
    argument: String,
    ty: Type,
}

impl Function {
    /// The canonical name, as expressions are printed back.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the argument is, as error messages name it (`SMARTS`).
    pub fn argument(&self) -> &str {
        &self.argument
    }

    /// Number or true/false.
    pub fn ty(&self) -> Type {
        self.ty
    }
}

/// One named value of a row: a number (`qed`) or a true/false flag (`pains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    name: String,
    aliases: Vec<String>,
    ty: Type,
}

impl Variable {
    /// The canonical name, as expressions are printed back.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Other accepted spellings.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// Number or true/false.
    pub fn ty(&self) -> Type {
        self.ty
    }

    fn spellings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// The set of variables expressions are bound to. Names and aliases are matched case-insensitively.
///
/// ```
/// use biotorch_expr::{Type, Variables};
///
/// let mut vars = Variables::new();
/// let qed = vars.number("qed", &[]).unwrap();
/// let logp = vars.number("logp", &["clogp"]).unwrap();
/// let pains = vars.add("pains", &[], Type::Bool).unwrap();
/// assert_eq!(vars.lookup("CLogP"), Some(logp));
/// assert_eq!(vars.get(pains).ty(), Type::Bool);
/// assert_eq!(qed.index(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    vars: Vec<Variable>,
    functions: Vec<Function>,
}

impl Variables {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a variable; fails when the name or an alias is taken or is not spellable in an expression
    /// (letters, digits and `_`, not starting with a digit, not `and`/`or`/`not`).
    pub fn add(&mut self, name: &str, aliases: &[&str], ty: Type) -> Result<VarId> {
        for spelling in std::iter::once(name).chain(aliases.iter().copied()) {
            if !spellable(spelling) {
                return Err(Error::InvalidName { name: spelling.to_string() });
            }
            if self.lookup(spelling).is_some() {
                return Err(Error::DuplicateName { name: spelling.to_string() });
            }
        }
        self.vars.push(Variable {
            name: name.to_string(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ty,
        });
        Ok(VarId(self.vars.len() - 1))
    }

    /// Declares a function of one string argument (`argument` says what it is, e.g. `SMARTS`) that gives a `ty`;
    /// fails when the name is taken by another function or is not spellable.
    ///
    /// ```
    /// use biotorch_expr::{Type, Variables};
    ///
    /// let mut vars = Variables::new();
    /// let count = vars.function("count", "SMARTS", Type::Number).unwrap();
    /// assert_eq!(vars.lookup_function("COUNT"), Some(count));
    /// assert_eq!(vars.function_of(count).argument(), "SMARTS");
    /// ```
    pub fn function(&mut self, name: &str, argument: &str, ty: Type) -> Result<FnId> {
        if !spellable(name) {
            return Err(Error::InvalidName { name: name.to_string() });
        }
        if self.lookup_function(name).is_some() {
            return Err(Error::DuplicateName { name: name.to_string() });
        }
        self.functions.push(Function { name: name.to_string(), argument: argument.to_string(), ty });
        Ok(FnId(self.functions.len() - 1))
    }

    /// The function named `name`, case-insensitively.
    pub fn lookup_function(&self, name: &str) -> Option<FnId> {
        self.functions.iter().position(|f| f.name.eq_ignore_ascii_case(name)).map(FnId)
    }

    /// The function `id` (of this set).
    ///
    /// # Panics
    /// When `id` belongs to a larger set.
    pub fn function_of(&self, id: FnId) -> &Function {
        &self.functions[id.0]
    }

    /// Every function, in declaration order.
    pub fn functions(&self) -> impl Iterator<Item = (FnId, &Function)> {
        self.functions.iter().enumerate().map(|(i, f)| (FnId(i), f))
    }

    /// Declares a numeric variable.
    pub fn number(&mut self, name: &str, aliases: &[&str]) -> Result<VarId> {
        self.add(name, aliases, Type::Number)
    }

    /// Declares a true/false variable.
    pub fn boolean(&mut self, name: &str, aliases: &[&str]) -> Result<VarId> {
        self.add(name, aliases, Type::Bool)
    }

    /// The variable named `name` (or one of its aliases), case-insensitively.
    pub fn lookup(&self, name: &str) -> Option<VarId> {
        self.vars.iter().position(|v| v.spellings().any(|s| s.eq_ignore_ascii_case(name))).map(VarId)
    }

    /// The variable `id` (of this set).
    ///
    /// # Panics
    /// When `id` belongs to a larger set.
    pub fn get(&self, id: VarId) -> &Variable {
        &self.vars[id.0]
    }

    /// Every variable, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (VarId, &Variable)> {
        self.vars.iter().enumerate().map(|(i, v)| (VarId(i), v))
    }

    /// How many variables there are.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The canonical name closest to a misspelt `name` (edit distance at most 1, or 2 for names of six characters
    /// or more), among the variables of type `only` (all without), if any.
    pub(crate) fn suggest(&self, name: &str, only: Option<Type>) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let limit = (name.chars().count() / 3).clamp(1, 2);
        let mut best: Option<(usize, &str)> = None;
        for v in self.vars.iter().filter(|v| only.is_none_or(|t| v.ty == t)) {
            for s in v.spellings() {
                let d = edit_distance(&name, &s.to_ascii_lowercase());
                if d <= limit && best.is_none_or(|(b, _)| d < b) {
                    best = Some((d, v.name.as_str()));
                }
            }
        }
        best.map(|(_, n)| n)
    }

    /// The first declared variable of type `ty`.
    pub(crate) fn first(&self, ty: Type) -> Option<&str> {
        self.vars.iter().find(|v| v.ty == ty).map(|v| v.name.as_str())
    }

    /// An example expression of type `ty` over these variables, for the hint of an empty expression.
    pub(crate) fn example(&self, ty: Type) -> Option<String> {
        let numbers: Vec<&str> = self.vars.iter().filter(|v| v.ty == Type::Number).map(|v| v.name.as_str()).collect();
        let flag = self.first(Type::Bool);
        match (ty, numbers.as_slice(), flag) {
            (Type::Bool, [n, ..], Some(b)) => Some(format!("write e.g. {n} > 0.6 and not {b}")),
            (Type::Bool, [n, ..], None) => Some(format!("write e.g. {n} > 0.6")),
            (Type::Bool, [], Some(b)) => Some(format!("write e.g. not {b}")),
            (Type::Number, [a, b, ..], _) => Some(format!("write e.g. {a} - 0.1*{b}")),
            (Type::Number, [a], _) => Some(format!("write e.g. 2*{a}")),
            _ => None,
        }
    }
}

/// Letters, digits and `_`, not starting with a digit, not `and`/`or`/`not`.
fn spellable(spelling: &str) -> bool {
    let mut chars = spelling.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(spelling.to_ascii_lowercase().as_str(), "and" | "or" | "not")
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_spellable_and_case_insensitive() {
        let mut vars = Variables::new();
        let mw = vars.number("mw", &["molwt", "MOL_WEIGHT"]).unwrap();
        assert_eq!(vars.lookup("MolWt"), Some(mw));
        assert_eq!(vars.lookup("mol_weight"), Some(mw));
        assert_eq!(vars.number("MW", &[]), Err(Error::DuplicateName { name: "MW".into() }));
        assert_eq!(vars.number("x", &["molwt"]), Err(Error::DuplicateName { name: "molwt".into() }));
        for bad in ["2x", "a-b", "", "and", "NOT", "pic50 "] {
            assert_eq!(vars.number(bad, &[]), Err(Error::InvalidName { name: bad.into() }), "{bad}");
        }
        assert_eq!(vars.len(), 1);
        let pic50 = vars.number("pic50_std", &[]).unwrap();
        assert_eq!(pic50.index(), 1);
    }

    #[test]
    fn suggestions_are_close_names() {
        let mut vars = Variables::new();
        for name in ["qed", "mw", "similarity", "logp"] {
            vars.number(name, &[]).unwrap();
        }
        vars.number("sa", &["sa_score"]).unwrap();
        assert_eq!(vars.suggest("mww", None), Some("mw"));
        assert_eq!(vars.suggest("qd", None), Some("qed"));
        assert_eq!(vars.suggest("simlarity", None), Some("similarity"));
        assert_eq!(vars.suggest("SA_SCOR", Some(Type::Number)), Some("sa"));
        assert_eq!(vars.suggest("xyz", None), None);
        vars.boolean("pains", &[]).unwrap();
        assert_eq!(vars.suggest("pain", None), Some("pains"));
        assert_eq!(vars.suggest("pain", Some(Type::Number)), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
