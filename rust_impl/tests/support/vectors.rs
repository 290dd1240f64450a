//! Reading the shared test vectors (tests/vectors/*.json at the repository root, also read by
//! pytest) for the integration tests of both crates: tests/common/mod.rs and
//! candle/tests/vectors.rs include this file with `#[path]`.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;

use serde_json::Value;

/// Parses `tests/vectors/<name>` of the repository, found above this crate's manifest.
pub fn vector(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/vectors").join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("tests/vectors/{name} above the crate"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON number, or a list of numbers or of such lists, flattened in row-major order as f32.
pub fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        x => vec![x.as_f64().expect("a number") as f32],
    }
}

/// The (abs, rel) tolerance stored in a vector file.
pub fn tolerance(file: &Value) -> (f64, f64) {
    (
        file["tolerance"]["abs"].as_f64().unwrap(),
        file["tolerance"]["rel"].as_f64().unwrap(),
    )
}

/// Asserts |actual - expected| <= abs + rel * |expected| element-wise.
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], abs: f64, rel: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let (a, e) = (f64::from(*a), f64::from(*e));
        assert!(
            (a - e).abs() <= abs + rel * e.abs(),
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}
