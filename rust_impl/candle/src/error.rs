//! Failures of `mlp-candle`: the contract's (shared with the `mlp` crate) or candle's own.

use mlp::error::Error;

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
