//! Property filters for molecules: the small expression language of
//! `biotorch generate --filter` and `biotorch optimize`, e.g.
//! `qed > 0.6 and mw < 500 and not pains`.
//!
//! Grammar (keywords and names are case-insensitive):
//!
//! ```text
//! or    := and (("or" | "||") and)*
//! and   := not (("and" | "&&") not)*
//! not   := ("not" | "!") not | atom
//! atom  := "(" or ")" | FLAG | NAME OP NUMBER | NUMBER OP NAME | NUMBER OP NAME OP NUMBER
//! OP    := "<" | "<=" | ">" | ">=" | "==" | "=" | "!="
//! ```
//!
//! `NUMBER OP NAME` is read as `NAME` with the operator flipped (`0.6 < qed` is `qed > 0.6`) and
//! `0.2 < qed < 0.9` is `qed > 0.2 and qed < 0.9`. Comparisons are exact on `f64` (`hbd == 2`).
//!
//! Missing values follow SQL's three-valued logic: a comparison on a value the row lacks (a
//! similarity without a training set, a NaN) is *unknown*, `not unknown` is unknown, `false and
//! unknown` is false, `true or unknown` is true, and a row passes only when the whole expression
//! is true. So `not (similarity > 0.8)` does not pass rows whose similarity is unknown. Invalid
//! molecules have no properties: callers should evaluate only valid molecules (or expose `valid`
//! and let the expression say `not valid or ...`).

use std::fmt;
use std::str::FromStr;

/// Where a filter reads a row's values. `None` means the value is missing for this row.
pub(crate) trait PropertySource {
    fn number(&self, p: Numeric) -> Option<f64>;
    fn flag(&self, p: Flag) -> Option<bool>;
}

/// A numeric property a filter can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Numeric {
    Qed,
    Sa,
    Logp,
    Mw,
    Tpsa,
    Hbd,
    Hba,
    Rotb,
    Rings,
    AromaticRings,
    HeavyAtoms,
    FormalCharge,
    Nll,
    /// Maximum Tanimoto similarity to the training set (needs `--train-set`).
    Similarity,
    /// Tanimoto similarity to the `--similar-to` reference.
    SimRef,
}

/// A true/false property a filter uses bare (`pains`, `not novel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flag {
    Pains,
    Brenk,
    Novel,
    Valid,
    Finished,
}

/// Accepted spellings, canonical name first for each property.
const NUMERIC_NAMES: &[(&str, Numeric)] = &[
    ("qed", Numeric::Qed),
    ("sa", Numeric::Sa),
    ("sa_score", Numeric::Sa),
    ("logp", Numeric::Logp),
    ("clogp", Numeric::Logp),
    ("mw", Numeric::Mw),
    ("molwt", Numeric::Mw),
    ("mol_weight", Numeric::Mw),
    ("tpsa", Numeric::Tpsa),
    ("hbd", Numeric::Hbd),
    ("hba", Numeric::Hba),
    ("rotb", Numeric::Rotb),
    ("rotatable_bonds", Numeric::Rotb),
    ("rings", Numeric::Rings),
    ("aromatic_rings", Numeric::AromaticRings),
    ("heavy_atoms", Numeric::HeavyAtoms),
    ("formal_charge", Numeric::FormalCharge),
    ("nll", Numeric::Nll),
    ("similarity", Numeric::Similarity),
    ("max_train_similarity", Numeric::Similarity),
    ("sim_ref", Numeric::SimRef),
];

const FLAG_NAMES: &[(&str, Flag)] = &[
    ("pains", Flag::Pains),
    ("brenk", Flag::Brenk),
    ("novel", Flag::Novel),
    ("valid", Flag::Valid),
    ("finished", Flag::Finished),
];

impl Numeric {
    /// Every numeric property, in the order `--help` and error messages list them.
    pub(crate) const ALL: [Numeric; 15] = [
        Numeric::Qed,
        Numeric::Sa,
        Numeric::Logp,
        Numeric::Mw,
        Numeric::Tpsa,
        Numeric::Hbd,
        Numeric::Hba,
        Numeric::Rotb,
        Numeric::Rings,
        Numeric::AromaticRings,
        Numeric::HeavyAtoms,
        Numeric::FormalCharge,
        Numeric::Nll,
        Numeric::Similarity,
        Numeric::SimRef,
    ];

