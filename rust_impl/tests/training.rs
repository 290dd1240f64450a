//! The training loop and model files, through the library.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use nalgebra::DMatrix;

use mlp::data::{Dataset, Split};
use mlp::error::Error;
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Activation, Init, Output, Spec};
use mlp::train::{train, Algorithm, Options, Status};

/// A small deterministic dataset: 23 samples of 12 inputs (last batch of 5 is smaller).
fn tiny_data() -> Dataset {
    let split = |n: usize, salt: usize| Split {
        images: DMatrix::from_fn(12, n, |i, j| ((i * 7 + j * 13 + salt) % 17) as f32 / 17.0),
        labels: (0..n).map(|j| ((j * 3 + salt) % 10) as u8).collect(),
    };
    Dataset {
        train: split(23, 0),
        test: split(9, 5),
        rows: 3,
        cols: 4,
    }
}

/// A spec for `tiny_data` with a leaky-ReLU 12-8-10 network.
fn tiny_spec(output: Output) -> Spec {
    Spec {
        path: PathBuf::from("tiny.json"),
        sha256: String::new(),
        dataset_name: "tiny".into(),
        dataset_dir: PathBuf::from("."),
        layers: vec![12, 8, 10],
        hidden: Activation::LeakyRelu(0.1),
        output,
        init: Init::HeNormal { seed: 7 },
        learning_rate: 0.5,
        batch_size: 5,
        max_epochs: 3,
        target_accuracy: 1.0,
    }
}

/// Trains a fresh model for `steps` steps and returns it.
fn trained(algorithm: Algorithm, threads: usize, steps: usize, output: Output) -> Mlp {
    let spec = tiny_spec(output);
    let mut model = Mlp::he_normal(&spec.layers, spec.hidden, spec.output, 7);
    let opts = Options {
        algorithm,
        threads,
        max_steps: Some(steps),
    };
    let mut metrics = Metrics::open(None).unwrap();
    let status = train(
        &mut model,
        &tiny_data(),
        &spec,
        opts,
        &mut metrics,
        Instant::now(),
    )
    .unwrap();
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
fn two_threads_give_the_same_weights_as_one_for_both_algorithms() {
    for algorithm in [Algorithm::Batched, Algorithm::PerSample] {
        let one = trained(algorithm, 1, 6, Output::SoftmaxCrossEntropy);
        let two = trained(algorithm, 2, 6, Output::SoftmaxCrossEntropy);
        assert!(
            max_difference(&one, &two) < 1e-5,
            "{algorithm:?}: 1 and 2 threads differ"
        );
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
