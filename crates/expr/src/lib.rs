//! One small expression language for biotorch: the conditions of `--filter` (`qed > 0.6 and mw < 500 and not
//! pains`) and the numbers of `--objective` (`qed - 0.1*sa + 0.5*sim_ref`), with one tokenizer and one parser.
//!
//! The language knows no property names: a program declares its [`Variables`] (numbers and true/false flags, with
//! aliases), then [`Predicate::parse`] or [`Formula::parse`] binds a text to them and reports unknown names (with a
//! did-you-mean), a flag used as a number or a number used as a condition, each with the column it found it at.
//! Evaluation reads a row through [`Values`].
//!
//! # Grammar
//!
//! Keywords and names are case-insensitive; blanks separate tokens and are otherwise ignored.
//!
//! ```text
//! or      := and (("or" | "||") and)*
//! and     := not (("and" | "&&") not)*
//! not     := ("not" | "!") not | compare
//! compare := sum (CMP sum)*                      CMP := "<" | "<=" | ">" | ">=" | "==" | "=" | "!="
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/") unary)*
//! unary   := ("-" | "+") unary | primary
//! primary := NUMBER | NAME | "(" or ")" | NAME "(" [or ("," or)*] ")" | STRING
//! ```
//!
//! A comparison needs a variable on at least one side; written number first it is read with the operator flipped
//! (`0.6 < qed` is `qed > 0.6`), and a chain `0.2 < qed < 0.9` is `qed > 0.2 and qed < 0.9`. Comparisons are exact
//! on `f64` (`hbd == 2`). A bare true/false name is a condition (`pains`, `not novel`). Numbers are decimal with an
//! optional exponent (`1e-3`, `.5`); strings are quoted with `"` or `'`.
//!
//! Calls (`matches("[NX3][CX3](=O)")`, `count("c1ccccc1") >= 2`) take one quoted string and call a function the
//! program declares ([`Variables::function`]), a number or a condition; an undeclared one is an unknown function.
//! The language does not know what the string means: [`Predicate::bind_with`] hands each call to the program's
//! check (say, compiling a SMARTS), whose refusal is an error pointing at the string, and the row evaluates the
//! calls ([`Values::call_number`], [`Values::call_boolean`]). A call is missing-valued like a variable. Names bound at run time
//! (say, a property-prediction head's `pic50` and `pic50_std`) need nothing more than being declared before binding:
//! parse early with [`Ast::parse`] to check the syntax, bind later with [`Predicate::bind`].
//!
//! # Missing values
//!
//! A value a row lacks (`None`: a similarity without a training set) or a NaN makes a comparison *unknown*, as in
//! SQL's three-valued logic: `not unknown` is unknown, `false and unknown` is false, `true or unknown` is true, and
//! a row passes ([`Predicate::passes`]) only when the whole condition is true. So `not (similarity > 0.8)` does not
//! pass rows whose similarity is unknown. In arithmetic a missing value makes the result missing
//! ([`Formula::eval`] is `None`).
//!
//! ```
//! use biotorch_expr::{Predicate, Formula, Values, VarId, Variables};
//!
//! let mut vars = Variables::new();
//! let qed = vars.number("qed", &[]).unwrap();
//! let sa = vars.number("sa", &["sa_score"]).unwrap();
//! let pains = vars.boolean("pains", &[]).unwrap();
//!
//! struct Row { qed: f64, sa: Option<f64>, pains: bool }
//! impl Values for Row {
//!     fn number(&self, v: VarId) -> Option<f64> {
//!         if v.index() == 0 { Some(self.qed) } else { self.sa }
//!     }
//!     fn boolean(&self, _: VarId) -> Option<bool> {
//!         Some(self.pains)
//!     }
//! }
//!
//! let filter = Predicate::parse("0.5 < QED and not pains", &vars).unwrap();
//! assert_eq!(filter.to_string(), "qed > 0.5 and not pains");
//! assert!(filter.passes(&Row { qed: 0.7, sa: None, pains: false }));
//! assert_eq!(filter.variables(), vec![qed, pains]);
//!
//! let objective = Formula::parse("qed - 0.1*sa_score", &vars).unwrap();
//! assert_eq!(objective.eval(&Row { qed: 0.7, sa: Some(2.0), pains: false }), Some(0.7 - 0.1 * 2.0));
//! assert_eq!(objective.eval(&Row { qed: 0.7, sa: None, pains: false }), None);
//! assert_eq!(objective.variables(), vec![qed, sa]);
//!
//! let e = Predicate::parse("qed > 0.5 and mww < 3", &vars).unwrap_err().with_label("--filter");
//! assert!(e.to_string().starts_with("cannot parse --filter \"qed > 0.5 and mww < 3\": unknown property `mww`"));
//! ```

mod bind;
mod error;
mod expr;
mod syntax;
mod vars;

pub use bind::CheckCall;
pub use error::{Error, ErrorKind, ParseError, Result};
pub use expr::{Call, Formula, Predicate, Values};
pub use syntax::Ast;
pub use vars::{FnId, Function, VarId, Variable, Variables};

/// What an expression (or a variable) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// A number (`f64`).
    Number,
    /// True or false: a condition.
    Bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` or `=`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }

    /// The operator with its sides swapped: `a < b` is `b > a`.
    fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            op => op,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (IEEE: dividing by zero gives an infinity or NaN)
    Div,
}

impl ArithOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => a / b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

#[cfg(test)]
mod tests;
