//! The network and its maths: forward and backward passes, batched and per sample.
//!
//! Layout: a sample is a *column*. A mini-batch X is (inputs x B) in nalgebra's column-major
//! storage, which is byte for byte NumPy's row-major (B x inputs) array of the same samples.
//! Weight l is W_l (out x in), bias b_l (out). Notation: A_0 = X, Z_l = W_l A_{l-1} + b_l,
//! A_l = f(Z_l) (hidden activation f, or the output layer), D_l = dCost/dZ_l.

use nalgebra::{DMatrix, DMatrixView, DVector};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::linalg::{gemm, Op};
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

    /// Sets every gradient to zero.
    fn clear(&mut self) {
        self.weights.iter_mut().for_each(|w| w.fill(0.0));
        self.biases.iter_mut().for_each(|b| b.fill(0.0));
    }

    /// Adds `other` element-wise.
    fn add(&mut self, other: &Gradients) {
        for (g, o) in self.weights.iter_mut().zip(&other.weights) {
            *g += o;
        }
        for (g, o) in self.biases.iter_mut().zip(&other.biases) {
            *g += o;
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

/// Adds the bias to one column of Z_l and applies the layer's function in place.
fn bias_activate(z: &mut [f32], bias: &[f32], hidden: Option<Activation>, output: Output) {
    match (hidden, output) {
        // relu(z) = max(0, z)
        (Some(Activation::Relu), _) => {
            for (z, b) in z.iter_mut().zip(bias) {
                *z = (*z + b).max(0.0);
            }
        }
        // leaky_relu(z) = z if z > 0 else alpha z
        (Some(Activation::LeakyRelu(alpha)), _) => {
            for (z, b) in z.iter_mut().zip(bias) {
                let v = *z + b;
                *z = if v > 0.0 { v } else { alpha * v };
            }
        }
        // softmax output: keep the logits z; softmax is taken with the cost (loss_and_delta).
        (None, Output::SoftmaxCrossEntropy) => {
            for (z, b) in z.iter_mut().zip(bias) {
                *z += b;
            }
        }
        // sigmoid(z) = 1 / (1 + e^-z)
        (None, Output::SigmoidMse) => {
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

/// Index of the first maximum of a column (the predicted digit).
fn argmax(col: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in col.iter().enumerate() {
        if *v > col[best] {
            best = i;
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

/// Forward pass of X (inputs x B) into the first B columns of `acts`:
/// A_l = f(W_l A_{l-1} + b_l), one product per layer.
fn forward_into(acts: &mut [DMatrix<f32>], model: &Mlp, x: DMatrixView<f32>, threads: usize) {
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
            &mut out.columns_mut(0, b),
            Op::n(model.weights[l].as_view()),
            Op::n(input),
            1.0,
            false,
            threads,
        );
        let hidden = (l < last).then_some(model.hidden);
        let rows = out.nrows();
        for col in out.as_mut_slice()[..rows * b].chunks_exact_mut(rows) {
            bias_activate(col, model.biases[l].as_slice(), hidden, model.output);
        }
    }
}

/// Activations and deltas for up to `capacity` samples at once, plus averaged gradients.
pub struct BatchWorkspace {
    /// A_l for l = 1..L, (out_l x capacity); the last holds logits or sigmoid outputs.
    pub acts: Vec<DMatrix<f32>>,
    /// D_l, (out_l x capacity).
    pub deltas: Vec<DMatrix<f32>>,
    /// Gradients averaged over the last batch.
    pub grads: Gradients,
    capacity: usize,
}

impl BatchWorkspace {
    /// Preallocates every buffer for batches of up to `capacity` samples.
    pub fn new(model: &Mlp, capacity: usize) -> Self {
        BatchWorkspace {
            acts: layer_buffers(model, capacity),
            deltas: layer_buffers(model, capacity),
            grads: Gradients::zeros(model),
            capacity,
        }
    }

    /// Forward pass of a batch X (inputs x B): A_l = f(W_l A_{l-1} + b_l), one product per layer.
    pub fn forward(&mut self, model: &Mlp, x: DMatrixView<f32>, threads: usize) {
        assert!(
            x.ncols() <= self.capacity,
            "batch larger than the workspace"
        );
        forward_into(&mut self.acts, model, x, threads);
    }

    /// Forward and backward pass of a batch; returns the summed per-sample cost (f64).
    ///
    /// D_L from the cost; D_{l-1} = (W_l^T D_l) * f'(Z_{l-1}); dW_l = D_l A_{l-1}^T / B;
    /// db_l = sum over the batch of D_l / B. D_0 (the input's delta) is never needed.
    /// With `lr = None` the averaged gradients are left in `grads` and the model is unchanged;
    /// with `Some(lr)` the SGD update W_l -= lr dW_l is fused into the product
    /// (W_l += (-lr / B) D_l A_{l-1}^T, after D_{l-1} has used the old W_l), and
    /// b_l -= lr db_l.
    pub fn step(
        &mut self,
        model: &mut Mlp,
        x: DMatrixView<f32>,
        labels: &[u8],
        lr: Option<f32>,
        threads: usize,
    ) -> f64 {
        let b = x.ncols();
        self.forward(model, x, threads);
        let last = model.weights.len() - 1;
        let rows = self.acts[last].nrows();
        let outs = self.acts[last].as_slice()[..rows * b].chunks_exact(rows);
        let deltas = self.deltas[last].as_mut_slice()[..rows * b].chunks_exact_mut(rows);
        let mut loss = 0.0f64;
        for ((out, delta), &label) in outs.zip(deltas).zip(labels) {
            loss += f64::from(loss_and_delta(model.output, out, label, delta));
        }
        let inv_b = 1.0 / b as f32;
        for l in (0..=last).rev() {
            let input = if l == 0 {
                x
            } else {
                self.acts[l - 1].columns(0, b)
            };
            let (lower, upper) = self.deltas.split_at_mut(l);
            let delta = upper[0].columns(0, b);
            if l > 0 {
                let below = &mut lower[l - 1];
                gemm(
                    &mut below.columns_mut(0, b),
                    Op::t(model.weights[l].as_view()),
                    Op::n(delta),
                    1.0,
                    false,
                    threads,
                );
                let n = below.nrows() * b;
                times_derivative(
                    &mut below.as_mut_slice()[..n],
                    &self.acts[l - 1].as_slice()[..n],
                    model.hidden,
                );
            }
            let db = &mut self.grads.biases[l];
            db.fill(0.0);
            for col in delta.column_iter() {
                *db += col;
            }
            match lr {
                None => {
                    *db *= inv_b;
                    gemm(
                        &mut self.grads.weights[l].as_view_mut(),
                        Op::n(delta),
                        Op::t(input),
                        inv_b,
                        false,
                        threads,
                    );
                }
                Some(lr) => {
                    model.biases[l].axpy(-lr * inv_b, db, 1.0);
                    gemm(
                        &mut model.weights[l].as_view_mut(),
                        Op::n(delta),
                        Op::t(input),
                        -lr * inv_b,
                        true,
                        threads,
                    );
                }
            }
        }
        loss
    }

    /// Number of samples whose first maximal output is their label, in chunks of `capacity`.
    pub fn count_correct(
        &mut self,
        model: &Mlp,
        images: &DMatrix<f32>,
        labels: &[u8],
        threads: usize,
    ) -> usize {
        let mut correct = 0;
        let mut start = 0;
        while start < labels.len() {
            let b = self.capacity.min(labels.len() - start);
            self.forward(model, images.columns(start, b), threads);
            let out = &self.acts[self.acts.len() - 1];
            let rows = out.nrows();
            correct += out.as_slice()[..rows * b]
                .chunks_exact(rows)
                .zip(&labels[start..start + b])
                .filter(|(col, &label)| argmax(col) == usize::from(label))
                .count();
            start += b;
        }
        correct
    }
}

/// Buffers for one sample at a time (each a one-column matrix), plus summed gradients.
pub struct SampleWorkspace {
    acts: Vec<DMatrix<f32>>,
    deltas: Vec<DMatrix<f32>>,
    /// Gradients summed over the samples seen since the last clear.
    pub grads: Gradients,
}

impl SampleWorkspace {
    /// Preallocates the per-sample buffers.
    pub fn new(model: &Mlp) -> Self {
        SampleWorkspace {
            acts: layer_buffers(model, 1),
            deltas: layer_buffers(model, 1),
            grads: Gradients::zeros(model),
        }
    }

    /// Forward and backward pass of one sample x (inputs x 1); adds its gradients to `grads`
    /// (dW_l += D_l a_{l-1}^T, db_l += D_l) and returns its cost.
    pub fn accumulate(&mut self, model: &Mlp, x: DMatrixView<f32>, label: u8) -> f32 {
        let last = model.weights.len() - 1;
        forward_into(&mut self.acts, model, x, 1);
        let loss = loss_and_delta(
            model.output,
            self.acts[last].as_slice(),
            label,
            self.deltas[last].as_mut_slice(),
        );
        for l in (0..=last).rev() {
            let input = if l == 0 {
                x
            } else {
                self.acts[l - 1].as_view()
            };
            let (lower, upper) = self.deltas.split_at_mut(l);
            let delta = &upper[0];
            gemm(
                &mut self.grads.weights[l].as_view_mut(),
                Op::n(delta.as_view()),
                Op::t(input),
                1.0,
                true,
                1,
            );
            self.grads.biases[l] += delta.column(0);
            if l > 0 {
                let below = &mut lower[l - 1];
                gemm(
                    &mut below.as_view_mut(),
                    Op::t(model.weights[l].as_view()),
                    Op::n(delta.as_view()),
                    1.0,
                    false,
                    1,
                );
                times_derivative(
                    below.as_mut_slice(),
                    self.acts[l - 1].as_slice(),
                    model.hidden,
                );
            }
        }
        loss
    }
}

/// Per-sample gradients of a batch summed into `workers[0].grads`; the batch is split into
/// one contiguous chunk per worker (run on the current rayon pool), whose sums are added in
/// chunk order. Returns the summed cost.
pub fn per_sample_gradients(
    model: &Mlp,
    x: DMatrixView<f32>,
    labels: &[u8],
    workers: &mut [SampleWorkspace],
) -> f64 {
    let chunk = labels.len().div_ceil(workers.len());
    let run = |(i, ws): (usize, &mut SampleWorkspace)| {
        ws.grads.clear();
        let start = (i * chunk).min(labels.len());
        let end = ((i + 1) * chunk).min(labels.len());
        (start..end)
            .map(|j| f64::from(ws.accumulate(model, x.columns(j, 1), labels[j])))
            .sum::<f64>()
    };
    let losses: Vec<f64> = if workers.len() == 1 {
        workers.iter_mut().enumerate().map(run).collect()
    } else {
        workers.par_iter_mut().enumerate().map(run).collect()
    };
    if let Some((first, rest)) = workers.split_first_mut() {
        for other in rest.iter() {
            first.grads.add(&other.grads);
        }
    }
    losses.iter().sum()
}
