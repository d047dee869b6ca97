//! Bound expressions: [`Predicate`] (a condition, three-valued) and [`Formula`] (a number), their evaluation over
//! a row of [`Values`] and their normalized printing.

use std::fmt;

use crate::error::ParseError;
use crate::vars::{FnId, VarId, Variables};
use crate::{ArithOp, CmpOp, Type};

/// Where an expression reads a row's values. `None` means the value is missing for this row.
pub trait Values {
    /// The value of a numeric variable.
    fn number(&self, var: VarId) -> Option<f64>;
    /// The value of a true/false variable.
    fn boolean(&self, var: VarId) -> Option<bool>;
    /// The value of a call of a numeric function (missing unless the program evaluates calls).
    fn call_number(&self, _call: &Call) -> Option<f64> {
        None
    }
    /// The value of a call of a true/false function (missing unless the program evaluates calls).
    fn call_boolean(&self, _call: &Call) -> Option<bool> {
        None
    }
}

/// A call of a declared function with its string argument: `count("c1ccccc1")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    pub(crate) function: FnId,
    pub(crate) name: String,
    pub(crate) argument: String,
}

impl Call {
    /// The function called.
    pub fn function(&self) -> FnId {
        self.function
    }

    /// Its canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The string argument, without its quotes.
    pub fn argument(&self) -> &str {
        &self.argument
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = if self.argument.contains('"') { '\'' } else { '"' };
        write!(f, "{}({q}{}{q})", self.name, self.argument)
    }
}

/// A numeric expression, names resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Num {
    Const(f64),
    Var(VarId, String),
    Call(Call),
    Neg(Box<Num>),
    Arith(Box<Num>, ArithOp, Box<Num>),
}

/// A condition, names resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Var(VarId, String),
    Call(Call),
    Cmp(Num, CmpOp, Num),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Num {
    /// The value, `None` when a variable it reads is missing (NaN stays NaN).
    fn eval(&self, row: &dyn Values) -> Option<f64> {
        match self {
            Num::Const(c) => Some(*c),
            Num::Var(v, _) => row.number(*v),
            Num::Call(c) => row.call_number(c),
            Num::Neg(x) => x.eval(row).map(|x| -x),
            Num::Arith(a, op, b) => Some(op.apply(a.eval(row)?, b.eval(row)?)),
        }
    }

    /// Whether it reads any variable.
    pub(crate) fn has_var(&self) -> bool {
        match self {
            Num::Const(_) => false,
            Num::Var(..) | Num::Call(_) => true,
            Num::Neg(x) => x.has_var(),
            Num::Arith(a, _, b) => a.has_var() || b.has_var(),
        }
    }

    fn visit(&self, f: &mut impl FnMut(VarId)) {
        match self {
            Num::Const(_) | Num::Call(_) => {}
            Num::Var(v, _) => f(*v),
            Num::Neg(x) => x.visit(f),
            Num::Arith(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
        }
    }

    fn visit_calls<'a>(&'a self, f: &mut impl FnMut(&'a Call)) {
        match self {
            Num::Const(_) | Num::Var(..) => {}
            Num::Call(c) => f(c),
            Num::Neg(x) => x.visit_calls(f),
            Num::Arith(a, _, b) => {
                a.visit_calls(f);
                b.visit_calls(f);
            }
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Num::Arith(_, ArithOp::Add | ArithOp::Sub, _) => 5,
            Num::Arith(_, ArithOp::Mul | ArithOp::Div, _) => 6,
            Num::Neg(_) => 7,
            Num::Const(_) | Num::Var(..) | Num::Call(_) => 8,
        }
    }

    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        let p = self.precedence();
        if p < min {
            write!(f, "(")?;
            self.fmt_at(f, 0)?;
            return write!(f, ")");
        }
        match self {
            Num::Const(c) => write!(f, "{}", Number(*c)),
            Num::Var(_, name) => write!(f, "{name}"),
            Num::Call(c) => write!(f, "{c}"),
            Num::Neg(x) => {
                write!(f, "-")?;
                x.fmt_at(f, 7)
            }
            // Left-associative: the right operand needs parentheses at its own level (`a - (b - c)`).
            Num::Arith(a, op, b) => {
                a.fmt_at(f, p)?;
                write!(f, " {} ", op.symbol())?;
                b.fmt_at(f, p + 1)
            }
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_at(f, 0)
    }
}

impl Cond {
    /// Three-valued evaluation: `None` is unknown (a missing value was needed).
    fn eval3(&self, row: &dyn Values) -> Option<bool> {
        match self {
            Cond::Var(v, _) => row.boolean(*v),
            Cond::Call(c) => row.call_boolean(c),
            Cond::Cmp(a, op, b) => {
                let known = |x: &Num| x.eval(row).filter(|x| !x.is_nan());
                Some(op.apply(known(a)?, known(b)?))
            }
            Cond::Not(e) => e.eval3(row).map(|b| !b),
            Cond::And(a, b) => match a.eval3(row) {
                Some(false) => Some(false),
                l => match (l, b.eval3(row)) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
            },
            Cond::Or(a, b) => match a.eval3(row) {
                Some(true) => Some(true),
                l => match (l, b.eval3(row)) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
            },
        }
    }

    fn visit(&self, f: &mut impl FnMut(VarId)) {
        match self {
            Cond::Var(v, _) => f(*v),
            Cond::Call(_) => {}
            Cond::Cmp(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
            Cond::Not(e) => e.visit(f),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.visit(f);
                b.visit(f);
            }
        }
    }

    fn visit_calls<'a>(&'a self, f: &mut impl FnMut(&'a Call)) {
        match self {
            Cond::Var(..) => {}
            Cond::Call(c) => f(c),
            Cond::Cmp(a, _, b) => {
                a.visit_calls(f);
                b.visit_calls(f);
            }
            Cond::Not(e) => e.visit_calls(f),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.visit_calls(f);
                b.visit_calls(f);
            }
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Cond::Or(..) => 1,
            Cond::And(..) => 2,
            Cond::Not(_) => 3,
            Cond::Cmp(..) | Cond::Var(..) | Cond::Call(_) => 4,
        }
    }

    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "(")?;
            self.fmt_at(f, 0)?;
            return write!(f, ")");
        }
        match self {
            Cond::Var(_, name) => write!(f, "{name}"),
            Cond::Call(c) => write!(f, "{c}"),
            Cond::Cmp(a, op, b) => {
                a.fmt_at(f, 5)?;
                write!(f, " {} ", op.symbol())?;
                b.fmt_at(f, 5)
            }
            Cond::Not(e) => {
                write!(f, "not ")?;
                e.fmt_at(f, 3)
            }
            Cond::And(a, b) => {
                a.fmt_at(f, 2)?;
                write!(f, " and ")?;
                b.fmt_at(f, 2)
            }
            Cond::Or(a, b) => {
                a.fmt_at(f, 1)?;
                write!(f, " or ")?;
                b.fmt_at(f, 1)
            }
        }
    }
}

