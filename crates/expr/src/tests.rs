//! The language over molecule properties as `--filter` and `--objective` use them (the names biotorch-design
//! declares, in its order).

use super::*;

const NUMBERS: &[(&str, &[&str])] = &[
    ("qed", &[]),
    ("sa", &["sa_score"]),
    ("logp", &["clogp"]),
    ("mw", &["molwt", "mol_weight"]),
    ("tpsa", &[]),
    ("hbd", &[]),
    ("hba", &[]),
    ("rotb", &["rotatable_bonds"]),
    ("rings", &[]),
    ("aromatic_rings", &[]),
    ("heavy_atoms", &[]),
    ("formal_charge", &[]),
    ("nll", &[]),
    ("similarity", &["max_train_similarity"]),
    ("sim_ref", &[]),
];
const FLAGS: &[&str] = &["pains", "brenk", "novel", "valid", "finished"];

fn vars() -> Variables {
    let mut vars = Variables::new();
    for (name, aliases) in NUMBERS {
        vars.number(name, aliases).unwrap();
    }
    for name in FLAGS {
        vars.boolean(name, &[]).unwrap();
    }
    vars
}

fn id(name: &str) -> VarId {
    vars().lookup(name).unwrap_or_else(|| panic!("{name}"))
}

#[derive(Default, Clone)]
struct Row {
    numbers: Vec<(VarId, f64)>,
    flags: Vec<(VarId, bool)>,
}

impl Values for Row {
    fn number(&self, v: VarId) -> Option<f64> {
        self.numbers.iter().find(|(q, _)| *q == v).map(|&(_, x)| x)
    }
    fn boolean(&self, v: VarId) -> Option<bool> {
        self.flags.iter().find(|(q, _)| *q == v).map(|&(_, x)| x)
    }
}

fn row(numbers: &[(&str, f64)], flags: &[(&str, bool)]) -> Row {
    Row {
        numbers: numbers.iter().map(|&(n, v)| (id(n), v)).collect(),
        flags: flags.iter().map(|&(n, v)| (id(n), v)).collect(),
    }
}

fn filter(text: &str) -> Result<Predicate, ParseError> {
    Predicate::parse(text, &vars()).map_err(|e| e.with_label("--filter"))
}

fn objective(text: &str) -> Result<Formula, ParseError> {
    Formula::parse(text, &vars()).map_err(|e| e.with_label("--objective"))
}

fn eval(text: &str, r: &Row) -> bool {
    filter(text).unwrap_or_else(|e| panic!("{e}")).passes(r)
}

fn err(text: &str) -> ParseError {
    filter(text).expect_err(text)
}

fn flags(pains: bool, brenk: bool, novel: bool) -> Row {
    row(&[], &[("pains", pains), ("brenk", brenk), ("novel", novel)])
}

#[test]
fn or_binds_looser_than_and() {
    // `pains or (brenk and novel)` is true here; `(pains or brenk) and novel` would be false.
    assert!(eval("pains or brenk and novel", &flags(true, false, false)));
    assert!(!eval("(pains or brenk) and novel", &flags(true, false, false)));
    assert!(eval("brenk and novel or pains", &flags(true, false, false)));
    let f = filter("pains or brenk and novel").unwrap();
    assert_eq!(f.to_string(), "pains or brenk and novel");
    assert!(matches!(f.cond, expr::Cond::Or(..)), "{f:?}");
}

#[test]
fn not_binds_tighter_than_and() {
    assert!(eval("not pains and brenk", &flags(false, true, false)));
    assert!(!eval("not pains and brenk", &flags(true, true, false)));
    assert!(!eval("not (pains and brenk)", &flags(true, true, false)));
    assert!(eval("not not pains", &flags(true, false, false)));
    assert!(eval("!pains && !brenk || novel", &flags(true, true, true)));
    let r = row(&[("qed", 0.3)], &[]);
    assert!(eval("not qed > 0.5", &r));
    assert!(eval("! qed > 0.5", &r));
}

#[test]
fn comparisons_both_orders_and_chains() {
    let r = row(&[("qed", 0.7), ("mw", 420.0), ("hbd", 2.0)], &[]);
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
    assert_eq!(filter("0.6 < qed").unwrap().to_string(), "qed > 0.6");
    assert_eq!(filter("0.2<qed<=0.9").unwrap().to_string(), "qed > 0.2 and qed <= 0.9");
    assert_eq!(filter("qed > -1.5").unwrap().to_string(), "qed > -1.5");
    assert_eq!(filter("qed>+.5").unwrap().to_string(), "qed > 0.5");
}

