//! The `mlp` binary end to end: training on the embedded mnist-mini, and every bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

#[path = "support/contract.rs"]
mod contract;

use contract::{assert_bad_input, event_kinds, events, mnist_mini, spec_value, write_spec};

/// Runs `mlp train --spec SPEC ARGS...`.
fn mlp(spec: &Path, args: &[&str]) -> Output {
    contract::train(env!("CARGO_BIN_EXE_mlp"), spec, args)
}

/// An IDX images file: magic, count, rows, cols, then `pixels` bytes.
fn idx_images(magic: u32, count: u32, pixels: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [magic, count, 28, 28] {
        b.extend(v.to_be_bytes());
    }
    b.extend((0..pixels).map(|i| (i % 256) as u8));
    b
}

/// An IDX labels file: magic, count, then the labels.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0x801u32.to_be_bytes());
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

/// A folder with four valid raw IDX files of 3 training and 2 test images.
fn small_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("train-images-idx3-ubyte"),
        idx_images(0x803, 3, 3 * 784),
    )
    .unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte"), idx_labels(&[1, 2, 3])).unwrap();
    std::fs::write(
        d.join("t10k-images-idx3-ubyte"),
        idx_images(0x803, 2, 2 * 784),
    )
    .unwrap();
    std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx_labels(&[4, 5])).unwrap();
    dir
}

/// Runs the valid spec over a data folder and returns the output.
fn run_on(data: &Path) -> Output {
    mlp(&write_spec(data, &spec_value(data)), &["--max-steps", "1"])
}

/// Runs the valid spec over `data` and asserts exit 2 with `error: <file>: <message>`.
fn assert_data_rejected(data: &Path, file: &Path, message: &str) {
    assert_bad_input(
        &run_on(data),
        &format!("error: {}: {message}", file.display()),
    );
}

/// Asserts exit status 0 (showing stderr if not) and returns the metrics file's events.
fn successful_events(out: &Output, metrics: &Path) -> Vec<Value> {
    events(out, 0, metrics)
}

#[test]
fn training_on_mnist_mini_reaches_the_target_and_writes_start_data_epochs_and_end() {
    let tmp = tempfile::tempdir().unwrap();
    let metrics = tmp.path().join("m.jsonl");
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../harness/preparation/specs/mnist-mini.json");
    let out = mlp(&spec, &["--metrics-out", metrics.to_str().unwrap()]);
    let events = successful_events(&out, &metrics);
    let kinds = event_kinds(&events);
    let end = events.last().unwrap();
    let epochs = end["epochs"].as_u64().unwrap() as usize;
    assert!(epochs >= 1);
    let mut expected = vec!["start", "data"];
    expected.extend(std::iter::repeat_n("epoch", epochs));
    expected.push("end");
    assert_eq!(kinds, expected);
    assert_eq!(end["status"], "reached_target");
    assert!(end["test_correct"].as_u64().unwrap() > 9000);
    assert_eq!(events[0]["implementation"], "rust");
    assert_eq!(events[1]["train_samples"], 5000);
    assert!(events.iter().all(|e| e["run_id"] == events[0]["run_id"]));
    for (i, e) in events[2..2 + epochs].iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        assert_eq!(e["steps"], (i + 1) * 10);
    }
}

#[test]
fn max_steps_stops_after_k_steps_with_step_lines_and_saves_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), &spec_value(&mnist_mini()));
    let metrics = tmp.path().join("m.jsonl");
    let model = tmp.path().join("out.safetensors");
    let out = mlp(
        &spec,
        &[
            "--max-steps",
            "3",
            "--metrics-out",
            metrics.to_str().unwrap(),
            "--save-model",
            model.to_str().unwrap(),
        ],
    );
    let events = successful_events(&out, &metrics);
    assert_eq!(
        event_kinds(&events),
        ["start", "data", "step", "step", "step", "end"]
    );
    assert_eq!(events.last().unwrap()["status"], "max_steps");
    let again = mlp(
        &spec,
        &["--max-steps", "3", "--init", model.to_str().unwrap()],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "the saved model is a valid --init"
    );
}

#[test]
fn a_learning_rate_of_a_million_diverges_with_exit_3() {
    contract::assert_a_huge_learning_rate_diverges(env!("CARGO_BIN_EXE_mlp"));
}

