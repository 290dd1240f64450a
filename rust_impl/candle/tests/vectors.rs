//! The shared test vectors (tests/vectors/*.json, also read by pytest and the `mlp` crate's
//! tests) against the candle network: z_L, losses and gradients from candle's autograd.

use candle_core::{Device, Tensor, Var};
use serde_json::Value;

use mlp::spec::{Activation, Output};
use mlp_candle::net::Net;

#[path = "../../tests/support/vectors.rs"]
mod shared;

use shared::{floats, tolerance, vector};

/// A JSON list of lists as a (rows, cols) tensor.
fn matrix(v: &Value) -> Tensor {
    let rows = v.as_array().expect("a list").len();
    let flat = floats(v);
    Tensor::from_vec(flat.clone(), (rows, flat.len() / rows), &Device::Cpu).unwrap()
}

/// The labels of a case as a u32 tensor.
fn labels(v: &Value) -> Tensor {
    let ys: Vec<u32> = v
        .as_array()
        .expect("labels")
        .iter()
        .map(|y| y.as_u64().unwrap() as u32)
        .collect();
    Tensor::new(ys.as_slice(), &Device::Cpu).unwrap()
}

/// A network holding the case's (out, in) weights and biases.
fn net(case: &Value, hidden: Activation, output: Output) -> Net {
    let sizes: Vec<usize> = case["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap() as usize)
        .collect();
    let mut net = Net::new(&sizes, hidden, output).unwrap();
    for i in 0..sizes.len() - 1 {
        let w = matrix(&case["weights"][i]);
        net.varmap.set_one(format!("layers.{i}.weight"), w).unwrap();
        let b = Tensor::new(floats(&case["biases"][i]).as_slice(), &Device::Cpu).unwrap();
        net.varmap.set_one(format!("layers.{i}.bias"), b).unwrap();
    }
    net
}

/// The variable of the model-file tensor `name`.
fn var(net: &Net, name: &str) -> Var {
    net.varmap.data().lock().unwrap()[name].clone()
}

/// Asserts |actual - expected| <= abs + rel * |expected| element-wise, on a tensor's elements.
fn assert_close(what: &str, actual: &Tensor, expected: &[f32], abs: f64, rel: f64) {
    let actual = actual.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    shared::assert_close(what, &actual, expected, abs, rel);
}

#[test]
fn the_hand_computed_3_2_3_example_gives_the_published_output_and_gradients() {
    let case = vector("hand_computed_3_2_3.json");
    let tol = case["tolerance"].as_f64().unwrap();
    let alpha = case["hidden_activation"]["alpha"].as_f64().unwrap() as f32;
    assert_eq!(case["output"], "sigmoid_mse");
    let net = net(&case, Activation::LeakyRelu(alpha), Output::SigmoidMse);
    let x = Tensor::from_vec(floats(&case["input"]), (1, 3), &Device::Cpu).unwrap();
    let target = floats(&case["target"]);
    let label = target.iter().position(|&t| t == 1.0).unwrap() as u32;
    let z = net.forward(&x).unwrap();
    let expected = &case["expected"];
    assert_close(
        "z_L",
        &z,
        &floats(&expected["pre_activations"][1]),
        tol,
        0.0,
    );
    let y = Tensor::new(&[label], &Device::Cpu).unwrap();
    let grads = net
        .losses(&z, &y)
        .unwrap()
        .mean(0)
        .unwrap()
        .backward()
        .unwrap();
    for l in 0..2 {
        for (kind, key) in [("weight", "weight_gradients"), ("bias", "bias_gradients")] {
            let name = format!("layers.{l}.{kind}");
            let g = grads.get(&var(&net, &name)).unwrap();
            assert_close(&name, g, &floats(&expected[key][l]), tol, 0.0);
        }
    }
}

#[test]
fn softmax_cross_entropy_matches_the_stored_loss_and_logit_gradients() {
    let file = vector("softmax_cross_entropy.json");
    let (abs, rel) = tolerance(&file);
    // The loss needs no weights: a 1-layer net of the right width is only its loss function.
    for case in file["logits_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let logits = Var::from_tensor(&matrix(&case["logits"])).unwrap();
        let classes = logits.dim(1).unwrap();
        let net = Net::new(
            &[classes, classes],
            Activation::Relu,
            Output::SoftmaxCrossEntropy,
        )
        .unwrap();
        let loss = net
            .losses(&logits, &labels(&case["labels"]))
            .unwrap()
            .mean(0)
            .unwrap();
        let expected_loss = case["expected_loss"].as_f64().unwrap() as f32;
        assert_close(&format!("{name}: loss"), &loss, &[expected_loss], abs, rel);
        let grads = loss.backward().unwrap();
        assert_close(
            &format!("{name}: grad"),
            grads.get(&logits).unwrap(),
            &floats(&case["expected_grad_logits"]),
            abs,
            rel,
        );
    }
}

#[test]
fn the_relu_network_case_gives_the_stored_mean_loss_and_parameter_gradients() {
    let file = vector("softmax_cross_entropy.json");
    let (abs, rel) = tolerance(&file);
    let case = &file["network_cases"][0];
    assert_eq!(case["hidden_activation"]["kind"], "relu");
    let net = net(case, Activation::Relu, Output::SoftmaxCrossEntropy);
    let z = net.forward(&matrix(&case["inputs"])).unwrap();
    let loss = net
        .losses(&z, &labels(&case["labels"]))
        .unwrap()
        .mean(0)
        .unwrap();
    let expected_loss = case["expected_loss"].as_f64().unwrap() as f32;
    assert_close("loss", &loss, &[expected_loss], abs, rel);
    let grads = loss.backward().unwrap();
    for l in 0..2 {
        for (kind, key) in [
            ("weight", "expected_weight_gradients"),
            ("bias", "expected_bias_gradients"),
        ] {
            let name = format!("layers.{l}.{kind}");
            let g = grads.get(&var(&net, &name)).unwrap();
            assert_close(&name, g, &floats(&case[key][l]), abs, rel);
        }
    }
}

#[test]
fn relu_passes_no_gradient_at_zero_and_leaky_relu_passes_alpha() {
    // CONTRACT.md: f'(z) = 1 if z > 0 else alpha (0 for relu), also at z = 0 exactly.
    // A 1-1-1 network with w0 = 1, b0 = 0 and input 0 puts the hidden unit at z = 0.
    let case = serde_json::json!({"layers": [1, 1, 1], "weights": [[[1.0]], [[1.0]]],
                                  "biases": [[0.0], [0.0]]});
    for (hidden, expected) in [
        (Activation::Relu, 0.0f32),
        (Activation::LeakyRelu(0.25), 0.25),
    ] {
        let net = net(&case, hidden, Output::SigmoidMse);
        let x = Tensor::zeros((1, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32], &Device::Cpu).unwrap();
        let z = net.forward(&x).unwrap();
        let loss = net.losses(&z, &y).unwrap().mean(0).unwrap();
        let grads = loss.backward().unwrap();
        // dL/db0 = f'(0) * w1 * dL/dz1 with w1 = 1, and dL/dz1 = 2(a - 1) a (1 - a) at a = 1/2.
        let g = grads.get(&var(&net, "layers.0.bias")).unwrap();
        assert_close("db0", g, &[expected * -0.25], 1e-7, 0.0);
    }
}