#[test]
fn comparisons_of_arithmetic() {
    // One language: a condition may compare computed values, and two properties with each other.
    let r = row(&[("qed", 0.7), ("sa", 3.0), ("mw", 420.0), ("logp", 2.5)], &[]);
    for text in ["qed - 0.1*sa > 0.35", "0.35 < qed - 0.1 * sa", "logp < 0.01*mw", "qed > mw / 1000", "-qed < 0"] {
        assert!(eval(text, &r), "{text}");
    }
    assert!(!eval("qed - 0.1*sa > 0.45", &r));
    assert_eq!(filter("0.35<qed-0.1*sa").unwrap().to_string(), "qed - 0.1 * sa > 0.35");
    assert_eq!(filter("qed > mw").unwrap().to_string(), "qed > mw");
    assert!(!eval("qed > mw", &r));
}

#[test]
fn aliases_and_case() {
    let r = row(&[("sa", 3.0), ("logp", 2.0), ("mw", 300.0), ("rotb", 4.0), ("similarity", 0.4)], &[("pains", false)]);
    for text in [
        "sa_score < 4 AND clogp < 3",
        "MolWt < 400 and mol_weight > 200 and MW == 300",
        "rotatable_bonds == 4 and ROTB <= 4",
        "max_train_similarity < 0.5 and Similarity < 0.5",
        "NOT Pains Or qed > 1",
    ] {
        assert!(eval(text, &r), "{text}");
    }
    let f = filter("SA_Score<4 and NOT PAINS and Clogp>1").unwrap();
    assert_eq!(f.to_string(), "sa < 4 and not pains and logp > 1");
    assert_eq!(f.text(), "SA_Score<4 and NOT PAINS and Clogp>1");
    assert_eq!(vars().lookup("Aromatic_Rings"), Some(id("aromatic_rings")));
    assert_eq!(vars().lookup("FINISHED"), Some(id("finished")));
}

#[test]
fn missing_values_are_unknown() {
    // No similarity, no `novel`: comparisons on them are unknown, and unknown never passes.
    let r = row(&[("qed", 0.7), ("mw", f64::NAN)], &[("pains", false)]);
    assert!(!eval("similarity > 0.5", &r));
    assert!(!eval("similarity <= 0.5", &r));
    assert!(!eval("not similarity > 0.5", &r));
    assert!(!eval("novel", &r));
    assert!(!eval("not novel", &r));
    assert!(!eval("mw < 500", &r), "NaN is missing");
    assert!(!eval("not mw < 500", &r), "NaN is missing");
    assert!(!eval("qed + mw > 0", &r), "NaN propagates through arithmetic");
    // Kleene logic: a known side can decide.
    assert!(eval("qed > 0.5 or novel", &r));
    assert!(eval("novel or qed > 0.5", &r));
    assert!(!eval("qed > 0.5 and novel", &r));
    assert!(eval("not (qed < 0.5 and novel)", &r), "false and unknown is false");
    assert!(!eval("not (qed > 0.5 and novel)", &r), "true and unknown is unknown");
    assert!(eval("not (novel and pains)", &r), "unknown and false is false");
    assert!(!eval("not (novel or pains)", &r), "unknown or false is unknown");
    assert_eq!(filter("not (novel or pains)").unwrap().eval(&r), None);
}

#[test]
fn names_used() {
    let f = filter("qed > 0.5 and (similarity < 0.4 or qed < 0.9) and not pains and novel and not pains").unwrap();
    assert_eq!(f.variables(), vec![id("qed"), id("similarity"), id("pains"), id("novel")]);
    let f = filter("sim_ref >= 0.3").unwrap();
    assert_eq!(f.variables(), vec![id("sim_ref")]);
    let o = objective("qed - 0.1*SA + 0.5*sim_ref - 0.01*sa").unwrap();
    assert_eq!(o.variables(), vec![id("qed"), id("sa"), id("sim_ref")]);
}

