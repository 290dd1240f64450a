//! Batched gradients: one product per layer per slice of samples, and the data-parallel step
//! that splits a mini-batch into one contiguous slice per thread.

use nalgebra::{DMatrix, DMatrixView};
use rayon::prelude::*;

use super::{
    argmax_biased, bias_output, forward_products, layer_buffers, loss_and_delta, times_derivative,
    Gradients, Mlp,
};
use crate::linalg::{gemm, Kernel, Op};

/// Activations and deltas for up to `capacity` samples at once, plus gradients.
pub struct BatchWorkspace {
    /// A_l for l = 1..L, (out_l x capacity); the last holds logits or sigmoid outputs.
    pub acts: Vec<DMatrix<f32>>,
    /// D_l, (out_l x capacity).
    pub deltas: Vec<DMatrix<f32>>,
    /// Gradients of the last batch: averaged by `step(.., None, ..)`, summed by `gradients`.
    pub grads: Gradients,
    /// The summed cost of the last batch given to `gradients`.
    loss: f64,
    capacity: usize,
    kernel: Kernel,
}

impl BatchWorkspace {
    /// Preallocates every buffer for batches of up to `capacity` samples, with the product
    /// kernel chosen for this CPU.
    pub fn new(model: &Mlp, capacity: usize) -> Self {
        Self::with_kernel(model, capacity, Kernel::detect())
    }

    /// As `new`, with the given product kernel.
    pub fn with_kernel(model: &Mlp, capacity: usize, kernel: Kernel) -> Self {
        BatchWorkspace {
            acts: layer_buffers(model, capacity),
            deltas: layer_buffers(model, capacity),
            grads: Gradients::zeros(model),
            loss: 0.0,
            capacity,
            kernel,
        }
    }

    /// Forward pass of a batch X (inputs x B), the output layer's bias and function and the
    /// cost fused into one sweep over the logits that also writes D_L; returns the summed cost.
    fn forward_loss(
        &mut self,
        model: &Mlp,
        x: DMatrixView<f32>,
        labels: &[u8],
        threads: usize,
    ) -> f64 {
        let b = x.ncols();
        assert!(b <= self.capacity, "batch larger than the workspace");
        forward_products(&mut self.acts, model, x, self.kernel, threads);
        let last = model.weights.len() - 1;
        let rows = model.weights[last].nrows();
        let bias = model.biases[last].as_slice();
        let outs = self.acts[last].as_mut_slice()[..rows * b].chunks_exact_mut(rows);
        let deltas = self.deltas[last].as_mut_slice()[..rows * b].chunks_exact_mut(rows);
        let mut loss = 0.0f64;
        for ((out, delta), &label) in outs.zip(deltas).zip(labels) {
            bias_output(out, bias, model.output);
            loss += f64::from(loss_and_delta(model.output, out, label, delta));
        }
        loss
    }

