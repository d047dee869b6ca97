//! Helpers shared by the integration tests.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

/// The folder the oracle script `scripts/oracle/esm_tokenizer_golden.py` writes.
pub(crate) const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.fixtures/esm_tokenizer_golden");

/// A file or folder of the golden fixtures; panics with what to run when it is missing, so a
/// missing oracle output never passes silently.
pub(crate) fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(GOLDEN_DIR).join(name);
    assert!(
        path.exists(),
        "missing test fixture {}: run `make fixtures` (or `.venv/bin/python scripts/oracle/esm_tokenizer_golden.py`)",
        path.display()
    );
    path
}

/// A JSON fixture, parsed.
pub(crate) fn json_fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
