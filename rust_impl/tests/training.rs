//! The training loop and model files, through the library.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use nalgebra::DMatrix;

use mlp::data::{Dataset, Split};
use mlp::error::Error;
use mlp::linalg::Kernel;
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Activation, Init, Output, Spec};
use mlp::train::{train, Algorithm, Options, Status, Trainer};

/// A deterministic dataset of `inputs`-pixel samples: `train` to learn, `test` to score.
fn dataset(inputs: usize, train: usize, test: usize) -> Dataset {
    let split = |n: usize, salt: usize| Split {
        images: DMatrix::from_fn(inputs, n, |i, j| {
            ((i * 7 + j * 13 + salt) % 17) as f32 / 17.0
        }),
        labels: (0..n).map(|j| ((j * 3 + salt) % 10) as u8).collect(),
    };
    Dataset {
        train: split(train, 0),
        test: split(test, 5),
        rows: 1,
        cols: inputs,
    }
}

/// A small dataset: 23 samples of 12 inputs (with batches of 5, the last batch of 3 is smaller).
fn tiny_data() -> Dataset {
    dataset(12, 23, 9)
}

/// A spec for a `layers` network on in-memory data, batches of `batch_size`.
fn spec(layers: &[usize], hidden: Activation, output: Output, batch_size: usize) -> Spec {
    Spec {
        path: PathBuf::from("tiny.json"),
        sha256: String::new(),
        dataset_name: "tiny".into(),
        dataset_dir: PathBuf::from("."),
        layers: layers.to_vec(),
        hidden,
        output,
        init: Init::HeNormal { seed: 7 },
        learning_rate: 0.5,
        batch_size,
        max_epochs: 3,
        target_accuracy: 1.0,
    }
}

/// A spec for `tiny_data` with a leaky-ReLU 12-8-10 network.
fn tiny_spec(output: Output) -> Spec {
    spec(&[12, 8, 10], Activation::LeakyRelu(0.1), output, 5)
}

/// Runs `train` on `model` with at most `steps` steps and the given algorithm, threads and
/// kernel; returns the outcome.
fn run(
    model: &mut Mlp,
    data: &Dataset,
    spec: &Spec,
    steps: usize,
    (algorithm, threads, kernel): (Algorithm, usize, Kernel),
) -> Result<Status, Error> {
    let opts = Options {
        algorithm,
        threads,
        kernel,
        max_steps: Some(steps),
    };
    let mut metrics = Metrics::open(None).unwrap();
    train(model, data, spec, opts, &mut metrics, Instant::now())
}

/// Trains a fresh model on `tiny_data` for `steps` steps and returns it.
fn trained(algorithm: Algorithm, threads: usize, steps: usize, output: Output) -> Mlp {
    let spec = tiny_spec(output);
    let mut model = Mlp::he_normal(&spec.layers, spec.hidden, spec.output, 7);
    let how = (algorithm, threads, Kernel::detect());
    let status = run(&mut model, &tiny_data(), &spec, steps, how).unwrap();
    assert_eq!(status, Status::MaxSteps);
    model
}

/// Largest absolute difference between the parameters of two models.
fn max_difference(a: &Mlp, b: &Mlp) -> f32 {
    let w = a
        .weights
        .iter()
        .zip(&b.weights)
        .map(|(x, y)| (x - y).amax());
    let v = a.biases.iter().zip(&b.biases).map(|(x, y)| (x - y).amax());
    w.chain(v).fold(0.0, f32::max)
}

#[test]
fn batched_and_per_sample_training_give_the_same_weights_after_several_steps() {
    for output in [Output::SoftmaxCrossEntropy, Output::SigmoidMse] {
        let start = Mlp::he_normal(&[12, 8, 10], Activation::LeakyRelu(0.1), output, 7);
        let batched = trained(Algorithm::Batched, 1, 7, output);
        let per_sample = trained(Algorithm::PerSample, 1, 7, output);
        assert!(
            max_difference(&batched, &start) > 1e-3,
            "training changed nothing"
        );
        assert!(
            max_difference(&batched, &per_sample) < 1e-5,
            "{output:?}: models differ"
        );
    }
}

#[test]
fn two_and_four_threads_give_the_same_weights_as_one_within_rounding_for_both_algorithms() {
    for algorithm in [Algorithm::Batched, Algorithm::PerSample] {
        let one = trained(algorithm, 1, 6, Output::SoftmaxCrossEntropy);
        for threads in [2, 4] {
            let many = trained(algorithm, threads, 6, Output::SoftmaxCrossEntropy);
            assert!(
                max_difference(&one, &many) < 1e-5,
                "{algorithm:?}: 1 and {threads} threads differ"
            );
        }
    }
}

#[test]
fn a_thread_count_gives_bit_identical_weights_run_after_run() {
    for algorithm in [Algorithm::Batched, Algorithm::PerSample] {
        for threads in [2, 3, 4] {
            let first = trained(algorithm, threads, 6, Output::SoftmaxCrossEntropy);
            for _ in 0..3 {
                assert_eq!(
                    trained(algorithm, threads, 6, Output::SoftmaxCrossEntropy),
                    first,
                    "{algorithm:?}, {threads} threads: runs differ"
                );
            }
        }
    }
}

