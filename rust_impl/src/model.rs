//! The network and its maths: parameters, the fused element-wise passes and the forward pass;
//! the batched and per-sample gradients live in the submodules.
//!
//! Layout: a sample is a *column*. A mini-batch X is (inputs x B) in nalgebra's column-major
//! storage, which is byte for byte NumPy's row-major (B x inputs) array of the same samples.
//! Weight l is W_l (out x in), bias b_l (out). Notation: A_0 = X, Z_l = W_l A_{l-1} + b_l,
//! A_l = f(Z_l) (hidden activation f, or the output layer), D_l = dCost/dZ_l.

mod batch;
mod sample;

pub use batch::{BatchWorkspace, DataParallel, Evaluator};
pub use sample::{per_sample_gradients, SampleWorkspace};

use nalgebra::{DMatrix, DMatrixView, DVector};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::linalg::{gemm, Kernel, Op};
use crate::spec::{Activation, Output};

/// A multilayer perceptron.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// W_l, (out x in).
    pub weights: Vec<DMatrix<f32>>,
    /// b_l, (out).
    pub biases: Vec<DVector<f32>>,
    /// Activation of every layer but the last.
    pub hidden: Activation,
    /// Output layer and cost.
    pub output: Output,
}

/// Gradients (or their sums) with the shapes of a model's parameters.
#[derive(Clone, Debug)]
pub struct Gradients {
    /// dCost/dW_l.
    pub weights: Vec<DMatrix<f32>>,
    /// dCost/db_l.
    pub biases: Vec<DVector<f32>>,
}

impl Gradients {
    /// Zero gradients shaped like `model`.
    pub fn zeros(model: &Mlp) -> Self {
        Gradients {
            weights: model
                .weights
                .iter()
                .map(|w| DMatrix::zeros(w.nrows(), w.ncols()))
                .collect(),
            biases: model
                .biases
                .iter()
                .map(|b| DVector::zeros(b.len()))
                .collect(),
        }
    }
}

impl Mlp {
    /// He-normal weights W ~ N(0, 2 / in) drawn row by row from a seeded generator, zero biases.
    pub fn he_normal(layers: &[usize], hidden: Activation, output: Output, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for pair in layers.windows(2) {
            let (inputs, outputs) = (pair[0], pair[1]);
            let scale = (2.0 / inputs as f64).sqrt() as f32;
            let values: Vec<f32> = (0..outputs * inputs)
                .map(|_| {
                    let z: f32 = StandardNormal.sample(&mut rng);
                    z * scale
                })
                .collect();
            weights.push(DMatrix::from_row_slice(outputs, inputs, &values));
            biases.push(DVector::zeros(outputs));
        }
        Mlp {
            weights,
            biases,
            hidden,
            output,
        }
    }

    /// The SGD update W_l -= step * dW_l, b_l -= step * db_l.
    pub fn apply(&mut self, grads: &Gradients, step: f32) {
        for (w, g) in self.weights.iter_mut().zip(&grads.weights) {
            w.zip_apply(g, |w, g| *w -= step * g);
        }
        for (b, g) in self.biases.iter_mut().zip(&grads.biases) {
            b.zip_apply(g, |b, g| *b -= step * g);
        }
    }
}

/// Adds the bias to one column of a hidden Z_l and applies the activation, in one sweep.
///
/// relu(z) = max(z, 0) written as a select on `v < 0`, so that NaN propagates as it does in
/// NumPy's `np.maximum` (f32::max would turn NaN into 0 and hide a diverged model);
/// leaky_relu(z) = z if z > 0 else alpha z (NaN stays NaN either way).
fn bias_activate(z: &mut [f32], bias: &[f32], hidden: Activation) {
    match hidden {
        Activation::Relu => {
            for (z, b) in z.iter_mut().zip(bias) {
                let v = *z + b;
                *z = if v < 0.0 { 0.0 } else { v };
            }
        }
        Activation::LeakyRelu(alpha) => {
            for (z, b) in z.iter_mut().zip(bias) {
                let v = *z + b;
                *z = if v > 0.0 { v } else { alpha * v };
            }
        }
    }
}

