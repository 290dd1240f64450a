//! A multilayer perceptron trained with plain SGD: the Rust contender of the MLP benchmark.

#[cfg(feature = "alloc-count")]
pub mod alloc_count;
pub mod blas;
pub mod cli;
pub mod data;
pub mod error;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod modelfile;
pub mod spec;
pub mod train;
pub mod tune;