#[test]
fn both_kernels_give_the_same_weights_on_products_large_enough_to_use_them() {
    // 96-80-10 with batches of 70: the first layer's products are >= 64 in every dimension.
    let spec = spec(
        &[96, 80, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
        70,
    );
    let data = dataset(96, 300, 50);
    let start = Mlp::he_normal(&spec.layers, spec.hidden, spec.output, 7);
    let mut models = Vec::new();
    for kernel in [Kernel::MatrixMultiply, Kernel::Gemm] {
        for threads in [1, 2] {
            let mut model = start.clone();
            run(
                &mut model,
                &data,
                &spec,
                4,
                (Algorithm::Batched, threads, kernel),
            )
            .unwrap();
            models.push(model);
        }
    }
    assert!(
        max_difference(&models[0], &start) > 1e-3,
        "training changed nothing"
    );
    for other in &models[1..] {
        assert!(max_difference(&models[0], other) < 1e-5, "kernels differ");
    }
}

#[test]
fn scoring_on_several_threads_counts_what_a_plain_forward_pass_counts() {
    let data = dataset(96, 1, 1001);
    let model = Mlp::he_normal(
        &[96, 80, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
        3,
    );
    let (images, labels) = (&data.test.images, &data.test.labels);
    let z1 = &model.weights[0] * images;
    let mut expected = 0;
    for (j, col) in z1.column_iter().enumerate() {
        let a = (col + &model.biases[0]).map(|z| z.max(0.0));
        let z = &model.weights[1] * a + &model.biases[1];
        expected += usize::from(z.argmax().0 == usize::from(labels[j]));
    }
    assert!(expected > 0, "a degenerate check: nothing is right");
    for threads in [1, 2, 3, 4] {
        for kernel in [Kernel::MatrixMultiply, Kernel::Gemm] {
            let opts = Options {
                algorithm: Algorithm::Batched,
                threads,
                kernel,
                max_steps: None,
            };
            let mut trainer = Trainer::new(&model, 64, &opts);
            assert_eq!(
                trainer.count_correct(&model, images, labels),
                expected,
                "{threads} threads, {kernel:?}"
            );
        }
    }
}

#[test]
fn a_nan_weight_makes_the_loss_not_finite_so_training_diverges_at_the_first_step() {
    // NumPy's relu, np.maximum(z, 0), propagates NaN; so must Rust's (f32::max would not).
    let spec = spec(
        &[12, 8, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
        5,
    );
    for algorithm in [Algorithm::Batched, Algorithm::PerSample] {
        for threads in [1, 2] {
            let mut model = Mlp::he_normal(&spec.layers, spec.hidden, spec.output, 7);
            model.weights[0][(3, 5)] = f32::NAN;
            let how = (algorithm, threads, Kernel::detect());
            let err = run(&mut model, &tiny_data(), &spec, 4, how).unwrap_err();
            assert!(
                matches!(err, Error::Diverged { epoch: 1, step: 1 }),
                "{algorithm:?}, {threads} threads: {err}"
            );
        }
    }
}

#[test]
fn a_saved_model_reads_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let model = Mlp::he_normal(
        &[12, 8, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
        3,
    );
    modelfile::save(&model, &path).unwrap();
    let back = modelfile::load(
        &path,
        &[12, 8, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
    )
    .unwrap();
    assert_eq!(back, model);
}

#[test]
fn a_saved_model_has_out_by_in_row_major_weights_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let model = Mlp::he_normal(&[3, 2], Activation::Relu, Output::SoftmaxCrossEntropy, 1);
    modelfile::save(&model, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = file.tensor("layers.0.weight").unwrap();
    assert_eq!(w.shape(), &[2, 3]);
    let second: [u8; 4] = w.data()[4..8].try_into().unwrap();
    assert_eq!(f32::from_le_bytes(second), model.weights[0][(0, 1)]);
}

#[test]
fn loading_a_model_with_other_layer_sizes_names_the_tensor_and_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    modelfile::save(
        &Mlp::he_normal(
            &[12, 8, 10],
            Activation::Relu,
            Output::SoftmaxCrossEntropy,
            3,
        ),
        &path,
    )
    .unwrap();
    let err = modelfile::load(
        &path,
        &[12, 9, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
    )
    .unwrap_err();
    assert!(matches!(err, Error::TensorShape { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "error: {}: tensor \"layers.0.weight\" has shape [8, 12], expected [9, 12]",
            path.display()
        )
    );
}

#[test]
fn he_normal_weights_have_the_expected_spread_and_zero_biases() {
    let model = Mlp::he_normal(
        &[784, 256, 10],
        Activation::Relu,
        Output::SoftmaxCrossEntropy,
        42,
    );
    let w = &model.weights[0];
    let var = w.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / w.len() as f64;
    assert!(
        (var - 2.0 / 784.0).abs() < 0.05 * 2.0 / 784.0,
        "variance {var}"
    );
    assert!(model.biases.iter().all(|b| b.iter().all(|x| *x == 0.0)));
    assert_eq!(
        model,
        Mlp::he_normal(
            &[784, 256, 10],
            Activation::Relu,
            Output::SoftmaxCrossEntropy,
            42
        )
    );
}
