//! RDKit scoring of molecules and its Parquet columns, now in the design engine.
// shim: removed when the branches are merged (`commands/chem.rs` still imports these names from here).
pub(crate) use biotorch_design::{property_columns, score_all, Scored};