    /// Looks a name or alias up, case-insensitively.
    pub(crate) fn from_name(name: &str) -> Option<Numeric> {
        let name = name.to_ascii_lowercase();
        NUMERIC_NAMES.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
    }

    /// The canonical (lowercase) name.
    pub(crate) fn name(self) -> &'static str {
        NUMERIC_NAMES.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

impl Flag {
    /// Looks a name up, case-insensitively.
    pub(crate) fn from_name(name: &str) -> Option<Flag> {
        let name = name.to_ascii_lowercase();
        FLAG_NAMES.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }

    /// The canonical (lowercase) name.
    pub(crate) fn name(self) -> &'static str {
        FLAG_NAMES.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
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

/// A parsed filter expression. Its `Display` is the normalized form (canonical lowercase
/// names, `NAME OP NUMBER`, only the parentheses precedence needs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Cmp(Numeric, CmpOp, f64),
    Flag(Flag),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Three-valued evaluation: `None` is unknown (a missing value was needed).
    fn eval3(&self, row: &dyn PropertySource) -> Option<bool> {
        match self {
            Expr::Cmp(p, op, v) => row.number(*p).filter(|x| !x.is_nan()).map(|x| op.apply(x, *v)),
            Expr::Flag(f) => row.flag(*f),
            Expr::Not(e) => e.eval3(row).map(|b| !b),
            Expr::And(a, b) => match a.eval3(row) {
                Some(false) => Some(false),
                l => match (l, b.eval3(row)) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
            },
            Expr::Or(a, b) => match a.eval3(row) {
                Some(true) => Some(true),
                l => match (l, b.eval3(row)) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
            },
        }
    }

    fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Not(e) => e.visit(f),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Cmp(..) | Expr::Flag(_) => {}
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Not(_) => 3,
            Expr::Cmp(..) | Expr::Flag(_) => 4,
        }
    }

    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "(")?;
            self.fmt_at(f, 0)?;
            return write!(f, ")");
        }
        match self {
            Expr::Cmp(p, op, v) => write!(f, "{} {} {}", p.name(), op.symbol(), Number(*v)),
            Expr::Flag(flag) => write!(f, "{}", flag.name()),
            Expr::Not(e) => {
                write!(f, "not ")?;
                e.fmt_at(f, 3)
            }
            Expr::And(a, b) => {
                a.fmt_at(f, 2)?;
                write!(f, " and ")?;
                b.fmt_at(f, 2)
            }
            Expr::Or(a, b) => {
                a.fmt_at(f, 1)?;
                write!(f, " or ")?;
                b.fmt_at(f, 1)
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_at(f, 0)
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

/// A parsed `--filter` expression.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    expr: Expr,
    text: String,
}

impl Filter {
    pub(crate) fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { text, tokens, pos: 0 };
        let expr = parser.parse()?;
        Ok(Filter { expr, text: text.to_string() })
    }

    /// True when the row passes: the expression is true, not false or unknown (see the module
    /// docs). Callers should evaluate valid molecules only.
    pub(crate) fn eval(&self, row: &dyn PropertySource) -> bool {
        self.expr.eval3(row) == Some(true)
    }

    /// The expression as the user wrote it.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The parsed expression (its `Display` is the normalized form).
    pub(crate) fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The numeric properties the expression reads, each once, in order of first use (so a
    /// caller can tell that `similarity` needs `--train-set`, or skip computing the rest).
    pub(crate) fn numerics(&self) -> Vec<Numeric> {
        let mut out = Vec::new();
        self.expr.visit(&mut |e| {
            if let Expr::Cmp(p, ..) = e {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
        });
        out
    }

    /// The flags the expression reads, each once, in order of first use.
    pub(crate) fn flags(&self) -> Vec<Flag> {
        let mut out = Vec::new();
        self.expr.visit(&mut |e| {
            if let Expr::Flag(f) = e {
                if !out.contains(f) {
                    out.push(*f);
                }
            }
        });
        out
    }
}

/// The normalized form, e.g. `qed > 0.6 and mw < 500 and not pains`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(s)
    }
}

