//! The shared test vectors (tests/vectors/*.json, also read by pytest) and finite differences.

mod common;

use common::{assert_close, floats, matrix, model, row_major, tolerance, vector};
use nalgebra::DMatrix;

use mlp::model::{loss_and_delta, BatchWorkspace, Mlp};
use mlp::spec::{Activation, Output};

#[test]
fn the_hand_computed_3_2_3_example_gives_the_published_activations_deltas_and_gradients() {
    let case = vector("hand_computed_3_2_3.json");
    let tol = case["tolerance"].as_f64().unwrap();
    let alpha = case["hidden_activation"]["alpha"].as_f64().unwrap() as f32;
    assert_eq!(case["output"], "sigmoid_mse");
    let mut net = model(&case, Activation::LeakyRelu(alpha), Output::SigmoidMse);
    let x = DMatrix::from_column_slice(3, 1, &floats(&case["input"]));
    let target = floats(&case["target"]);
    let label = target.iter().position(|&t| t == 1.0).unwrap() as u8;
    let mut ws = BatchWorkspace::new(&net, 1);
    ws.step(&mut net, x.as_view(), &[label], None, 1);
    let expected = &case["expected"];
    for l in 0..2 {
        assert_close(
            &format!("activations[{l}]"),
            ws.acts[l].as_slice(),
            &floats(&expected["activations"][l]),
            tol,
            0.0,
        );
        assert_close(
            &format!("deltas[{l}]"),
            ws.deltas[l].as_slice(),
            &floats(&expected["deltas"][l]),
            tol,
            0.0,
        );
        let dw = matrix(&expected["weight_gradients"][l]);
        assert_close(
            &format!("weight_gradients[{l}]"),
            &row_major(&ws.grads.weights[l]),
            &row_major(&dw),
            tol,
            0.0,
        );
        assert_close(
            &format!("bias_gradients[{l}]"),
            ws.grads.biases[l].as_slice(),
            &floats(&expected["bias_gradients"][l]),
            tol,
            0.0,
        );
    }
}

#[test]
fn softmax_cross_entropy_matches_the_stored_loss_and_logit_gradients() {
    let file = vector("softmax_cross_entropy.json");
    let (abs, rel) = tolerance(&file);
    for case in file["logits_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let logits = case["logits"].as_array().unwrap();
        let labels = case["labels"].as_array().unwrap();
        let b = logits.len() as f32;
        let mut loss = 0.0f64;
        for (i, (z, y)) in logits.iter().zip(labels).enumerate() {
            let z = floats(z);
            let mut delta = vec![0.0; z.len()];
            loss += f64::from(loss_and_delta(
                Output::SoftmaxCrossEntropy,
                &z,
                y.as_u64().unwrap() as u8,
                &mut delta,
            ));
            let grad: Vec<f32> = delta.iter().map(|d| d / b).collect();
            assert_close(
                &format!("{name}: grad[{i}]"),
                &grad,
                &floats(&case["expected_grad_logits"][i]),
                abs,
                rel,
            );
        }
        let mean = (loss / f64::from(b)) as f32;
        assert_close(
            &format!("{name}: loss"),
            &[mean],
            &[case["expected_loss"].as_f64().unwrap() as f32],
            abs,
            rel,
        );
    }
}

/// The network case of the softmax file: model, inputs (one column per sample) and labels.
fn network_case() -> (serde_json::Value, Mlp, DMatrix<f32>, Vec<u8>) {
    let file = vector("softmax_cross_entropy.json");
    let case = file["network_cases"][0].clone();
    assert_eq!(case["hidden_activation"]["kind"], "relu");
    let net = model(&case, Activation::Relu, Output::SoftmaxCrossEntropy);
    let x = matrix(&case["inputs"]).transpose();
    let labels = case["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y.as_u64().unwrap() as u8)
        .collect();
    (file, net, x, labels)
}

#[test]
fn the_relu_network_case_gives_the_stored_mean_loss_and_parameter_gradients() {
    let (file, mut net, x, labels) = network_case();
    let (abs, rel) = tolerance(&file);
    let case = &file["network_cases"][0];
    let mut ws = BatchWorkspace::new(&net, labels.len());
    let loss = ws.step(&mut net, x.as_view(), &labels, None, 1) / labels.len() as f64;
    assert_close(
        "loss",
        &[loss as f32],
        &[case["expected_loss"].as_f64().unwrap() as f32],
        abs,
        rel,
    );
    for l in 0..2 {
        let dw = matrix(&case["expected_weight_gradients"][l]);
        assert_close(
            &format!("dW[{l}]"),
            &row_major(&ws.grads.weights[l]),
            &row_major(&dw),
            abs,
            rel,
        );
        assert_close(
            &format!("db[{l}]"),
            ws.grads.biases[l].as_slice(),
            &floats(&case["expected_bias_gradients"][l]),
            abs,
            rel,
        );
    }
}

/// Mean cost of the batch for the given model.
fn mean_loss(net: &Mlp, x: &DMatrix<f32>, labels: &[u8]) -> f64 {
    let mut copy = net.clone();
    BatchWorkspace::new(net, labels.len()).step(&mut copy, x.as_view(), labels, None, 1)
        / labels.len() as f64
}

#[test]
fn softmax_cross_entropy_weight_gradients_agree_with_central_finite_differences() {
    let (_, mut net, x, labels) = network_case();
    let mut ws = BatchWorkspace::new(&net, labels.len());
    ws.step(&mut net, x.as_view(), &labels, None, 1);
    let h = 1e-3f32;
    for l in 0..net.weights.len() {
        for idx in 0..net.weights[l].len() {
            let mut plus = net.clone();
            plus.weights[l][idx] += h;
            let mut minus = net.clone();
            minus.weights[l][idx] -= h;
            let fd = (mean_loss(&plus, &x, &labels) - mean_loss(&minus, &x, &labels))
                / (2.0 * f64::from(h));
            let analytic = f64::from(ws.grads.weights[l][idx]);
            assert!(
                (fd - analytic).abs() < 2e-3,
                "W{l}[{idx}]: finite difference {fd}, analytic {analytic}"
            );
        }
    }
}

#[test]
fn softmax_logit_gradients_agree_with_finite_differences_on_random_like_logits() {
    let z = [0.3f32, -1.2, 2.5, 0.0, 1.1];
    let mut delta = [0.0f32; 5];
    loss_and_delta(Output::SoftmaxCrossEntropy, &z, 2, &mut delta);
    let h = 1e-2f32;
    let mut scratch = [0.0f32; 5];
    for j in 0..z.len() {
        let (mut up, mut down) = (z, z);
        up[j] += h;
        down[j] -= h;
        let fd = (loss_and_delta(Output::SoftmaxCrossEntropy, &up, 2, &mut scratch)
            - loss_and_delta(Output::SoftmaxCrossEntropy, &down, 2, &mut scratch))
            / (2.0 * h);
        assert!(
            (fd - delta[j]).abs() < 1e-3,
            "logit {j}: finite difference {fd}, analytic {}",
            delta[j]
        );
    }
}
