//! The `mlp-candle` binary end to end: short runs on the embedded mnist-mini, and bad inputs
//! rejected with the same lines as the `mlp` binary (tests/test_candle_contract.py runs both).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

#[path = "../../tests/support/contract.rs"]
mod contract;

use contract::{assert_bad_input, event_kinds, events, mnist_mini, spec_value, write_spec};

/// Runs `mlp-candle train --spec SPEC ARGS...`.
fn candle(spec: &Path, args: &[&str]) -> Output {
    contract::train(env!("CARGO_BIN_EXE_mlp-candle"), spec, args)
}

/// A run of `spec` for K steps with metrics and a saved model: (events, model path).
fn steps_run(tmp: &Path, spec: &Path, k: &str, extra: &[&str]) -> (Vec<Value>, PathBuf) {
    let metrics = tmp.join(format!("m{k}{}.jsonl", extra.join("")));
    let model = tmp.join(format!("model{k}{}.safetensors", extra.join("")));
    let mut args = vec![
        "--max-steps",
        k,
        "--metrics-out",
        metrics.to_str().unwrap(),
        "--save-model",
        model.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = candle(spec, &args);
    (events(&out, 0, &metrics), model)
}

/// Every tensor of a safetensors file: name -> (shape, values); all must be float32.
fn tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, view.shape().to_vec(), values)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The largest absolute difference between two models' tensors (same names and shapes).
fn max_difference(a: &Path, b: &Path) -> f32 {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(ta.len(), tb.len());
    let mut worst = 0.0f32;
    for ((na, sa, va), (nb, sb, vb)) in ta.iter().zip(&tb) {
        assert_eq!((na, sa), (nb, sb));
        for (x, y) in va.iter().zip(vb) {
            worst = worst.max((x - y).abs());
        }
    }
    worst
}

#[test]
fn max_steps_writes_step_lines_and_a_model_in_the_contract_names_that_loads_again() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &spec_value(&mnist_mini()));
    let (events, model) = steps_run(tmp.path(), &spec, "3", &[]);
    assert_eq!(
        event_kinds(&events),
        ["start", "data", "step", "step", "step", "end"]
    );
    let start = &events[0];
    assert_eq!(start["implementation"], "rust-candle");
    assert_eq!(start["candle"], mlp_candle::CANDLE_VERSION);
    assert_eq!(start["init"], "he_normal:42");
    assert_eq!(events[1]["train_samples"], 5000);
    let end = events.last().unwrap();
    assert_eq!(end["status"], "max_steps");
    assert_eq!(end["steps"], 3);
    assert_eq!(end["epochs"], 0);
    // After 3 steps at lr 0.1 the mean loss falls from ~2.3 and the accuracy is far above 10%.
    let losses: Vec<f64> = events[2..5]
        .iter()
        .map(|e| e["loss"].as_f64().unwrap())
        .collect();
    assert!(losses[2] < losses[0], "{losses:?}");
    assert!(end["test_correct"].as_u64().unwrap() > 3000, "{end}");
    let names: Vec<(String, Vec<usize>)> = tensors(&model)
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    let expected = [
        ("layers.0.bias", vec![256]),
        ("layers.0.weight", vec![256, 784]),
        ("layers.1.bias", vec![10]),
        ("layers.1.weight", vec![10, 256]),
    ]
    .map(|(n, s)| (n.to_string(), s));
    assert_eq!(names, expected);
    let again = candle(
        &spec,
        &["--max-steps", "1", "--init", model.to_str().unwrap()],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "the saved model is a valid --init"
    );
}

#[test]
fn per_sample_and_two_threads_give_the_batched_one_thread_model_within_float_rounding() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &spec_value(&mnist_mini()));
    let (_, batched) = steps_run(tmp.path(), &spec, "2", &[]);
    let (_, per_sample) = steps_run(tmp.path(), &spec, "2", &["--algorithm", "per-sample"]);
    let (events, threaded) = steps_run(tmp.path(), &spec, "2", &["--threads", "2"]);
    assert_eq!(events[0]["threads"], 2);
    // harness/measurement/verify.py: the parity tolerance: 1e-4 * sqrt(K).
    let tolerance = 1e-4 * 2f32.sqrt();
    for other in [&per_sample, &threaded] {
        let d = max_difference(&batched, other);
        assert!(d <= tolerance, "{}: {d}", other.display());
        assert!(d < 1.0);
    }
}

