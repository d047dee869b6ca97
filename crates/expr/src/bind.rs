//! Binding: names resolved against a [`Variables`] set, types checked, comparisons normalized. Errors are reported
//! left to right, at the column of the part that is wrong.

use std::cell::RefCell;

use crate::error::{ErrorKind, ParseError};
use crate::expr::{with_example, Call, Cond, Formula, Num, Predicate};
use crate::syntax::{error, Ast, Node, NodeKind};
use crate::vars::Variables;
use crate::Type;

/// A program's check of a function call's argument, run once per call as it is bound: `Err(reason)` refuses it,
/// and binding fails with `reason` at the column of the argument (e.g. `invalid SMARTS "[C": ...`).
pub type CheckCall<'c> = dyn FnMut(&Call) -> Result<(), String> + 'c;

fn accept_all(_: &Call) -> Result<(), String> {
    Ok(())
}

impl Predicate {
    /// Parses `text` and binds it to `vars` (any function argument accepted).
    pub fn parse(text: &str, vars: &Variables) -> Result<Predicate, ParseError> {
        Predicate::parse_with(text, vars, &mut accept_all)
    }

    /// Parses `text` and binds it to `vars`, handing every function call to `check`.
    pub fn parse_with(text: &str, vars: &Variables, check: &mut CheckCall<'_>) -> Result<Predicate, ParseError> {
        let ast = Ast::parse(text, Type::Bool).map_err(|e| with_example(e, vars, Type::Bool))?;
        Predicate::bind_with(&ast, vars, check)
    }

    /// Binds a parsed expression to `vars`: resolves names and checks that it is a condition.
    pub fn bind(ast: &Ast, vars: &Variables) -> Result<Predicate, ParseError> {
        Predicate::bind_with(ast, vars, &mut accept_all)
    }

    /// [`Predicate::bind`], handing every function call to `check` (which may refuse its argument).
    pub fn bind_with(ast: &Ast, vars: &Variables, check: &mut CheckCall<'_>) -> Result<Predicate, ParseError> {
        let cond = Binder::new(vars, &ast.text, Type::Bool, check).condition(&ast.root)?;
        Ok(Predicate { cond, text: ast.text.clone() })
    }
}

impl Formula {
    /// Parses `text` and binds it to `vars` (any function argument accepted).
    pub fn parse(text: &str, vars: &Variables) -> Result<Formula, ParseError> {
        Formula::parse_with(text, vars, &mut accept_all)
    }

    /// Parses `text` and binds it to `vars`, handing every function call to `check`.
    pub fn parse_with(text: &str, vars: &Variables, check: &mut CheckCall<'_>) -> Result<Formula, ParseError> {
        let ast = Ast::parse(text, Type::Number).map_err(|e| with_example(e, vars, Type::Number))?;
        Formula::bind_with(&ast, vars, check)
    }

    /// Binds a parsed expression to `vars`: resolves names and checks that it is a number.
    pub fn bind(ast: &Ast, vars: &Variables) -> Result<Formula, ParseError> {
        Formula::bind_with(ast, vars, &mut accept_all)
    }

    /// [`Formula::bind`], handing every function call to `check` (which may refuse its argument).
    pub fn bind_with(ast: &Ast, vars: &Variables, check: &mut CheckCall<'_>) -> Result<Formula, ParseError> {
        let num = Binder::new(vars, &ast.text, Type::Number, check).number(&ast.root)?;
        Ok(Formula { num, text: ast.text.clone() })
    }
}

enum Bound {
    Num(Num),
    Cond(Cond),
}

pub(crate) struct Binder<'a> {
    vars: &'a Variables,
    text: &'a str,
    /// The type of the whole expression: a number (a formula) cannot use flags, so an unknown name in one is
    /// compared with the numeric names only.
    root: Type,
    check: RefCell<&'a mut CheckCall<'a>>,
}

impl<'a> Binder<'a> {
    pub(crate) fn new(vars: &'a Variables, text: &'a str, root: Type, check: &'a mut CheckCall<'a>) -> Self {
        Binder { vars, text, root, check: RefCell::new(check) }
    }