/// Adds the bias to one output column and applies the output layer: the logits z stay (softmax
/// is taken with the cost, in [`loss_and_delta`]); sigmoid_mse gives a = 1 / (1 + e^-z).
fn bias_output(z: &mut [f32], bias: &[f32], output: Output) {
    match output {
        Output::SoftmaxCrossEntropy => {
            for (z, b) in z.iter_mut().zip(bias) {
                *z += b;
            }
        }
        Output::SigmoidMse => {
            for (z, b) in z.iter_mut().zip(bias) {
                *z = 1.0 / (1.0 + (-(*z + b)).exp());
            }
        }
    }
}

/// D_{l-1} *= f'(Z_{l-1}), with f' read from A_{l-1} (z > 0 exactly when a > 0, as alpha >= 0).
fn times_derivative(delta: &mut [f32], act: &[f32], hidden: Activation) {
    let slope = match hidden {
        Activation::Relu => 0.0,
        Activation::LeakyRelu(alpha) => alpha,
    };
    for (d, a) in delta.iter_mut().zip(act) {
        // A select rather than a branch, so the loop vectorizes.
        *d *= if *a > 0.0 { 1.0 } else { slope };
    }
}

/// One sample's cost and output delta D_L = dCost/dZ_L, from the output column (logits for
/// softmax, sigmoid activations for sigmoid_mse).
///
/// softmax_cross_entropy: p = softmax(z) with m = max(z) subtracted,
/// cost = log(sum_j e^(z_j - m)) - (z_y - m) = -log p_y, delta = p - onehot(y).
///
/// sigmoid_mse: cost = sum_j (a_j - y_j)^2, delta = 2 (a - y) a (1 - a).
pub fn loss_and_delta(output: Output, out: &[f32], label: u8, delta: &mut [f32]) -> f32 {
    let y = usize::from(label);
    match output {
        Output::SoftmaxCrossEntropy => {
            let m = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for (d, z) in delta.iter_mut().zip(out) {
                *d = (z - m).exp();
                sum += *d;
            }
            for d in delta.iter_mut() {
                *d /= sum;
            }
            delta[y] -= 1.0;
            sum.ln() - (out[y] - m)
        }
        Output::SigmoidMse => {
            let mut cost = 0.0f32;
            for (j, (d, a)) in delta.iter_mut().zip(out).enumerate() {
                let diff = a - if j == y { 1.0 } else { 0.0 };
                cost += diff * diff;
                *d = 2.0 * diff * a * (1.0 - a);
            }
            cost
        }
    }
}

/// Index of the first maximum of z + bias (the predicted digit), without writing z + bias.
fn argmax_biased(z: &[f32], bias: &[f32]) -> usize {
    let mut best = 0;
    let mut top = f32::NEG_INFINITY;
    for (i, (z, b)) in z.iter().zip(bias).enumerate() {
        let v = z + b;
        if v > top || i == 0 {
            best = i;
            top = v;
        }
    }
    best
}

/// One (out_l x `cols`) zero matrix per layer.
fn layer_buffers(model: &Mlp, cols: usize) -> Vec<DMatrix<f32>> {
    model
        .weights
        .iter()
        .map(|w| DMatrix::zeros(w.nrows(), cols))
        .collect()
}

/// Forward pass of X (inputs x B) into the first B columns of `acts`, up to the output layer's
/// product: A_l = f(W_l A_{l-1} + b_l) for the hidden layers (product, then one fused
/// bias + activation sweep), and W_L A_{L-1} without its bias, which the caller adds in its own
/// fused sweep (output function, cost and delta when training; argmax when scoring).
fn forward_products(
    acts: &mut [DMatrix<f32>],
    model: &Mlp,
    x: DMatrixView<f32>,
    kernel: Kernel,
    threads: usize,
) {
    let b = x.ncols();
    let last = model.weights.len() - 1;
    for l in 0..=last {
        let (before, rest) = acts.split_at_mut(l);
        let input = if l == 0 {
            x
        } else {
            before[l - 1].columns(0, b)
        };
        let out = &mut rest[0];
        gemm(
            kernel,
            &mut out.columns_mut(0, b),
            Op::n(model.weights[l].as_view()),
            Op::n(input),
            1.0,
            false,
            threads,
        );
        if l < last {
            let rows = out.nrows();
            for col in out.as_mut_slice()[..rows * b].chunks_exact_mut(rows) {
                bias_activate(col, model.biases[l].as_slice(), model.hidden);
            }
        }
    }
}