/// Why a filter did not parse, and where: `column` counts characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot parse --filter \"{text}\": {reason} at column {column}{hint_suffix}\n  {line}\n  {pad}^",
    hint_suffix = .hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default(),
    line = .text.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect::<String>(),
    pad = " ".repeat(.column.saturating_sub(1)),
)]
pub(crate) struct FilterError {
    pub(crate) text: String,
    pub(crate) column: usize,
    pub(crate) reason: String,
    pub(crate) hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Name,
    Number(f64),
    Op(CmpOp),
    And,
    Or,
    Not,
    LParen,
    RParen,
    End,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    tok: Tok,
    /// Character column, from 1.
    column: usize,
    text: &'a str,
}

fn error(text: &str, column: usize, reason: String, hint: Option<String>) -> FilterError {
    FilterError { text: text.to_string(), column, reason, hint }
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
        let starts_number = |j: usize| at(j).is_some_and(|c| c.is_ascii_digit() || c == '.');
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' {
            while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                i += 1;
            }
            match text[byte(start)..byte(i)].to_ascii_lowercase().as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                _ => Tok::Name,
            }
        } else if starts_number(i) || ((c == '-' || c == '+') && starts_number(i + 1)) {
            i += 1;
            while let Some(c) = at(i) {
                let exponent_sign = (c == '-' || c == '+') && matches!(at(i - 1), Some('e' | 'E'));
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            let s = &text[byte(start)..byte(i)];
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Tok::Number(v),
                _ => return Err(error(text, start + 1, format!("malformed number `{s}`"), None)),
            }
        } else {
            let next = at(i + 1);
            let (tok, len) = match (c, next) {
                ('<', Some('=')) => (Tok::Op(CmpOp::Le), 2),
                ('>', Some('=')) => (Tok::Op(CmpOp::Ge), 2),
                ('=', Some('=')) => (Tok::Op(CmpOp::Eq), 2),
                ('!', Some('=')) => (Tok::Op(CmpOp::Ne), 2),
                ('&', Some('&')) => (Tok::And, 2),
                ('|', Some('|')) => (Tok::Or, 2),
                ('<', _) => (Tok::Op(CmpOp::Lt), 1),
                ('>', _) => (Tok::Op(CmpOp::Gt), 1),
                ('=', _) => (Tok::Op(CmpOp::Eq), 1),
                ('!', _) => (Tok::Not, 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                _ => {
                    let hint = matches!(c, '&' | '|').then(|| "use `and`/`&&` or `or`/`||`".to_string());
                    return Err(error(text, i + 1, format!("unexpected character `{c}`"), hint));
                }
            };
            i += len;
            tok
        };
        tokens.push(Token { tok, column: start + 1, text: &text[byte(start)..byte(i)] });
    }
    tokens.push(Token { tok: Tok::End, column: chars.len() + 1, text: "" });
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
}

