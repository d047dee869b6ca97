//! The tokenizer and the parser: text to a syntax tree with names still unresolved (see [`crate::bind`]).

use crate::error::{ErrorKind, ParseError};
use crate::{ArithOp, CmpOp, Type};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Name,
    Number(f64),
    Str,
    Op(CmpOp),
    Arith(ArithOp),
    And,
    Or,
    Not,
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    tok: Tok,
    /// Character column, from 1.
    column: usize,
    /// Byte range in the text.
    start: usize,
    end: usize,
    text: &'a str,
}

/// A node of the syntax tree, with the place of its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    /// Character column of its first character, from 1.
    pub(crate) column: usize,
    /// Byte range of its text (parentheses around it included).
    pub(crate) start: usize,
    pub(crate) end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Number(f64),
    /// A quoted string (a function argument).
    Str(String),
    Name(String),
    /// `name(arg, ...)`.
    Call(String, Vec<Node>),
    /// Unary minus.
    Neg(Box<Node>),
    /// Unary plus.
    Pos(Box<Node>),
    Arith(Box<Node>, ArithOp, Box<Node>),
    /// `a < b <= c ...`: the first operand, then each operator with the operand after it.
    Compare(Box<Node>, Vec<(CmpOp, Node)>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

/// An expression parsed but not yet bound to variables: names are checked by
/// [`Predicate::bind`](crate::Predicate::bind) or [`Formula::bind`](crate::Formula::bind), so a program can
/// check the syntax early and bind once the variables are known (say, a model's outputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Ast {
    pub(crate) root: Node,
    pub(crate) text: String,
}

impl Ast {
    /// Parses `text`. `expected` (a condition or a number) only shapes the wording of errors.
    pub fn parse(text: &str, expected: Type) -> Result<Ast, ParseError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { text, tokens, pos: 0, expected };
        let root = parser.parse()?;
        Ok(Ast { root, text: text.to_string() })
    }

    /// The text as given.
    pub fn text(&self) -> &str {
        &self.text
    }
}

pub(crate) fn error(text: &str, column: usize, kind: ErrorKind, reason: String, hint: Option<String>) -> ParseError {
    ParseError { label: "expression".into(), text: text.to_string(), column, reason, hint, kind }
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let syntax =
        |column: usize, reason: String, hint: Option<String>| Err(error(text, column, ErrorKind::Syntax, reason, hint));
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
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
        } else if c.is_ascii_digit() || c == '.' {
            // A number runs over letters and digits too, so that `500kda` is one malformed number rather than a
            // number and a name; a sign right after an exponent's `e` belongs to it.
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
                _ => return syntax(start + 1, format!("malformed number `{s}`"), None),
            }
        } else if c == '"' || c == '\'' {
            i += 1;
            while at(i).is_some_and(|q| q != c) {
                i += 1;
            }
            if at(i).is_none() {
                return syntax(start + 1, "unterminated string".into(), Some(format!("close it with {c}")));
            }
            i += 1;
            Tok::Str
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
                ('+', _) => (Tok::Arith(ArithOp::Add), 1),
                ('-', _) => (Tok::Arith(ArithOp::Sub), 1),
                ('*', _) => (Tok::Arith(ArithOp::Mul), 1),
                ('/', _) => (Tok::Arith(ArithOp::Div), 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                (',', _) => (Tok::Comma, 1),
                _ => {
                    let hint = matches!(c, '&' | '|').then(|| "use `and`/`&&` or `or`/`||`".to_string());
                    return syntax(i + 1, format!("unexpected character `{c}`"), hint);
                }
            };
            i += len;
            tok
        };
        let (from, to) = (byte(start), byte(i));
        tokens.push(Token { tok, column: start + 1, start: from, end: to, text: &text[from..to] });
    }
    tokens.push(Token { tok: Tok::End, column: chars.len() + 1, start: text.len(), end: text.len(), text: "" });
    Ok(tokens)
}