    /// From D_l: D_{l-1} = (W_l^T D_l) * f'(Z_{l-1}) (for l > 0) and db_l = `scale` times the
    /// sum of D_l's columns (into `grads.biases[l]`).
    fn propagate(&mut self, model: &Mlp, l: usize, b: usize, scale: f32, threads: usize) {
        let (lower, upper) = self.deltas.split_at_mut(l);
        let delta = upper[0].columns(0, b);
        if l > 0 {
            let below = &mut lower[l - 1];
            gemm(
                self.kernel,
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
        *db *= scale;
    }

    /// dW_l = `scale` D_l A_{l-1}^T into `grads.weights[l]` (A_0 = x).
    fn weight_gradient(&mut self, l: usize, x: DMatrixView<f32>, scale: f32, threads: usize) {
        let b = x.ncols();
        let input = if l == 0 {
            x
        } else {
            self.acts[l - 1].columns(0, b)
        };
        gemm(
            self.kernel,
            &mut self.grads.weights[l].as_view_mut(),
            Op::n(self.deltas[l].columns(0, b)),
            Op::t(input),
            scale,
            false,
            threads,
        );
    }

    /// Forward and backward pass of a batch; returns the summed per-sample cost (f64).
    ///
    /// D_L from the cost; D_{l-1} = (W_l^T D_l) * f'(Z_{l-1}); dW_l = D_l A_{l-1}^T / B;
    /// db_l = sum over the batch of D_l / B. D_0 (the input's delta) is never needed.
    /// With `lr = None` the averaged gradients are left in `grads` and the model is unchanged;
    /// with `Some(lr)` the SGD update W_l -= lr dW_l is fused into the product
    /// (W_l += (-lr / B) D_l A_{l-1}^T, after D_{l-1} has used the old W_l), and
    /// b_l -= lr db_l. `threads` > 1 splits each product over the current rayon pool.
    pub fn step(
        &mut self,
        model: &mut Mlp,
        x: DMatrixView<f32>,
        labels: &[u8],
        lr: Option<f32>,
        threads: usize,
    ) -> f64 {
        let b = x.ncols();
        let loss = self.forward_loss(model, x, labels, threads);
        let inv_b = 1.0 / b as f32;
        for l in (0..model.weights.len()).rev() {
            self.propagate(model, l, b, 1.0, threads);
            match lr {
                None => {
                    self.grads.biases[l] *= inv_b;
                    self.weight_gradient(l, x, inv_b, threads);
                }
                Some(lr) => {
                    model.biases[l].axpy(-lr * inv_b, &self.grads.biases[l], 1.0);
                    let input = if l == 0 {
                        x
                    } else {
                        self.acts[l - 1].columns(0, b)
                    };
                    gemm(
                        self.kernel,
                        &mut model.weights[l].as_view_mut(),
                        Op::n(self.deltas[l].columns(0, b)),
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

    /// Forward and backward pass of one slice of a batch on this thread: leaves the summed
    /// gradients sum_i dCost_i/dW_l and sum_i dCost_i/db_l in `grads`, the summed cost in `loss`.
    fn gradients(&mut self, model: &Mlp, x: DMatrixView<f32>, labels: &[u8]) {
        self.loss = self.forward_loss(model, x, labels, 1);
        for l in (0..model.weights.len()).rev() {
            self.propagate(model, l, x.ncols(), 1.0, 1);
            self.weight_gradient(l, x, 1.0, 1);
        }
    }

    /// Samples whose first maximal output is their label, in chunks of `capacity`, on this
    /// thread; the output layer's bias is fused into the argmax.
    fn count_correct(&mut self, model: &Mlp, images: DMatrixView<f32>, labels: &[u8]) -> usize {
        let last = model.weights.len() - 1;
        let rows = model.weights[last].nrows();
        let bias = model.biases[last].as_slice();
        let mut correct = 0;
        for start in (0..labels.len()).step_by(self.capacity) {
            let b = self.capacity.min(labels.len() - start);
            forward_products(
                &mut self.acts,
                model,
                images.columns(start, b),
                self.kernel,
                1,
            );
            correct += self.acts[last].as_slice()[..rows * b]
                .chunks_exact(rows)
                .zip(&labels[start..start + b])
                .filter(|(z, &label)| argmax_biased(z, bias) == usize::from(label))
                .count();
        }
        correct
    }
}

/// The first sample and the count of slice `i` when `n` samples are split into `parts`
/// contiguous slices, the first `n % parts` one sample longer.
fn slice_of(i: usize, n: usize, parts: usize) -> (usize, usize) {
    let (base, extra) = (n / parts, n % parts);
    (i * base + i.min(extra), base + usize::from(i < extra))
}

/// SGD on mini-batches split over threads: each of T workers runs the forward and backward pass
/// of one contiguous slice with single-threaded products; their summed gradients are added in
/// worker order, element by element, in the update W -= (lr / B) (G_1 + ... + G_T), which is
/// itself split over the threads. The result depends on T, never on timing.
pub struct DataParallel {
    workers: Vec<BatchWorkspace>,
}

/// Elements of a gradient reduced per block (on the stack).
const BLOCK: usize = 1024;

/// Weight tensors smaller than this are reduced on one thread.
const PARALLEL_REDUCE: usize = 1 << 14;

impl DataParallel {
    /// Workers for mini-batches of up to `batch` samples on `threads` threads.
    pub fn new(model: &Mlp, batch: usize, threads: usize, kernel: Kernel) -> Self {
        let parts = threads.clamp(1, batch.max(1));
        let capacity = batch.div_ceil(parts);
        DataParallel {
            workers: (0..parts)
                .map(|_| BatchWorkspace::with_kernel(model, capacity, kernel))
                .collect(),
        }
    }

    /// One SGD step on the batch X (inputs x B); returns the summed per-sample cost (f64), the
    /// workers' sums added in worker order. Call it inside a rayon pool of T threads.
    pub fn step(&mut self, model: &mut Mlp, x: DMatrixView<f32>, labels: &[u8], lr: f32) -> f64 {
        let b = x.ncols();
        let parts = self.workers.len().min(b);
        if parts <= 1 {
            return self.workers[0].step(model, x, labels, Some(lr), 1);
        }
        let shared: &Mlp = model;
        self.workers[..parts]
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, ws)| {
                let (start, len) = slice_of(i, b, parts);
                ws.gradients(shared, x.columns(start, len), &labels[start..start + len]);
            });
        let workers = &self.workers[..parts];
        let step = lr / b as f32;
        for l in 0..model.weights.len() {
            let w = model.weights[l].as_mut_slice();
            let grad = |t: usize| workers[t].grads.weights[l].as_slice();
            if w.len() < PARALLEL_REDUCE {
                reduce_into(w, 0, step, parts, &grad);
            } else {
                let chunk = w.len().div_ceil(parts).next_multiple_of(BLOCK);
                w.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, w)| reduce_into(w, i * chunk, step, parts, &grad));
            }
            let b = model.biases[l].as_mut_slice();
            reduce_into(b, 0, step, parts, &|t| {
                workers[t].grads.biases[l].as_slice()
            });
        }
        workers.iter().map(|ws| ws.loss).sum()
    }
}

/// w[i] -= step * (g_0[offset + i] + g_1[offset + i] + ...), in blocks that vectorize.
fn reduce_into<'a>(
    w: &mut [f32],
    offset: usize,
    step: f32,
    parts: usize,
    grad: &impl Fn(usize) -> &'a [f32],
) {
    let mut acc = [0.0f32; BLOCK];
    for (i, w) in w.chunks_mut(BLOCK).enumerate() {
        let start = offset + i * BLOCK;
        let acc = &mut acc[..w.len()];
        acc.copy_from_slice(&grad(0)[start..start + w.len()]);
        for t in 1..parts {
            for (a, g) in acc.iter_mut().zip(&grad(t)[start..start + w.len()]) {
                *a += g;
            }
        }
        for (w, a) in w.iter_mut().zip(acc.iter()) {
            *w -= step * a;
        }
    }
}

/// Scores a test set on T threads: each worker takes one contiguous slice of it.
pub struct Evaluator {
    workers: Vec<BatchWorkspace>,
}

impl Evaluator {
    /// Workers scoring `chunk` samples per forward pass each, on `threads` threads.
    pub fn new(model: &Mlp, chunk: usize, threads: usize, kernel: Kernel) -> Self {
        Evaluator {
            workers: (0..threads.max(1))
                .map(|_| BatchWorkspace::with_kernel(model, chunk.max(1), kernel))
                .collect(),
        }
    }

    /// Number of samples whose first maximal output is their label (an exact count).
    pub fn count_correct(&mut self, model: &Mlp, images: &DMatrix<f32>, labels: &[u8]) -> usize {
        let n = labels.len();
        let parts = self.workers.len().min(n.max(1));
        let score = |(i, ws): (usize, &mut BatchWorkspace)| {
            let (start, len) = slice_of(i, n, parts);
            ws.count_correct(
                model,
                images.columns(start, len),
                &labels[start..start + len],
            )
        };
        if parts == 1 {
            return score((0, &mut self.workers[0]));
        }
        self.workers[..parts]
            .par_iter_mut()
            .enumerate()
            .map(score)
            .sum()
    }
}
