//! The product kernel chosen by measurement, as FFTW's planner and OpenBLAS's dispatch do, not
//! by CPU flag: a CPU flag says which instructions a library may use, not which library is
//! faster on this network's shapes (on an AMD EPYC with AVX2 the flag picked matrixmultiply,
//! yet `cargo bench` there had the gemm crate faster per step: rust_impl/README.md, section
//! "Measured").
//!
//! Each built-in kernel runs whole SGD steps (forward, backward, gradients) of the network
//! itself on a slice as wide as one thread's share of a mini-batch, alternating kernel by
//! kernel for a few rounds; the one with the shortest step wins. The result is cached per
//! machine in `<cache>/mlp-bench/rust-kernel-<key hash>.json` (`$MLP_BENCH_CACHE`, else
//! `$XDG_CACHE_HOME`, else `~/.cache`), keyed by this binary's version, the CPU model, its SIMD
//! level, the layers and the slice width, so only a machine's first run pays for the
//! measurement: at most `ROUNDS` rounds after a warm-up one, stopping early once `BUDGET` has
//! passed (what it costs on one machine: rust_impl/README.md, section "Measured").

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nalgebra::DMatrix;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::linalg::{simd, Kernel};
use crate::model::{BatchWorkspace, Mlp};
use crate::spec::{Activation, Output};

/// The kernels a measurement chooses from (the BLAS one is named by the user instead).
pub const CANDIDATES: [Kernel; 2] = [Kernel::Gemm, Kernel::MatrixMultiply];

/// Alternating rounds at most, and the time they may take together.
const ROUNDS: usize = 5;
const BUDGET: Duration = Duration::from_millis(400);
/// Steps timed per kernel and round.
const STEPS: usize = 2;

/// The kernel chosen, with the evidence the start event records.
#[derive(Clone, Debug)]
pub struct Choice {
    /// The faster kernel.
    pub kernel: Kernel,
    /// Each candidate's best seconds per step, in [`CANDIDATES`] order.
    pub seconds: Vec<(&'static str, f64)>,
    /// The cache file (None where it cannot be written).
    pub cache: Option<PathBuf>,
    /// Whether the choice was read from the cache rather than measured now.
    pub cached: bool,
    /// What the choice is valid for.
    pub key: String,
}

impl Choice {
    /// The start event's `kernel_choice` field.
    pub fn to_json(&self) -> Value {
        json!({
            "chosen": self.kernel.name(),
            "by": "measurement",
            "seconds_per_step": self.seconds.iter().map(|(k, s)| (k.to_string(), json!(s)))
                .collect::<serde_json::Map<_, _>>(),
            "cache": self.cache.as_ref().map(|p| p.display().to_string()),
            "from_cache": self.cached,
            "key": self.key,
        })
    }
}

/// The CPU's model name (Linux's /proc/cpuinfo), or the architecture elsewhere.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The cache folder: `$MLP_BENCH_CACHE`, else `$XDG_CACHE_HOME/mlp-bench`, else
/// `~/.cache/mlp-bench`.
fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("MLP_BENCH_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("mlp-bench"))
}

/// The faster built-in kernel for `layers` on slices of `slice` samples: from the cache, else
/// measured now (and cached).
pub fn choose(layers: &[usize], hidden: Activation, output: Output, slice: usize) -> Choice {
    let slice = slice.max(1);
    let key = format!(
        "mlp {}; {}; {}; layers {:?}; slice {slice}",
        env!("CARGO_PKG_VERSION"),
        cpu_model(),
        simd(),
        layers
    );
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let file = cache_dir().map(|d| d.join(format!("rust-kernel-{hex}.json")));
    if let Some(choice) = file.as_ref().and_then(|f| read_cache(f, &key)) {
        return choice;
    }
    let seconds = measure(layers, hidden, output, slice);
    let best = (0..CANDIDATES.len())
        .min_by(|&a, &b| seconds[a].total_cmp(&seconds[b]))
        .unwrap_or(0);
    let mut choice = Choice {
        kernel: CANDIDATES[best],
        seconds: CANDIDATES
            .iter()
            .zip(seconds)
            .map(|(k, s)| (k.name(), s))
            .collect(),
        cache: None,
        cached: false,
        key,
    };
    choice.cache = file.filter(|f| write_cache(f, &choice).is_ok());
    choice
}

/// Best seconds per step of each candidate, measured in alternating rounds.
fn measure(layers: &[usize], hidden: Activation, output: Output, slice: usize) -> Vec<f64> {
    let mut model = Mlp::he_normal(layers, hidden, output, 0);
    // Pixel-like inputs in [0, 1] and cycling labels: the products' cost does not depend on
    // the values, only that they stay finite.
    let x = DMatrix::from_fn(layers[0], slice, |i, j| {
        ((i * 7 + j * 13) % 256) as f32 / 255.0
    });
    let classes = layers[layers.len() - 1].max(1);
    let labels: Vec<u8> = (0..slice).map(|j| (j % classes.min(256)) as u8).collect();
    let mut spaces: Vec<BatchWorkspace> = CANDIDATES
        .iter()
        .map(|&k| BatchWorkspace::with_kernel(&model, slice, k))
        .collect();
    let mut best = vec![f64::INFINITY; CANDIDATES.len()];
    let started = Instant::now();
    for round in 0..=ROUNDS {
        for (i, ws) in spaces.iter_mut().enumerate() {
            let clock = Instant::now();
            for _ in 0..STEPS {
                ws.step(&mut model, x.as_view(), &labels, None, 1);
            }
            // Round 0 warms caches and the kernels' packing buffers; it is not counted.
            if round > 0 {
                best[i] = best[i].min(clock.elapsed().as_secs_f64() / STEPS as f64);
            }
        }
        if round > 0 && started.elapsed() > BUDGET {
            break;
        }
    }
    best
}

/// A cached choice for `key`, if the file holds one.
fn read_cache(file: &PathBuf, key: &str) -> Option<Choice> {
    let value: Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    if value.get("key")?.as_str()? != key {
        return None;
    }
    let chosen = value.get("chosen")?.as_str()?;
    let kernel = *CANDIDATES.iter().find(|k| k.name() == chosen)?;
    let times = value.get("seconds_per_step")?.as_object()?;
    let seconds = CANDIDATES
        .iter()
        .map(|k| Some((k.name(), times.get(k.name())?.as_f64()?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Choice {
        kernel,
        seconds,
        cache: Some(file.clone()),
        cached: true,
        key: key.to_string(),
    })
}

/// Writes the choice atomically (a temporary file renamed over the cache file).
fn write_cache(file: &PathBuf, choice: &Choice) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(file.as_path());
    std::fs::create_dir_all(dir)?;
    let tmp = file.with_extension(format!("{}.tmp", std::process::id()));
    let mut record = choice.to_json();
    record["cache"] = Value::Null;
    std::fs::write(&tmp, format!("{record}\n"))?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_choice_is_read_back_for_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.json");
        let choice = Choice {
            kernel: Kernel::MatrixMultiply,
            seconds: vec![("gemm", 0.002), ("matrixmultiply", 0.001)],
            cache: None,
            cached: false,
            key: "this machine".to_string(),
        };
        write_cache(&file, &choice).unwrap();
        let back = read_cache(&file, "this machine").unwrap();
        assert_eq!(back.kernel, Kernel::MatrixMultiply);
        assert_eq!(back.seconds, choice.seconds);
        assert!(back.cached && back.cache.as_ref() == Some(&file));
        assert!(read_cache(&file, "another machine").is_none());
    }
}