/// Precedence climbing, loosest first:
///
/// ```text
/// or      := and (("or" | "||") and)*
/// and     := not (("and" | "&&") not)*
/// not     := ("not" | "!") not | compare
/// compare := sum (CMP sum)*
/// sum     := product (("+" | "-") product)*
/// product := unary (("*" | "/") unary)*
/// unary   := ("-" | "+") unary | primary
/// primary := NUMBER | STRING | NAME | NAME "(" [or ("," or)*] ")" | "(" or ")"
/// ```
struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    expected: Type,
}

/// The node `make(lhs, rhs)` spanning from the start of `lhs` to the end of `rhs`.
fn joined(lhs: Node, rhs: Node, make: impl FnOnce(Box<Node>, Box<Node>) -> NodeKind) -> Node {
    let (column, start, end) = (lhs.column, lhs.start, rhs.end);
    Node { kind: make(Box::new(lhs), Box::new(rhs)), column, start, end }
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

    fn err(&self, t: Token<'_>, reason: String, hint: Option<&str>) -> ParseError {
        error(self.text, t.column, ErrorKind::Syntax, reason, hint.map(str::to_string))
    }

    /// What may stand where an operand is missing.
    fn operand_hint(&self) -> Option<&'static str> {
        Some(match self.expected {
            Type::Bool => "expected a property, `not` or `(`",
            Type::Number => "expected a property, a number or `(`",
        })
    }

    fn leaf(t: Token<'_>, kind: NodeKind) -> Node {
        Node { kind, column: t.column, start: t.start, end: t.end }
    }

    fn parse(&mut self) -> Result<Node, ParseError> {
        let first = self.peek();
        if first.tok == Tok::End {
            // The caller's variables give a better example (see `bind::example`).
            return Err(error(self.text, first.column, ErrorKind::Empty, "empty expression".into(), None));
        }
        let root = self.or()?;
        let t = self.peek();
        match t.tok {
            Tok::End => Ok(root),
            Tok::RParen => Err(self.err(t, "unmatched `)`".into(), None)),
            _ => Err(self.unexpected(t)),
        }
    }

    fn unexpected(&self, t: Token<'_>) -> ParseError {
        match self.expected {
            Type::Bool => {
                let reason = format!("unexpected `{}` after a complete condition", t.text);
                self.err(t, reason, Some("join conditions with `and` or `or`"))
            }
            Type::Number => {
                let reason = format!("unexpected `{}` after a complete expression", t.text);
                self.err(t, reason, Some("join terms with `+`, `-`, `*` or `/`"))
            }
        }
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.and()?;
        while self.peek().tok == Tok::Or {
            self.bump();
            let rhs = self.and()?;
            lhs = joined(lhs, rhs, NodeKind::Or);
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.not()?;
        while self.peek().tok == Tok::And {
            self.bump();
            let rhs = self.not()?;
            lhs = joined(lhs, rhs, NodeKind::And);
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Node, ParseError> {
        if self.peek().tok == Tok::Not {
            let t = self.bump();
            let inner = self.not()?;
            let end = inner.end;
            return Ok(Node { kind: NodeKind::Not(Box::new(inner)), column: t.column, start: t.start, end });
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Node, ParseError> {
        let first = self.sum()?;
        let mut links: Vec<(CmpOp, Node)> = Vec::new();
        while let Tok::Op(op) = self.peek().tok {
            let op_token = self.bump();
            let before = links.last().map_or(&first, |(_, n)| n);
            let literal_before = matches!(before.kind, NodeKind::Number(_));
            let t = self.peek();
            // The words of a comparison with a side missing: `qed >` lacks a number, `0.5 <` a property.
            let wanted = if literal_before { "property" } else { "number" };
            match t.tok {
                Tok::End => return Err(self.err(t, format!("missing {wanted} after `{}`", op_token.text), None)),
                Tok::And
                | Tok::Or
                | Tok::Not
                | Tok::RParen
                | Tok::Op(_)
                | Tok::Comma
                | Tok::Arith(ArithOp::Mul | ArithOp::Div) => {
                    let reason = format!("expected a {wanted} after `{}`, found `{}`", op_token.text, t.text);
                    return Err(self.err(t, reason, None));
                }
                _ => {}
            }
            links.push((op, self.sum()?));
        }
        match links.last() {
            None => Ok(first),
            Some((_, last)) => {
                let (column, start, end) = (first.column, first.start, last.end);
                Ok(Node { kind: NodeKind::Compare(Box::new(first), links), column, start, end })
            }
        }
    }

    fn sum(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.product()?;
        while let Tok::Arith(op @ (ArithOp::Add | ArithOp::Sub)) = self.peek().tok {
            self.bump();
            let rhs = self.product()?;
            lhs = joined(lhs, rhs, |a, b| NodeKind::Arith(a, op, b));
        }
        Ok(lhs)
    }

    fn product(&mut self) -> Result<Node, ParseError> {
        let mut lhs = self.unary()?;
        while let Tok::Arith(op @ (ArithOp::Mul | ArithOp::Div)) = self.peek().tok {
            self.bump();
            let rhs = self.unary()?;
            lhs = joined(lhs, rhs, |a, b| NodeKind::Arith(a, op, b));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if let Tok::Arith(op @ (ArithOp::Add | ArithOp::Sub)) = self.peek().tok {
            let t = self.bump();
            let inner = Box::new(self.unary()?);
            let end = inner.end;
            let kind = if op == ArithOp::Sub { NodeKind::Neg(inner) } else { NodeKind::Pos(inner) };
            return Ok(Node { kind, column: t.column, start: t.start, end });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let t = self.peek();
        match t.tok {
            Tok::LParen => {
                self.bump();
                if self.peek().tok == Tok::RParen {
                    return Err(self.err(self.peek(), "empty parentheses".into(), None));
                }
                let inner = self.or()?;
                let close = self.peek();
                match close.tok {
                    Tok::RParen => {
                        self.bump();
                        Ok(Node { column: t.column, start: t.start, end: close.end, ..inner })
                    }
                    Tok::End => Err(self.err(t, "unclosed `(`".into(), Some("add the missing `)`"))),
                    _ => Err(self.unexpected(close)),
                }
            }
            Tok::Name => {
                self.bump();
                if self.peek().tok != Tok::LParen {
                    return Ok(Self::leaf(t, NodeKind::Name(t.text.to_string())));
                }
                let open = self.bump();
                let mut args = Vec::new();
                if self.peek().tok != Tok::RParen {
                    loop {
                        args.push(self.or()?);
                        match self.peek().tok {
                            Tok::Comma => {
                                self.bump();
                            }
                            _ => break,
                        }
                    }
                }
                let close = self.peek();
                match close.tok {
                    Tok::RParen => {
                        self.bump();
                        let kind = NodeKind::Call(t.text.to_string(), args);
                        Ok(Node { kind, column: t.column, start: t.start, end: close.end })
                    }
                    Tok::End => Err(self.err(open, "unclosed `(`".into(), Some("add the missing `)`"))),
                    _ => Err(self.err(close, format!("unexpected `{}` in the arguments", close.text), None)),
                }
            }
            Tok::Number(v) => {
                self.bump();
                Ok(Self::leaf(t, NodeKind::Number(v)))
            }
            Tok::Str => {
                self.bump();
                Ok(Self::leaf(t, NodeKind::Str(t.text[1..t.text.len() - 1].to_string())))
            }
            Tok::Not => {
                // `not` inside arithmetic (`1 + not pains`): parsed, and refused when bound.
                self.not()
            }
            Tok::End => {
                let prev = self.tokens[self.pos - 1];
                let reason = format!("missing operand after `{}`", prev.text);
                Err(self.err(t, reason, self.operand_hint()))
            }
            Tok::RParen | Tok::And | Tok::Or | Tok::Op(_) | Tok::Arith(_) | Tok::Comma => {
                let reason = format!("missing operand before `{}`", t.text);
                Err(self.err(t, reason, self.operand_hint()))
            }
        }
    }
}