#[test]
fn a_missing_data_file_is_named_with_the_gz_alternative() {
    let data = small_data();
    std::fs::remove_file(data.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let d = data.path().display();
    assert_bad_input(
        &run_on(data.path()),
        &format!("error: {d}/t10k-labels-idx1-ubyte: not found (nor t10k-labels-idx1-ubyte.gz); expected the four MNIST IDX files in dataset.dir"),
    );
}

#[test]
fn a_wrong_magic_number_is_reported_in_hex() {
    let data = small_data();
    let f = data.path().join("train-images-idx3-ubyte");
    std::fs::write(&f, idx_images(0x801, 3, 3 * 784)).unwrap();
    assert_data_rejected(
        data.path(),
        &f,
        "bad magic number 0x00000801, expected 0x00000803 (IDX images)",
    );
}

#[test]
fn a_truncated_image_file_reports_expected_and_found_bytes() {
    let data = small_data();
    let f = data.path().join("train-images-idx3-ubyte");
    std::fs::write(&f, idx_images(0x803, 3, 2 * 784)).unwrap();
    assert_data_rejected(
        data.path(),
        &f,
        "truncated: expected 2352 bytes after the header, found 1568",
    );
    std::fs::write(&f, &idx_images(0x803, 3, 0)[..10]).unwrap();
    assert_data_rejected(
        data.path(),
        &f,
        "truncated: expected a 16-byte IDX header, found 10 bytes",
    );
}

#[test]
fn label_and_image_counts_that_differ_are_reported() {
    let data = small_data();
    let labels = data.path().join("train-labels-idx1-ubyte");
    std::fs::write(&labels, idx_labels(&[1, 2])).unwrap();
    let images = data.path().join("train-images-idx3-ubyte");
    assert_data_rejected(
        data.path(),
        &labels,
        &format!("2 labels but {} has 3 images", images.display()),
    );
}

#[test]
fn a_gzipped_file_that_is_not_gzip_is_reported() {
    let data = small_data();
    std::fs::remove_file(data.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let gz = data.path().join("t10k-labels-idx1-ubyte.gz");
    std::fs::write(&gz, b"plain bytes").unwrap();
    assert_data_rejected(data.path(), &gz, "not a valid gzip stream");
}

/// Runs a spec changed by `edit` (over valid data) and asserts exit 2 with
/// `error: <spec path>: <message>`.
fn assert_spec_rejected(edit: impl FnOnce(&mut Value), message: &str) {
    let data = small_data();
    let mut spec = spec_value(data.path());
    edit(&mut spec);
    let path = write_spec(data.path(), &spec);
    let out = mlp(&path, &["--max-steps", "1"]);
    assert_bad_input(&out, &format!("error: {}: {message}", path.display()));
}

#[test]
fn an_unknown_spec_key_is_named_with_the_allowed_keys() {
    assert_spec_rejected(
        |s| s["momentum"] = json!(0.9),
        "unknown key \"momentum\" in the spec (allowed: spec_version, dataset, layers, hidden_activation, output, init, optimizer, batch_size, max_epochs, target_accuracy, dtype)",
    );
    assert_spec_rejected(
        |s| s["optimizer"]["nesterov"] = json!(true),
        "unknown key \"nesterov\" in optimizer (allowed: kind, learning_rate)",
    );
}

#[test]
fn a_missing_spec_key_is_named() {
    assert_spec_rejected(
        |s| {
            s.as_object_mut().unwrap().remove("batch_size");
        },
        "missing key \"batch_size\" in the spec",
    );
}

#[test]
fn a_non_positive_learning_rate_is_rejected() {
    for (value, shown) in [(json!(-0.1), "-0.1"), (json!(0), "0")] {
        assert_spec_rejected(
            |s| s["optimizer"]["learning_rate"] = value,
            &format!("optimizer.learning_rate: expected a finite number > 0, got {shown}"),
        );
    }
}

#[test]
fn a_non_positive_or_non_integer_batch_size_is_rejected() {
    for (value, shown) in [
        (json!(0), "0"),
        (json!(512.0), "512.0"),
        (json!(true), "true"),
    ] {
        assert_spec_rejected(
            |s| s["batch_size"] = value,
            &format!("batch_size: expected a positive integer, got {shown}"),
        );
    }
}

#[test]
fn a_first_layer_that_is_not_784_for_28x28_images_is_rejected_after_loading() {
    assert_spec_rejected(
        |s| s["layers"] = json!([700, 256, 10]),
        "layers[0]: expected 784 (the 28x28 pixels of each image), got 700",
    );
}

#[test]
fn an_unknown_activation_kind_is_rejected() {
    assert_spec_rejected(
        |s| s["hidden_activation"] = json!({"kind": "tanh"}),
        "hidden_activation.kind: expected \"relu\" or \"leaky_relu\", got \"tanh\"",
    );
}

#[test]
fn a_spec_that_is_not_json_reports_line_and_column() {
    let data = small_data();
    let path = data.path().join("spec.json");
    std::fs::write(&path, "{\n  \"spec_version\": ,\n}").unwrap();
    assert_bad_input(
        &mlp(&path, &[]),
        &format!(
            "error: {}: not valid JSON (line 2, column 19)",
            path.display()
        ),
    );
}

/// Writes a safetensors file with the given (name, shape) float32 tensors, every value `fill`.
fn write_model(path: &Path, tensors: &[(&str, Vec<usize>)], fill: f32) {
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, s)| fill.to_le_bytes().repeat(s.iter().product::<usize>()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&buffers)
        .map(|((n, s), b)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn an_init_file_with_a_missing_tensor_names_it() {
    let data = small_data();
    let init = data.path().join("init.safetensors");
    write_model(
        &init,
        &[
            ("layers.0.weight", vec![256, 784]),
            ("layers.0.bias", vec![256]),
            ("layers.1.weight", vec![10, 256]),
        ],
        0.0,
    );
    let spec = write_spec(data.path(), &spec_value(data.path()));
    assert_bad_input(
        &mlp(&spec, &["--init", init.to_str().unwrap()]),
        &format!(
            "error: {}: missing tensor \"layers.1.bias\"",
            init.display()
        ),
    );
}

#[test]
fn an_init_file_with_a_wrong_shape_names_both_shapes() {
    let data = small_data();
    let init = data.path().join("init.safetensors");
    write_model(
        &init,
        &[
            ("layers.0.weight", vec![784, 256]),
            ("layers.0.bias", vec![256]),
        ],
        0.0,
    );
    let mut spec = spec_value(data.path());
    spec["init"] = json!({"kind": "file", "path": "init.safetensors"});
    let spec = write_spec(data.path(), &spec);
    assert_bad_input(
        &mlp(&spec, &[]),
        &format!(
            "error: {}: tensor \"layers.0.weight\" has shape [784, 256], expected [256, 784]",
            init.display()
        ),
    );
}

#[test]
fn an_unreadable_metrics_path_fails_before_loading_data() {
    let data = small_data();
    let spec = write_spec(data.path(), &spec_value(data.path()));
    let out = mlp(&spec, &["--metrics-out", "/nonexistent-folder/m.jsonl"]);
    assert_bad_input(&out, "error: /nonexistent-folder/m.jsonl: cannot open metrics file for appending: No such file or directory");
}

#[test]
fn an_init_file_holding_nan_is_rejected_at_load_naming_the_tensor() {
    let data = small_data();
    let init = data.path().join("init.safetensors");
    let shapes = [
        ("layers.0.weight", vec![256, 784]),
        ("layers.0.bias", vec![256]),
        ("layers.1.weight", vec![10, 256]),
        ("layers.1.bias", vec![10]),
    ];
    write_model(&init, &shapes, f32::NAN);
    let spec = write_spec(data.path(), &spec_value(data.path()));
    assert_bad_input(
        &mlp(&spec, &["--init", init.to_str().unwrap()]),
        &format!(
            "error: {}: tensor \"layers.0.weight\" holds a non-finite value",
            init.display()
        ),
    );
}

#[test]
fn a_multi_member_gzip_is_read_whole_and_bytes_after_the_last_member_are_rejected() {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let gzip = |bytes: &[u8]| {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let data = small_data();
    let raw = data.path().join("train-labels-idx1-ubyte");
    let labels = std::fs::read(&raw).unwrap();
    std::fs::remove_file(&raw).unwrap();
    let gz = data.path().join("train-labels-idx1-ubyte.gz");
    let members = [gzip(&labels[..5]), gzip(&labels[5..])].concat();
    std::fs::write(&gz, &members).unwrap();
    assert_eq!(run_on(data.path()).status.code(), Some(0));
    for trailing in [&b"garbage"[..], &[0u8; 8][..]] {
        std::fs::write(&gz, [&members[..], trailing].concat()).unwrap();
        assert_data_rejected(data.path(), &gz, "not a valid gzip stream");
    }
}

#[test]
fn a_network_too_large_to_allocate_is_rejected_at_validation() {
    assert_spec_rejected(
        |s| s["layers"] = json!([784, 4_000_000_000u64, 10]),
        "layers: expected fewer than 2^31 weights and biases in all, got [784,4000000000,10]",
    );
}

#[test]
fn out_of_range_threads_and_max_steps_give_one_line_and_version_prints_name_and_version() {
    let data = small_data();
    let spec = write_spec(data.path(), &spec_value(data.path()));
    for (flag, value, rule) in [
        ("--threads", "0", "an integer in [1, 1024]"),
        ("--threads", "4294967296", "an integer in [1, 1024]"),
        ("--threads", "-1", "an integer in [1, 1024]"),
        (
            "--max-steps",
            "9223372036854775808",
            "an integer in [1, 2^63)",
        ),
        ("--max-steps", "1e3", "an integer in [1, 2^63)"),
    ] {
        assert_bad_input(
            &mlp(&spec, &[flag, value]),
            &format!("error: {flag}: expected {rule}, got \"{value}\""),
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mlp"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mlp 0.1.0\n");
}

/// Runs `mlp FLAGS... train --spec SPEC ARGS...` (the binary's own flags come before `train`).
fn mlp_with(flags: &[&str], spec: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlp"))
        .args(flags)
        .arg("train")
        .arg("--spec")
        .arg(spec)
        .args(args)
        .output()
        .expect("mlp runs")
}

#[test]
fn a_blas_library_that_is_not_a_shared_library_is_named_before_the_spec_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a library\n").unwrap();
    // The spec does not exist either: the library is checked first.
    let out = mlp_with(
        &["--blas-library", text.to_str().unwrap()],
        &dir.path().join("absent.json"),
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefix = format!(
        "error: {}: cannot load as a shared library: ",
        text.display()
    );
    assert!(stderr.starts_with(&prefix), "{stderr}");
    assert_eq!((stderr.lines().count(), out.status.code()), (1, Some(2)));
}

#[test]
fn a_library_without_a_cblas_sgemm_is_refused_naming_what_it_lacks() {
    let libm = Path::new("/lib/x86_64-linux-gnu/libm.so.6");
    if !libm.exists() {
        eprintln!("skipped: {} not present", libm.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), &spec_value(&mnist_mini()));
    let out = mlp_with(&["--blas-library", libm.to_str().unwrap()], &spec, &[]);
    assert_bad_input(
        &out,
        "error: /lib/x86_64-linux-gnu/libm.so.6: no cblas sgemm in it; expected a 64-bit-integer \
         OpenBLAS (exporting scipy_cblas_sgemm64_ as NumPy's wheel does, cblas_sgemm64_, or \
         cblas_sgemm built with USE64BITINT)",
    );
}

#[test]
fn a_named_kernel_is_recorded_as_named_and_trains_alike() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), &spec_value(&mnist_mini()));
    let mut losses = Vec::new();
    for kernel in ["gemm", "matrixmultiply"] {
        let metrics = dir.path().join(format!("{kernel}.jsonl"));
        let out = mlp_with(
            &["--kernel", kernel],
            &spec,
            &[
                "--max-steps",
                "3",
                "--metrics-out",
                metrics.to_str().unwrap(),
            ],
        );
        let ev = events(&out, 0, &metrics);
        assert_eq!(
            ev[0]["kernel_choice"],
            json!({"chosen": kernel, "by": "--kernel"})
        );
        losses.push(ev[ev.len() - 2]["loss"].as_f64().unwrap());
    }
    assert!((losses[0] - losses[1]).abs() < 1e-4, "{losses:?}");
}