    fn source(&self, n: &Node) -> &'a str {
        &self.text[n.start..n.end]
    }

    fn err(&self, n: &Node, kind: ErrorKind, reason: String, hint: Option<String>) -> ParseError {
        error(self.text, n.column, kind, reason, hint)
    }

    /// `expected a property name, found number `0.5``: a literal where a comparison needs a variable.
    fn number_not_name(&self, n: &Node) -> ParseError {
        let reason = format!("expected a property name, found number `{}`", self.source(n));
        let hint = match self.vars.first(Type::Number) {
            Some(name) => format!("write a comparison as NAME OP NUMBER, e.g. {name} > 0.5"),
            None => "write a comparison as NAME OP NUMBER".into(),
        };
        self.err(n, ErrorKind::Type, reason, Some(hint))
    }

    /// Binds `n`, which must be a number.
    pub(crate) fn number(&self, n: &Node) -> Result<Num, ParseError> {
        match self.bind(n)? {
            Bound::Num(x) => Ok(x),
            Bound::Cond(c) => {
                let hint = match c {
                    Cond::Var(_, name) => format!("use `{name}` or `not {name}`"),
                    _ => "a condition is not a number".into(),
                };
                Err(self.err(n, ErrorKind::Type, format!("`{}` is true/false", self.source(n)), Some(hint)))
            }
        }
    }

    /// Binds `n`, which must be a condition.
    pub(crate) fn condition(&self, n: &Node) -> Result<Cond, ParseError> {
        match self.bind(n)? {
            Bound::Cond(c) => Ok(c),
            Bound::Num(_) if matches!(n.kind, NodeKind::Number(_)) => Err(self.number_not_name(n)),
            Bound::Num(x) => {
                let hint = format!("compare it, e.g. {x} > 0.5");
                Err(self.err(n, ErrorKind::Type, format!("`{}` is a number", self.source(n)), Some(hint)))
            }
        }
    }

    fn bind(&self, n: &Node) -> Result<Bound, ParseError> {
        Ok(match &n.kind {
            NodeKind::Number(v) => Bound::Num(Num::Const(*v)),
            NodeKind::Name(name) => {
                let Some(id) = self.vars.lookup(name) else {
                    let only = (self.root == Type::Number).then_some(Type::Number);
                    let known: Vec<&str> = self
                        .vars
                        .iter()
                        .filter(|(_, v)| only.is_none_or(|t| v.ty() == t))
                        .map(|(_, v)| v.name())
                        .collect();
                    let hint = match self.vars.suggest(name, only) {
                        Some(s) => format!("did you mean `{s}`? known: {}", known.join(", ")),
                        None => format!("known: {}", known.join(", ")),
                    };
                    return Err(self.err(n, ErrorKind::UnknownName, format!("unknown property `{name}`"), Some(hint)));
                };
                let var = self.vars.get(id);
                match var.ty() {
                    Type::Number => Bound::Num(Num::Var(id, var.name().to_string())),
                    Type::Bool => Bound::Cond(Cond::Var(id, var.name().to_string())),
                }
            }
            NodeKind::Str(_) => {
                let reason = format!("unexpected string {}", self.source(n));
                return Err(self.err(n, ErrorKind::Type, reason, Some("a string is a function argument".into())));
            }
            NodeKind::Call(name, args) => {
                let Some(id) = self.vars.lookup_function(name) else {
                    let known: Vec<&str> = self.vars.functions().map(|(_, f)| f.name()).collect();
                    let hint = (!known.is_empty()).then(|| format!("known functions: {}", known.join(", ")));
                    return Err(self.err(n, ErrorKind::UnknownFunction, format!("unknown function `{name}`"), hint));
                };
                let function = self.vars.function_of(id);
                let argument = match args.as_slice() {
                    [Node { kind: NodeKind::Str(s), .. }] => s.clone(),
                    _ => {
                        let reason = format!("`{}` takes one quoted {}", function.name(), function.argument());
                        let hint = format!("write e.g. {}(\"...\")", function.name());
                        return Err(self.err(n, ErrorKind::Type, reason, Some(hint)));
                    }
                };
                let call = Call { function: id, name: function.name().to_string(), argument };
                if let Err(reason) = (self.check.borrow_mut())(&call) {
                    return Err(self.err(&args[0], ErrorKind::InvalidArgument, reason, None));
                }
                match function.ty() {
                    Type::Number => Bound::Num(Num::Call(call)),
                    Type::Bool => Bound::Cond(Cond::Call(call)),
                }
            }
            NodeKind::Neg(x) => Bound::Num(match self.number(x)? {
                Num::Const(c) => Num::Const(-c),
                x => Num::Neg(Box::new(x)),
            }),
            NodeKind::Pos(x) => Bound::Num(self.number(x)?),
            NodeKind::Arith(a, op, b) => {
                let a = self.number(a)?;
                Bound::Num(Num::Arith(Box::new(a), *op, Box::new(self.number(b)?)))
            }
            NodeKind::Compare(first, links) => {
                // `a < b < c` is `a < b and b < c`; each comparison puts its variable side first.
                let mut prev = self.number(first)?;
                let mut all: Option<Cond> = None;
                for (op, node) in links {
                    let next = self.number(node)?;
                    let link = match (prev.has_var(), next.has_var()) {
                        (false, false) => return Err(self.number_not_name(node)),
                        (false, true) => Cond::Cmp(next.clone(), op.flip(), prev),
                        (true, _) => Cond::Cmp(prev, *op, next.clone()),
                    };
                    all = Some(match all {
                        None => link,
                        Some(c) => Cond::And(Box::new(c), Box::new(link)),
                    });
                    prev = next;
                }
                Bound::Cond(all.expect("a comparison has at least one operator"))
            }
            NodeKind::Not(x) => Bound::Cond(Cond::Not(Box::new(self.condition(x)?))),
            NodeKind::And(a, b) => {
                let a = self.condition(a)?;
                Bound::Cond(Cond::And(Box::new(a), Box::new(self.condition(b)?)))
            }
            NodeKind::Or(a, b) => {
                let a = self.condition(a)?;
                Bound::Cond(Cond::Or(Box::new(a), Box::new(self.condition(b)?)))
            }
        })
    }
}
