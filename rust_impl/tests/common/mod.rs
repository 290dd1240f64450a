//! Helpers shared by the integration tests: reading test vectors, building small models.

#![allow(dead_code)]

use std::path::PathBuf;

use nalgebra::{DMatrix, DVector};
use serde_json::Value;

use mlp::model::Mlp;
use mlp::spec::{Activation, Output};

/// Parses `tests/vectors/<name>` of the repository (shared with pytest).
pub fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON list of numbers as f32.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// A JSON (rows, cols) list of lists as a matrix.
pub fn matrix(v: &Value) -> DMatrix<f32> {
    let rows: Vec<Vec<f32>> = v.as_array().expect("a list").iter().map(floats).collect();
    let flat: Vec<f32> = rows.concat();
    DMatrix::from_row_slice(rows.len(), rows[0].len(), &flat)
}

/// A model from the vector file's (out, in) row-major weights and biases.
pub fn model(case: &Value, hidden: Activation, output: Output) -> Mlp {
    Mlp {
        weights: case["weights"]
            .as_array()
            .expect("weights")
            .iter()
            .map(matrix)
            .collect(),
        biases: case["biases"]
            .as_array()
            .expect("biases")
            .iter()
            .map(|b| DVector::from_vec(floats(b)))
            .collect(),
        hidden,
        output,
    }
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

/// The elements of a matrix in row-major order (the vector files' layout).
pub fn row_major(m: &DMatrix<f32>) -> Vec<f32> {
    m.transpose().iter().copied().collect()
}