#[test]
fn error_unknown_name() {
    let e = err("qed>0.6 and mww<500");
    assert_eq!((e.column, e.kind), (13, ErrorKind::UnknownName));
    let known = "known: qed, sa, logp, mw, tpsa, hbd, hba, rotb, rings, aromatic_rings, heavy_atoms, \
                 formal_charge, nll, similarity, sim_ref, pains, brenk, novel, valid, finished";
    assert_eq!(
        e.to_string(),
        format!(
            "cannot parse --filter \"qed>0.6 and mww<500\": unknown property `mww` at column 13 (did you mean `mw`? \
             {known})\n  qed>0.6 and mww<500\n              ^"
        )
    );
    // No close name: the list alone.
    assert_eq!(err("zzz > 1").hint.as_deref(), Some(known));
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
    check("qed > and mw < 3", 7, "expected a number after `>`, found `and`", None);
    check("0.5 <", 6, "missing property after `<`", None);
    check("mw < 500kda", 6, "malformed number `500kda`", None);
    check("qed > 1.2.3", 7, "malformed number `1.2.3`", None);
    check("qed > 1e999", 7, "malformed number `1e999`", None);
    check("qed > 0.5 & pains", 11, "unexpected character `&`", Some("use `and`/`&&` or `or`/`||`"));
    check("qed > 0.5 ; pains", 11, "unexpected character `;`", None);
    // Columns count characters, not bytes.
    check("qed > 0.5 and ρ", 15, "unexpected character `ρ`", None);
    // Arithmetic.
    check("qed - sa and pains", 1, "`qed - sa` is a number", Some("compare it, e.g. qed - sa > 0.5"));
    check("pains + 1 > 2", 1, "`pains` is true/false", Some("use `pains` or `not pains`"));
    check("qed * > 2", 7, "missing operand before `>`", operand);
    check("1 + 2 > 0.5", 9, "expected a property name, found number `0.5`", name_hint);
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
        row(&[("qed", 0.7), ("mw", 420.0), ("sa", 2.5)], &[("pains", false), ("novel", true)]),
        row(&[("qed", 0.4), ("mw", 520.0), ("sa", 4.5)], &[("pains", true), ("novel", false)]),
        row(&[("qed", 0.9), ("mw", 120.0)], &[("pains", true)]),
        row(&[("mw", 499.9995)], &[("novel", true), ("brenk", true)]),
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
        "qed - (sa - 1) * 0.1 > -(0.5) and --mw < 1e3 / (2 - sa)",
        "0 < qed - sa / 10 - 0.2 < 1 or -mw * -2 > qed",
    ] {
        let f = filter(text).unwrap();
        let normal = f.to_string();
        let g = filter(&normal).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.to_string(), normal, "normal form is a fixed point");
        assert_eq!(g.cond, f.cond, "{text} -> {normal}: same tree");
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(f.passes(r), g.passes(r), "{text} -> {normal} on row {i}");
            assert_eq!(f.eval(r), g.eval(r), "{text} -> {normal} on row {i}");
        }
    }
    let f = filter("(pains or brenk) and not (novel and qed>1E-7)").unwrap();
    assert_eq!(f.to_string(), "(pains or brenk) and not (novel and qed > 1e-7)");
    assert_eq!(filter("mw != 1e20").unwrap().to_string(), "mw != 1e20");
    assert_eq!(filter("mw < 500.0").unwrap().to_string(), "mw < 500");
    assert_eq!(filter("qed - (sa - 1) > 0").unwrap().to_string(), "qed - (sa - 1) > 0");
    assert_eq!(filter("(qed - sa) - 1 > 0").unwrap().to_string(), "qed - sa - 1 > 0");
}

#[test]
fn objectives_are_arithmetic() {
    let r = row(&[("qed", 0.5), ("sa", 3.0)], &[]);
    let value = |text: &str| objective(text).unwrap_or_else(|e| panic!("{e}")).eval(&r);
    assert!((value("qed - 0.1*sa + 2").unwrap() - (0.5 - 0.3 + 2.0)).abs() < 1e-12);
    assert!((value("-qed*2 + 1e-1 * SA").unwrap() - (-1.0 + 0.3)).abs() < 1e-12);
    assert_eq!(value("qed + logp"), None, "logp is missing");
    // Beyond weighted sums: products, quotients, parentheses.
    assert_eq!(value("qed*sa"), Some(1.5));
    assert_eq!(value("(qed + 1) / (sa - 1)"), Some(0.75));
    assert_eq!(value("-(sa - 3.5)"), Some(0.5));
    for (bad, why) in [
        ("", "empty"),
        ("qed +", "missing"),
        ("qed + mww", "unknown property `mww`"),
        ("qed 2", "unexpected `2` after a complete expression"),
        ("pains", "`pains` is true/false"),
        ("qed > 0.5", "`qed > 0.5` is true/false"),
    ] {
        let e = objective(bad).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cannot parse --objective \"{bad}\": ")), "{e}");
        assert!(e.contains(why), "{bad}: {e}");
    }
    assert_eq!(objective("").unwrap_err().hint.as_deref(), Some("write e.g. qed - 0.1*sa"));
    assert_eq!(objective("qed +").unwrap_err().hint.as_deref(), Some("expected a property, a number or `(`"));
    // An objective cannot use flags: an unknown name is compared with the numbers only.
    let e = objective("qed - pain").unwrap_err();
    assert_eq!(
        e.hint.as_deref().map(|h| h.starts_with("known: qed, sa,") && h.ends_with("nll, similarity, sim_ref")),
        Some(true)
    );
}