/// Prints a number so that it reads back exactly: `500`, `0.6`, `1e-10`.
struct Number(f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a == 0.0 || (1e-4..1e15).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

/// Each variable once, in order of first use.
fn first_uses(visit: impl FnOnce(&mut dyn FnMut(VarId))) -> Vec<VarId> {
    let mut out = Vec::new();
    visit(&mut |v| {
        if !out.contains(&v) {
            out.push(v);
        }
    });
    out
}

/// Each distinct call once, in order of first use.
fn distinct_calls<'a>(visit: impl FnOnce(&mut dyn FnMut(&'a Call))) -> Vec<&'a Call> {
    let mut out: Vec<&Call> = Vec::new();
    visit(&mut |c| {
        if !out.contains(&c) {
            out.push(c);
        }
    });
    out
}

/// A condition over a row (`qed > 0.6 and not pains`), true, false or unknown (see the crate docs).
///
/// Its `Display` is the normalized form: canonical names, a comparison with its variable side first
/// (`0.6 < qed` prints `qed > 0.6`), only the parentheses precedence needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub(crate) cond: Cond,
    pub(crate) text: String,
}

impl Predicate {
    /// True, false, or `None` when a value it needs is missing.
    pub fn eval(&self, row: &dyn Values) -> Option<bool> {
        self.cond.eval3(row)
    }

    /// True when the row passes: the condition is true, not false or unknown.
    pub fn passes(&self, row: &dyn Values) -> bool {
        self.eval(row) == Some(true)
    }

    /// The expression as the user wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The variables it reads, each once, in order of first use.
    pub fn variables(&self) -> Vec<VarId> {
        first_uses(|f| self.cond.visit(&mut |v| f(v)))
    }

    /// The function calls it makes, each distinct call once, in order of first use.
    pub fn calls(&self) -> Vec<&Call> {
        distinct_calls(|f| self.cond.visit_calls(&mut |c| f(c)))
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cond.fmt_at(f, 0)
    }
}

/// A number computed from a row (`qed - 0.1*sa + 0.5*sim_ref`); missing when a value it reads is missing.
///
/// Its `Display` is the normalized form (canonical names, single spaces around operators, only the parentheses
/// precedence needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub(crate) num: Num,
    pub(crate) text: String,
}

impl Formula {
    /// The value, or `None` when a value it needs is missing. NaN values propagate as NaN.
    pub fn eval(&self, row: &dyn Values) -> Option<f64> {
        self.num.eval(row)
    }

    /// The expression as the user wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The variables it reads, each once, in order of first use.
    pub fn variables(&self) -> Vec<VarId> {
        first_uses(|f| self.num.visit(&mut |v| f(v)))
    }

    /// The function calls it makes, each distinct call once, in order of first use.
    pub fn calls(&self) -> Vec<&Call> {
        distinct_calls(|f| self.num.visit_calls(&mut |c| f(c)))
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.num.fmt(f)
    }
}

/// An empty expression's hint: an example over the variables at hand.
pub(crate) fn with_example(mut e: ParseError, vars: &Variables, ty: Type) -> ParseError {
    if e.kind == crate::ErrorKind::Empty {
        e.hint = vars.example(ty);
    }
    e
}
