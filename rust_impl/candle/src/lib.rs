//! `mlp-candle`: the benchmark's MLP written with Hugging Face's candle (CPU), sharing the spec,
//! data, errors, metrics and model-file checks of the `mlp` crate.

pub mod error;
pub mod net;
pub mod train;

/// The candle release this crate is built against (Cargo.toml pins it; a test checks the lock).
pub const CANDLE_VERSION: &str = "0.11.1";

#[cfg(test)]
mod tests {
    #[test]
    fn the_reported_candle_version_is_the_locked_candle_core() {
        let lock = include_str!("../../Cargo.lock");
        let entry = format!(
            "name = \"candle-core\"\nversion = \"{}\"",
            super::CANDLE_VERSION
        );
        assert!(lock.contains(&entry), "Cargo.lock has no {entry}");
    }
}