#[test]
fn objective_weighted_sums_give_the_numbers_of_the_old_weighted_sum() {
    // The old `--objective` parser summed `weight * value` terms from 0.0; the arithmetic form computes
    // bit-identical values for weighted sums written term by term.
    let rows = [(0.7321, 2.91, 0.45), (0.1, 7.3, 0.0), (0.99, 1.0, 1.0), (0.333, 3.333, 0.333)];
    // The old parser's weight of a term: its sign times its factors.
    let minus = -1.0;
    for (q, s, r) in rows {
        let row = row(&[("qed", q), ("sa", s), ("sim_ref", r)], &[]);
        let old = 0.0 + 1.0 * q + (minus * 0.1) * s + 0.5 * r;
        assert_eq!(objective("qed - 0.1*sa + 0.5*sim_ref").unwrap().eval(&row), Some(old));
        let old = 0.0 + 1.0 * q + 0.5 * r;
        assert_eq!(objective("qed + 0.5*sim_ref").unwrap().eval(&row), Some(old));
        let old = 0.0 + (minus * 2.0) * q + 1e-1 * s;
        assert_eq!(objective("-qed*2 + 1e-1 * SA").unwrap().eval(&row), Some(old));
    }
    assert_eq!(objective("qed - 0.1*sa + 0.5*sim_ref").unwrap().to_string(), "qed - 0.1 * sa + 0.5 * sim_ref");
}

#[test]
fn calls_and_strings_parse_and_are_refused_until_defined() {
    let e = err("matches(\"[NX3][CX3](=O)\") and qed > 0.5");
    assert_eq!((e.column, e.kind, e.reason.as_str()), (1, ErrorKind::UnknownFunction, "unknown function `matches`"));
    let e = err("qed > 0.5 and count('c1ccccc1', 2) >= 2");
    assert_eq!((e.column, e.kind), (15, ErrorKind::UnknownFunction));
    let ast = Ast::parse("count(\"c1ccccc1\") >= 2 and not matches('C(=O)O')", Type::Bool).unwrap();
    assert_eq!(ast.text(), "count(\"c1ccccc1\") >= 2 and not matches('C(=O)O')");
    check("qed > \"x\"", 7, "unexpected string \"x\"", Some("a string is a function argument"));
    check("count(\"x\" > 1", 6, "unclosed `(`", Some("add the missing `)`"));
    check("qed > 0.5 and \"abc", 15, "unterminated string", Some("close it with \""));
}

#[test]
fn variables_bound_at_run_time() {
    // Syntax first; the names a model brings are declared later.
    let ast = Ast::parse("pic50 - 2*pic50_std > 6 and qed > 0.5", Type::Bool).unwrap();
    let e = Predicate::bind(&ast, &vars()).unwrap_err();
    assert_eq!((e.column, e.reason.as_str()), (1, "unknown property `pic50`"));
    let mut with_head = vars();
    let pic50 = with_head.number("pic50", &[]).unwrap();
    let std = with_head.number("pic50_std", &[]).unwrap();
    let f = Predicate::bind(&ast, &with_head).unwrap();
    assert_eq!(f.variables(), vec![pic50, std, id("qed")]);
    let r = Row { numbers: vec![(pic50, 7.5), (std, 0.5), (id("qed"), 0.6)], flags: vec![] };
    assert!(f.passes(&r));
    let r = Row { numbers: vec![(pic50, 7.5), (std, 1.0), (id("qed"), 0.6)], flags: vec![] };
    assert!(!f.passes(&r));
}

