//! Helpers for the end-to-end tests of both binaries, `mlp` (tests/cli.rs) and `mlp-candle`
//! (candle/tests/cli.rs), which include this file with `#[path]`: a valid spec, running
//! `train`, and reading what CONTRACT.md says a run leaves behind.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// The repository's embedded mnist-mini folder, found above this crate's manifest.
pub fn mnist_mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("harness/preparation/data/mnist-mini"))
        .find(|dir| dir.is_dir())
        .expect("harness/preparation/data/mnist-mini above the crate")
}

/// Runs `BINARY train --spec SPEC ARGS...`.
pub fn train(binary: &str, spec: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .arg("train")
        .arg("--spec")
        .arg(spec)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{binary} runs: {e}"))
}

/// A valid spec (as in harness/preparation/specs/mnist-mini.json) over `dir`.
pub fn spec_value(dir: &Path) -> Value {
    json!({
        "spec_version": 1,
        "dataset": {"name": "test", "dir": dir},
        "layers": [784, 256, 10],
        "hidden_activation": {"kind": "relu"},
        "output": "softmax_cross_entropy",
        "init": {"kind": "he_normal", "seed": 42},
        "optimizer": {"kind": "sgd", "learning_rate": 0.1},
        "batch_size": 512,
        "max_epochs": 50,
        "target_accuracy": 0.9,
        "dtype": "f32"
    })
}

/// Writes `spec` as spec.json in `dir` and returns its path.
pub fn write_spec(dir: &Path, spec: &Value) -> PathBuf {
    let path = dir.join("spec.json");
    std::fs::write(&path, serde_json::to_string_pretty(spec).unwrap()).unwrap();
    path
}

/// Asserts exit status 2 and exactly `line` on stderr.
pub fn assert_bad_input(out: &Output, line: &str) {
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("{line}\n"));
    assert_eq!(out.status.code(), Some(2));
}

/// Asserts exit status `code` (showing stderr if not) and returns the metrics file's events.
pub fn events(out: &Output, code: i32, metrics: &Path) -> Vec<Value> {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The "event" field of each event, in order.
pub fn event_kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

/// A learning rate of a million on mnist-mini: exit 3 and the contract's divergence line.
pub fn assert_a_huge_learning_rate_diverges(binary: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec_value(&mnist_mini());
    spec["optimizer"]["learning_rate"] = json!(1e6);
    let out = train(binary, &write_spec(tmp.path(), &spec), &[]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: training diverged: loss is not finite at epoch 1, step "),
        "{err}"
    );
}
