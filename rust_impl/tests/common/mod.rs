//! Helpers shared by the integration tests: reading test vectors, building small models.

#![allow(dead_code)]

#[path = "../support/vectors.rs"]
mod shared;

#[allow(unused_imports)] // training.rs needs none of them
pub use shared::{assert_close, floats, tolerance, vector};

use nalgebra::{DMatrix, DVector};
use serde_json::Value;

use mlp::model::Mlp;
use mlp::spec::{Activation, Output};

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

/// The elements of a matrix in row-major order (the vector files' layout).
pub fn row_major(m: &DMatrix<f32>) -> Vec<f32> {
    m.transpose().iter().copied().collect()
}