enum Name {
    Numeric(Numeric),
    Flag(Flag),
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Token<'a> {
        self.tokens[self.pos]
    }

    fn bump(&mut self) -> Token<'a> {
        let t = self.tokens[self.pos];
        if t.tok != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn err(&self, t: Token<'_>, reason: String, hint: Option<&str>) -> FilterError {
        error(self.text, t.column, reason, hint.map(str::to_string))
    }

    fn parse(&mut self) -> Result<Expr, FilterError> {
        let first = self.peek();
        if first.tok == Tok::End {
            let hint = Some("write e.g. qed > 0.6 and not pains");
            return Err(self.err(first, "empty expression".into(), hint));
        }
        let expr = self.or()?;
        let t = self.peek();
        match t.tok {
            Tok::End => Ok(expr),
            Tok::RParen => Err(self.err(t, "unmatched `)`".into(), None)),
            _ => Err(self.unexpected(t)),
        }
    }

    fn unexpected(&self, t: Token<'_>) -> FilterError {
        let reason = format!("unexpected `{}` after a complete condition", t.text);
        self.err(t, reason, Some("join conditions with `and` or `or`"))
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut lhs = self.and()?;
        while self.peek().tok == Tok::Or {
            self.bump();
            lhs = Expr::Or(Box::new(lhs), Box::new(self.and()?));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut lhs = self.not()?;
        while self.peek().tok == Tok::And {
            self.bump();
            lhs = Expr::And(Box::new(lhs), Box::new(self.not()?));
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.peek().tok == Tok::Not {
            self.bump();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, FilterError> {
        let t = self.peek();
        match t.tok {
            Tok::LParen => {
                self.bump();
                let inner = self.or()?;
                let close = self.peek();
                match close.tok {
                    Tok::RParen => {
                        self.bump();
                        Ok(inner)
                    }
                    Tok::End => Err(self.err(t, "unclosed `(`".into(), Some("add the missing `)`"))),
                    _ => Err(self.unexpected(close)),
                }
            }
            Tok::Name => {
                self.bump();
                match self.name(t)? {
                    Name::Flag(f) => Ok(Expr::Flag(f)),
                    Name::Numeric(p) => {
                        let Tok::Op(op) = self.peek().tok else {
                            let (name, reason) = (p.name(), format!("`{}` is a number", t.text));
                            let hint = format!("compare it, e.g. {name} > 0.5");
                            return Err(self.err(t, reason, Some(&hint)));
                        };
                        let op_token = self.bump();
                        Ok(Expr::Cmp(p, op, self.number_after(op_token)?))
                    }
                }
            }
            Tok::Number(v) => {
                self.bump();
                let Tok::Op(op) = self.peek().tok else {
                    return Err(self.number_not_name(t));
                };
                let op_token = self.bump();
                let n = self.bump();
                let p = match n.tok {
                    Tok::Name => match self.name(n)? {
                        Name::Numeric(p) => p,
                        Name::Flag(_) => unreachable!("name() rejects a compared flag"),
                    },
                    Tok::Number(_) => return Err(self.number_not_name(n)),
                    Tok::End => {
                        let reason = format!("missing property after `{}`", op_token.text);
                        return Err(self.err(n, reason, None));
                    }
                    _ => {
                        let reason = format!("expected a property after `{}`, found `{}`", op_token.text, n.text);
                        return Err(self.err(n, reason, None));
                    }
                };
                let lower = Expr::Cmp(p, op.flip(), v);
                // `0.2 < qed < 0.9`
                if let Tok::Op(op2) = self.peek().tok {
                    let op_token = self.bump();
                    let upper = Expr::Cmp(p, op2, self.number_after(op_token)?);
                    return Ok(Expr::And(Box::new(lower), Box::new(upper)));
                }
                Ok(lower)
            }
            Tok::End => {
                let prev = self.tokens[self.pos - 1];
                let reason = format!("missing operand after `{}`", prev.text);
                Err(self.err(t, reason, Some("expected a property, `not` or `(`")))
            }
            Tok::RParen if self.pos > 0 && self.tokens[self.pos - 1].tok == Tok::LParen => {
                Err(self.err(t, "empty parentheses".into(), None))
            }
            Tok::RParen | Tok::And | Tok::Or | Tok::Op(_) => {
                let reason = format!("missing operand before `{}`", t.text);
                Err(self.err(t, reason, Some("expected a property, `not` or `(`")))
            }
            Tok::Not => unreachable!("`not` is parsed by Parser::not"),
        }
    }

    /// Resolves a name token; a flag followed by an operator is an error.
    fn name(&self, t: Token<'_>) -> Result<Name, FilterError> {
        if let Some(p) = Numeric::from_name(t.text) {
            return Ok(Name::Numeric(p));
        }
        if let Some(f) = Flag::from_name(t.text) {
            let before = self.pos >= 2 && matches!(self.tokens[self.pos - 2].tok, Tok::Op(_));
            if before || matches!(self.peek().tok, Tok::Op(_)) {
                let reason = format!("`{}` is true/false", t.text);
                let hint = format!("use `{0}` or `not {0}`", f.name());
                return Err(self.err(t, reason, Some(&hint)));
            }
            return Ok(Name::Flag(f));
        }
        let known: Vec<&str> =
            Numeric::ALL.iter().map(|p| p.name()).chain(FLAG_NAMES.iter().map(|(n, _)| *n)).collect();
        let hint = format!("known: {}", known.join(", "));
        Err(self.err(t, format!("unknown property `{}`", t.text), Some(&hint)))
    }

    fn number_after(&mut self, op: Token<'_>) -> Result<f64, FilterError> {
        let t = self.bump();
        match t.tok {
            Tok::Number(v) => Ok(v),
            Tok::End => Err(self.err(t, format!("missing number after `{}`", op.text), None)),
            _ => {
                let reason = format!("expected a number after `{}`, found `{}`", op.text, t.text);
                Err(self.err(t, reason, None))
            }
        }
    }

    fn number_not_name(&self, t: Token<'_>) -> FilterError {
        let reason = format!("expected a property name, found number `{}`", t.text);
        self.err(t, reason, Some("write a comparison as NAME OP NUMBER, e.g. qed > 0.5"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Clone)]
    struct Row {
        numbers: Vec<(Numeric, f64)>,
        flags: Vec<(Flag, bool)>,
    }

    impl PropertySource for Row {
        fn number(&self, p: Numeric) -> Option<f64> {
            self.numbers.iter().find(|(q, _)| *q == p).map(|&(_, v)| v)
        }
        fn flag(&self, p: Flag) -> Option<bool> {
            self.flags.iter().find(|(q, _)| *q == p).map(|&(_, v)| v)
        }
    }

    fn row(numbers: &[(Numeric, f64)], flags: &[(Flag, bool)]) -> Row {
        Row { numbers: numbers.to_vec(), flags: flags.to_vec() }
    }

    fn eval(text: &str, r: &Row) -> bool {
        Filter::parse(text).unwrap_or_else(|e| panic!("{e}")).eval(r)
    }

    fn err(text: &str) -> FilterError {
        Filter::parse(text).expect_err(text)
    }

    fn flags(pains: bool, brenk: bool, novel: bool) -> Row {
        row(&[], &[(Flag::Pains, pains), (Flag::Brenk, brenk), (Flag::Novel, novel)])
    }

    #[test]
    fn or_binds_looser_than_and() {
        // `pains or (brenk and novel)` is true here; `(pains or brenk) and novel` would be false.
        assert!(eval("pains or brenk and novel", &flags(true, false, false)));
        assert!(!eval("(pains or brenk) and novel", &flags(true, false, false)));
        assert!(eval("brenk and novel or pains", &flags(true, false, false)));
        let f = Filter::parse("pains or brenk and novel").unwrap();
        assert_eq!(f.to_string(), "pains or brenk and novel");
        assert!(matches!(f.expr(), Expr::Or(..)));
    }

    #[test]
    fn not_binds_tighter_than_and() {
        assert!(eval("not pains and brenk", &flags(false, true, false)));
        assert!(!eval("not pains and brenk", &flags(true, true, false)));
        assert!(!eval("not (pains and brenk)", &flags(true, true, false)));
        assert!(eval("not not pains", &flags(true, false, false)));
        assert!(eval("!pains && !brenk || novel", &flags(true, true, true)));
        let r = row(&[(Numeric::Qed, 0.3)], &[]);
        assert!(eval("not qed > 0.5", &r));
        assert!(eval("! qed > 0.5", &r));
    }

    #[test]
    fn comparisons_both_orders_and_chains() {
        let r = row(&[(Numeric::Qed, 0.7), (Numeric::Mw, 420.0), (Numeric::Hbd, 2.0)], &[]);
        for text in [
            "qed>0.6",
            "0.6<qed",
            "qed >= 0.7",
            "0.7 >= qed",
            "mw<500",
            "500 > mw",
            "mw <= 420",
            "hbd == 2",
            "hbd = 2",
            "2 = hbd",
            "hbd != 3",
            "0.5 < qed < 0.9",
            "qed > -1.5",
            "qed > 1e-3",
            "mw < 5E2",
            "qed>+.5",
        ] {
            assert!(eval(text, &r), "{text}");
        }
        for text in ["qed < 0.6", "0.6 > qed", "hbd != 2", "0.8 < qed < 0.9", "1e3 < mw"] {
            assert!(!eval(text, &r), "{text}");
        }
        assert_eq!(Filter::parse("0.6 < qed").unwrap().to_string(), "qed > 0.6");
        assert_eq!(Filter::parse("0.2<qed<=0.9").unwrap().to_string(), "qed > 0.2 and qed <= 0.9");
    }

    #[test]
    fn aliases_and_case() {
        let r = row(
            &[
                (Numeric::Sa, 3.0),
                (Numeric::Logp, 2.0),
                (Numeric::Mw, 300.0),
                (Numeric::Rotb, 4.0),
                (Numeric::Similarity, 0.4),
            ],
            &[(Flag::Pains, false)],
        );
        for text in [
            "sa_score < 4 AND clogp < 3",
            "MolWt < 400 and mol_weight > 200 and MW == 300",
            "rotatable_bonds == 4 and ROTB <= 4",
            "max_train_similarity < 0.5 and Similarity < 0.5",
            "NOT Pains Or qed > 1",
        ] {
            assert!(eval(text, &r), "{text}");
        }
        let f = Filter::parse("SA_Score<4 and NOT PAINS and Clogp>1").unwrap();
        assert_eq!(f.to_string(), "sa < 4 and not pains and logp > 1");
        assert_eq!(f.text(), "SA_Score<4 and NOT PAINS and Clogp>1");
        assert_eq!(Numeric::from_name("Aromatic_Rings"), Some(Numeric::AromaticRings));
        assert_eq!(Flag::from_name("FINISHED"), Some(Flag::Finished));
        for p in Numeric::ALL {
            assert_eq!(Numeric::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn missing_values_are_unknown() {
        // No similarity, no `novel`: comparisons on them are unknown, and unknown never passes.
        let r = row(&[(Numeric::Qed, 0.7), (Numeric::Mw, f64::NAN)], &[(Flag::Pains, false)]);
        assert!(!eval("similarity > 0.5", &r));
        assert!(!eval("similarity <= 0.5", &r));
        assert!(!eval("not similarity > 0.5", &r));
        assert!(!eval("novel", &r));
        assert!(!eval("not novel", &r));
        assert!(!eval("mw < 500", &r), "NaN is missing");
        assert!(!eval("not mw < 500", &r), "NaN is missing");
        // Kleene logic: a known side can decide.
        assert!(eval("qed > 0.5 or novel", &r));
        assert!(eval("novel or qed > 0.5", &r));
        assert!(!eval("qed > 0.5 and novel", &r));
        assert!(eval("not (qed < 0.5 and novel)", &r), "false and unknown is false");
        assert!(!eval("not (qed > 0.5 and novel)", &r), "true and unknown is unknown");
        assert!(eval("not (novel and pains)", &r), "unknown and false is false");
        assert!(!eval("not (novel or pains)", &r), "unknown or false is unknown");
    }

    #[test]
    fn names_used() {
        let f = Filter::parse("qed > 0.5 and (similarity < 0.4 or qed < 0.9) and not pains and novel and not pains")
            .unwrap();
        assert_eq!(f.numerics(), vec![Numeric::Qed, Numeric::Similarity]);
        assert_eq!(f.flags(), vec![Flag::Pains, Flag::Novel]);
        let f: Filter = "sim_ref >= 0.3".parse().unwrap();
        assert_eq!(f.numerics(), vec![Numeric::SimRef]);
        assert!(f.flags().is_empty());
    }

    #[test]
    fn error_unknown_name() {
        let e = err("qed>0.6 and mww<500");
        assert_eq!(e.column, 13);
        let known = "known: qed, sa, logp, mw, tpsa, hbd, hba, rotb, rings, aromatic_rings, heavy_atoms, \
                     formal_charge, nll, similarity, sim_ref, pains, brenk, novel, valid, finished";
        assert_eq!(
            e.to_string(),
            format!(
                "cannot parse --filter \"qed>0.6 and mww<500\": unknown property `mww` at column 13 ({known})\n  \
                 qed>0.6 and mww<500\n              ^"
            )
        );
    }

    fn check(text: &str, column: usize, reason: &str, hint: Option<&str>) {
        let e = err(text);
        assert_eq!((e.column, e.reason.as_str(), e.hint.as_deref()), (column, reason, hint), "{text}");
        let caret = e.to_string().lines().last().unwrap().to_string();
        assert_eq!(caret, format!("  {}^", " ".repeat(column - 1)), "{text}");
    }

    #[test]
    fn error_messages() {
        let operand = Some("expected a property, `not` or `(`");
        check("qed > 0.5 and", 14, "missing operand after `and`", operand);
        check("not", 4, "missing operand after `not`", operand);
        check("and pains", 1, "missing operand before `and`", operand);
        check("pains or or brenk", 10, "missing operand before `or`", operand);
        check("> 0.5", 1, "missing operand before `>`", operand);
        check("pains and ()", 12, "empty parentheses", None);
        check("(qed > 0.5 and pains", 1, "unclosed `(`", Some("add the missing `)`"));
        check("pains and ((brenk) or novel", 11, "unclosed `(`", Some("add the missing `)`"));
        check("qed > 0.5)", 10, "unmatched `)`", None);
        let join = Some("join conditions with `and` or `or`");
        check("qed > 0.5 pains", 11, "unexpected `pains` after a complete condition", join);
        check("(pains brenk)", 8, "unexpected `brenk` after a complete condition", join);
        let name_hint = Some("write a comparison as NAME OP NUMBER, e.g. qed > 0.5");
        check("0.5 and pains", 1, "expected a property name, found number `0.5`", name_hint);
        check("0.5 < 0.6", 7, "expected a property name, found number `0.6`", name_hint);
        check("qed and pains", 1, "`qed` is a number", Some("compare it, e.g. qed > 0.5"));
        check("pains and CLOGP", 11, "`CLOGP` is a number", Some("compare it, e.g. logp > 0.5"));
        check("pains > 1", 1, "`pains` is true/false", Some("use `pains` or `not pains`"));
        check("1 <= Novel", 6, "`Novel` is true/false", Some("use `novel` or `not novel`"));
        check("", 1, "empty expression", Some("write e.g. qed > 0.6 and not pains"));
        check("   ", 4, "empty expression", Some("write e.g. qed > 0.6 and not pains"));
        check("qed >", 6, "missing number after `>`", None);
        check("qed > mw", 7, "expected a number after `>`, found `mw`", None);
        check("0.5 <", 6, "missing property after `<`", None);
        check("mw < 500kda", 6, "malformed number `500kda`", None);
        check("qed > 1.2.3", 7, "malformed number `1.2.3`", None);
        check("qed > 1e999", 7, "malformed number `1e999`", None);
        check("qed > 0.5 & pains", 11, "unexpected character `&`", Some("use `and`/`&&` or `or`/`||`"));
        check("qed > 0.5 ; pains", 11, "unexpected character `;`", None);
        // Columns count characters, not bytes.
        check("qed > 0.5 and ρ", 15, "unexpected character `ρ`", None);
    }

    #[test]
    fn error_message_whole_text() {
        assert_eq!(
            err("qed and pains").to_string(),
            "cannot parse --filter \"qed and pains\": `qed` is a number at column 1 (compare it, e.g. qed > 0.5)\n  \
             qed and pains\n  ^"
        );
        assert_eq!(
            err("qed > 0.5 and").to_string(),
            "cannot parse --filter \"qed > 0.5 and\": missing operand after `and` at column 14 \
             (expected a property, `not` or `(`)\n  qed > 0.5 and\n               ^"
        );
        // A tab in the expression stays aligned with the caret.
        assert_eq!(err("qed >\t0.5)").to_string().lines().nth(1), Some("  qed > 0.5)"));
    }

    #[test]
    fn display_round_trips() {
        let rows = [
            row(
                &[(Numeric::Qed, 0.7), (Numeric::Mw, 420.0), (Numeric::Sa, 2.5)],
                &[(Flag::Pains, false), (Flag::Novel, true)],
            ),
            row(
                &[(Numeric::Qed, 0.4), (Numeric::Mw, 520.0), (Numeric::Sa, 4.5)],
                &[(Flag::Pains, true), (Flag::Novel, false)],
            ),
            row(&[(Numeric::Qed, 0.9), (Numeric::Mw, 120.0)], &[(Flag::Pains, true)]),
            row(&[(Numeric::Mw, 499.9995)], &[(Flag::Novel, true), (Flag::Brenk, true)]),
            row(&[], &[]),
        ];
        for text in [
            "qed>0.6 and mw<500 and not pains",
            "(qed > 0.6 or mw < 200) and not (pains or brenk)",
            "not (novel and (sa < 3 or 0.5 > qed))",
            "pains or (brenk or novel) and not not pains",
            "((qed > 0.5) and (mw <= 499.9995)) or (sa >= 1e-7 and mw != 1e20)",
            "0.2 < qed < 0.8 or novel",
            "(pains or brenk) and (novel or qed == 0.9)",
        ] {
            let f = Filter::parse(text).unwrap();
            let normal = f.to_string();
            let g = Filter::parse(&normal).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(g.to_string(), normal, "normal form is a fixed point");
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(f.eval(r), g.eval(r), "{text} -> {normal} on row {i}");
                assert_eq!(f.expr().eval3(r), g.expr().eval3(r), "{text} -> {normal} on row {i}");
            }
        }
        let f = Filter::parse("(pains or brenk) and not (novel and qed>1E-7)").unwrap();
        assert_eq!(f.to_string(), "(pains or brenk) and not (novel and qed > 1e-7)");
        assert_eq!(Filter::parse("mw != 1e20").unwrap().to_string(), "mw != 1e20");
        assert_eq!(Filter::parse("mw < 500.0").unwrap().to_string(), "mw < 500");
    }
}
