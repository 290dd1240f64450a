//! Failures of `mlp-candle`: the contract's (shared with the `mlp` crate) or candle's own.

use std::error::Error as _;
use std::io;

use mlp::error::{os_reason, Error};

/// A failure that ends the program.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A bad input or divergence, worded as CONTRACT.md says (the `mlp` crate's errors).
    #[error(transparent)]
    Contract(#[from] Error),
    /// candle failed in a way no input explains (out of memory, say): one line, exit 2.
    #[error("error: candle: {}", .0.to_string().replace('\n', "; "))]
    Candle(#[from] candle_core::Error),
}

impl Failure {
    /// The process exit status: the contract's for its errors, 2 for candle's.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Contract(e) => e.exit_code(),
            Failure::Candle(_) => 2,
        }
    }
}

/// Why candle could not write the model file: the C library's reason when it was an I/O error
/// (candle wraps it in a safetensors error), else candle's text.
pub fn save_reason(e: &candle_core::Error) -> String {
    let mut source = e.source();
    loop {
        match source {
            Some(s) => match s.downcast_ref::<io::Error>() {
                Some(io) => break os_reason(io),
                None => source = s.source(),
            },
            None => break e.to_string(),
        }
    }
}
