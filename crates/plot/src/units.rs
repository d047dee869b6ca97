//! Units on axes: the conventional unit of the quantities biotorch plots, added to an axis label that names one.

/// Quantities with a unit, by the names figures give them (compared without case): molecular weight in daltons,
/// topological polar surface area in square ångströms.
pub const UNITS: &[(&str, &str)] =
    &[("molecular weight", "Da"), ("mw", "Da"), ("exact mass", "Da"), ("tpsa", "Å²"), ("polar surface area", "Å²")];

/// `quantity` with its unit in parentheses when [`UNITS`] knows it and the text does not already end in a
/// parenthesis (`molecular weight` → `molecular weight (Da)`, `TPSA` → `TPSA (Å²)`); otherwise unchanged.
pub fn with_unit(quantity: &str) -> String {
    let name = quantity.trim();
    if name.ends_with(')') {
        return quantity.to_string();
    }
    match UNITS.iter().find(|(q, _)| q.eq_ignore_ascii_case(name)) {
        Some((_, unit)) => format!("{name} ({unit})"),
        None => quantity.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_quantities_get_their_unit_once() {
        assert_eq!(with_unit("molecular weight"), "molecular weight (Da)");
        assert_eq!(with_unit("MW"), "MW (Da)");
        assert_eq!(with_unit("TPSA"), "TPSA (Å²)");
        assert_eq!(with_unit("molecular weight (Da)"), "molecular weight (Da)");
        assert_eq!(with_unit("QED"), "QED");
        assert_eq!(with_unit("logP (Crippen)"), "logP (Crippen)");
    }
}