/// A row whose calls are answered from a list: `count(..)` by argument, `matches(..)` as count > 0.
#[derive(Default)]
struct CallRow {
    counts: Vec<(&'static str, f64)>,
}

impl Values for CallRow {
    fn number(&self, _: VarId) -> Option<f64> {
        Some(0.5)
    }
    fn boolean(&self, _: VarId) -> Option<bool> {
        Some(false)
    }
    fn call_number(&self, call: &Call) -> Option<f64> {
        self.counts.iter().find(|(a, _)| *a == call.argument()).map(|&(_, n)| n)
    }
    fn call_boolean(&self, call: &Call) -> Option<bool> {
        self.call_number(call).map(|n| n > 0.0)
    }
}

fn with_functions() -> Variables {
    let mut v = vars();
    v.function("matches", "SMARTS", Type::Bool).unwrap();
    v.function("count", "SMARTS", Type::Number).unwrap();
    v
}

#[test]
fn declared_functions_bind_evaluate_and_print() {
    let vars = with_functions();
    let f = Predicate::parse("COUNT('c1ccccc1') >= 2 and not matches(\"C(=O)O\") or qed > 0.9", &vars).unwrap();
    assert_eq!(f.to_string(), "count(\"c1ccccc1\") >= 2 and not matches(\"C(=O)O\") or qed > 0.9");
    let calls: Vec<String> = f.calls().iter().map(|c| c.to_string()).collect();
    assert_eq!(calls, ["count(\"c1ccccc1\")", "matches(\"C(=O)O\")"]);
    assert_eq!(f.variables(), vec![id("qed")]);
    let two_rings = CallRow { counts: vec![("c1ccccc1", 2.0), ("C(=O)O", 0.0)] };
    assert!(f.passes(&two_rings));
    let acid = CallRow { counts: vec![("c1ccccc1", 2.0), ("C(=O)O", 1.0)] };
    assert!(!f.passes(&acid));
    // A call the row cannot answer is unknown, like a missing variable.
    assert_eq!(f.eval(&CallRow::default()), None);
    let o = Formula::parse("qed + 0.5*count('[OH]') - count('[OH]')", &vars).unwrap();
    assert_eq!(o.calls().len(), 1, "each distinct call once");
    assert_eq!(o.eval(&CallRow { counts: vec![("[OH]", 2.0)] }), Some(0.5 + 1.0 - 2.0));
    assert_eq!(o.eval(&CallRow::default()), None);
    // An argument holding `"` prints with the other quote.
    assert_eq!(Formula::parse("count('[$(C\"x)]')", &vars).unwrap().to_string(), "count('[$(C\"x)]')");
}

#[test]
fn function_calls_are_checked_when_bound() {
    let vars = with_functions();
    let mut seen = Vec::new();
    let mut check = |c: &Call| -> Result<(), String> {
        seen.push(c.argument().to_string());
        if c.argument().starts_with('[') && !c.argument().ends_with(']') {
            Err(format!("invalid SMARTS \"{}\"", c.argument()))
        } else {
            Ok(())
        }
    };
    let e = Predicate::parse_with("qed > 0.5 and matches(\"[C\")", &vars, &mut check).unwrap_err();
    assert_eq!((e.column, e.kind, e.reason.as_str()), (23, ErrorKind::InvalidArgument, "invalid SMARTS \"[C\""));
    assert_eq!(seen, ["[C"]);
    let e = e.with_label("--filter").to_string();
    assert!(e.ends_with("  qed > 0.5 and matches(\"[C\")\n                        ^"), "{e}");
    let e = Predicate::parse("matches(1) and qed > 0", &vars).unwrap_err();
    assert_eq!((e.column, e.kind, e.reason.as_str()), (1, ErrorKind::Type, "`matches` takes one quoted SMARTS"));
    let e = Predicate::parse("count(\"C\", \"N\") > 1", &vars).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Type);
    let e = Formula::parse("qed + matches(\"C\")", &vars).unwrap_err();
    assert_eq!((e.column, e.reason.as_str()), (7, "`matches(\"C\")` is true/false"));
    let e = Predicate::parse("count(\"C\")", &vars).unwrap_err();
    assert_eq!(e.reason, "`count(\"C\")` is a number");
    let e = Predicate::parse("mtches(\"C\")", &vars).unwrap_err();
    assert_eq!((e.kind, e.hint.as_deref()), (ErrorKind::UnknownFunction, Some("known functions: matches, count")));
    let mut v = Variables::new();
    v.function("f", "x", Type::Number).unwrap();
    assert_eq!(v.function("F", "y", Type::Bool), Err(Error::DuplicateName { name: "F".into() }));
    assert_eq!(v.function("1f", "y", Type::Bool), Err(Error::InvalidName { name: "1f".into() }));
}