#[test]
fn sigmoid_mse_with_leaky_relu_trains_and_lowers_its_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec_value(&mnist_mini());
    spec["output"] = json!("sigmoid_mse");
    spec["hidden_activation"] = json!({"kind": "leaky_relu", "alpha": 0.01});
    spec["optimizer"]["learning_rate"] = json!(0.5);
    let spec = write_spec(tmp.path(), &spec);
    let (events, _) = steps_run(tmp.path(), &spec, "5", &[]);
    let losses: Vec<f64> = events
        .iter()
        .filter(|e| e["event"] == "step")
        .map(|e| e["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 5);
    // sum_j (a_j - y_j)^2 over 10 outputs is at most 10 and starts near 2.5 (a ~ 1/2).
    assert!(losses[0] > 0.5 && losses[0] < 10.0, "{losses:?}");
    assert!(losses[4] < losses[0], "{losses:?}");
}

#[test]
fn max_epochs_below_the_target_exits_1_after_one_epoch_line_per_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec_value(&mnist_mini());
    spec["max_epochs"] = json!(1);
    spec["target_accuracy"] = json!(1.0);
    let spec = write_spec(tmp.path(), &spec);
    let metrics = tmp.path().join("m.jsonl");
    let out = candle(&spec, &["--metrics-out", metrics.to_str().unwrap()]);
    let events = events(&out, 1, &metrics);
    assert_eq!(event_kinds(&events), ["start", "data", "epoch", "end"]);
    let epoch = &events[2];
    assert_eq!(epoch["steps"], 10);
    assert!(epoch["train_loss"].as_f64().unwrap() < 2.3);
    let correct = epoch["test_correct"].as_u64().unwrap();
    assert_eq!(epoch["test_accuracy"], correct as f64 / 10000.0);
    assert_eq!(events[3]["status"], "max_epochs");
}

#[test]
fn a_learning_rate_of_a_million_diverges_with_exit_3() {
    contract::assert_a_huge_learning_rate_diverges(env!("CARGO_BIN_EXE_mlp-candle"));
}

#[test]
fn a_bad_spec_value_and_a_missing_data_folder_give_the_contract_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec_value(&mnist_mini());
    spec["batch_size"] = json!(0);
    let path = write_spec(tmp.path(), &spec);
    assert_bad_input(
        &candle(&path, &[]),
        &format!(
            "error: {}: batch_size: expected a positive integer, got 0",
            path.display()
        ),
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let path = write_spec(tmp.path(), &spec_value(&empty));
    assert_bad_input(
        &candle(&path, &[]),
        &format!("error: {}/train-images-idx3-ubyte: not found (nor train-images-idx3-ubyte.gz); expected the four MNIST IDX files in dataset.dir", empty.display()),
    );
}

#[test]
fn a_first_layer_that_is_not_784_is_rejected_after_loading() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec_value(&mnist_mini());
    spec["layers"] = json!([700, 256, 10]);
    let path = write_spec(tmp.path(), &spec);
    assert_bad_input(
        &candle(&path, &[]),
        &format!(
            "error: {}: layers[0]: expected 784 (the 28x28 pixels of each image), got 700",
            path.display()
        ),
    );
}

/// Writes a safetensors file of zeros with the given (name, dtype, shape) tensors.
fn write_model(path: &Path, tensors: &[(&str, safetensors::Dtype, Vec<usize>)]) {
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, s)| vec![0u8; d.bitsize() / 8 * s.iter().product::<usize>()])
        .collect();
    let views = tensors.iter().zip(&buffers).map(|((n, d, s), b)| {
        let view = safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap();
        (n.to_string(), view)
    });
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn init_files_with_a_missing_tensor_a_wrong_dtype_or_shape_are_named_like_mlp_names_them() {
    use safetensors::Dtype::{F32, F64};
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &spec_value(&mnist_mini()));
    let init = tmp.path().join("init.safetensors");
    let w0 = ("layers.0.weight", F32, vec![256, 784]);
    let b0 = ("layers.0.bias", F32, vec![256]);
    let w1 = ("layers.1.weight", F32, vec![10, 256]);
    let cases = [
        (
            vec![w0.clone(), b0.clone(), w1.clone()],
            "missing tensor \"layers.1.bias\"",
        ),
        (
            vec![w0.clone(), ("layers.0.bias", F64, vec![256])],
            "tensor \"layers.0.bias\" has dtype F64, expected F32",
        ),
        (
            vec![("layers.0.weight", F32, vec![784, 256]), b0],
            "tensor \"layers.0.weight\" has shape [784, 256], expected [256, 784]",
        ),
    ];
    for (tensors, message) in cases {
        write_model(&init, &tensors);
        assert_bad_input(
            &candle(&spec, &["--init", init.to_str().unwrap()]),
            &format!("error: {}: {message}", init.display()),
        );
    }
    std::fs::write(&init, b"not a model").unwrap();
    assert_bad_input(
        &candle(&spec, &["--init", init.to_str().unwrap()]),
        &format!("error: {}: not a safetensors file", init.display()),
    );
}

#[test]
fn unwritable_metrics_and_model_paths_give_the_c_library_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &spec_value(&mnist_mini()));
    let out = candle(&spec, &["--metrics-out", "/nonexistent-folder/m.jsonl"]);
    assert_bad_input(&out, "error: /nonexistent-folder/m.jsonl: cannot open metrics file for appending: No such file or directory");
    let model = tmp.path().join("no-such-folder").join("m.safetensors");
    let out = candle(
        &spec,
        &["--max-steps", "1", "--save-model", model.to_str().unwrap()],
    );
    assert_bad_input(
        &out,
        &format!(
            "error: {}: cannot write model file: No such file or directory",
            model.display()
        ),
    );
}

#[test]
fn zero_threads_is_a_usage_error_and_version_prints_name_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &spec_value(&mnist_mini()));
    assert_eq!(candle(&spec, &["--threads", "0"]).status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_mlp-candle"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mlp-candle 0.1.0\n");
}
