//! Per-sample gradients: forward and backward one sample at a time (matrix-vector products and
//! rank-1 updates), summed over the mini-batch.

use nalgebra::{DMatrix, DMatrixView};
use rayon::prelude::*;

use super::{
    bias_output, forward_products, layer_buffers, loss_and_delta, times_derivative, Gradients, Mlp,
};
use crate::linalg::{gemm, Kernel, Op};

/// Buffers for one sample at a time (each a one-column matrix), plus summed gradients.
pub struct SampleWorkspace {
    acts: Vec<DMatrix<f32>>,
    deltas: Vec<DMatrix<f32>>,
    /// Gradients summed over the samples seen since the last clear.
    pub grads: Gradients,
    /// Summed cost of this worker's samples in the last batch.
    loss: f64,
}

impl SampleWorkspace {
    /// Preallocates the per-sample buffers.
    pub fn new(model: &Mlp) -> Self {
        SampleWorkspace {
            acts: layer_buffers(model, 1),
            deltas: layer_buffers(model, 1),
            grads: Gradients::zeros(model),
            loss: 0.0,
        }
    }

    /// Forward and backward pass of one sample x (inputs x 1); adds its gradients to `grads`
    /// (dW_l += D_l a_{l-1}^T, db_l += D_l) and returns its cost. Matrix-vector products and
    /// rank-1 updates go to the gemm crate whatever the kernel (see linalg).
    pub fn accumulate(&mut self, model: &Mlp, x: DMatrixView<f32>, label: u8) -> f32 {
        let kernel = Kernel::Gemm;
        let last = model.weights.len() - 1;
        forward_products(&mut self.acts, model, x, kernel, 1);
        let out = self.acts[last].as_mut_slice();
        bias_output(out, model.biases[last].as_slice(), model.output);
        let loss = loss_and_delta(model.output, out, label, self.deltas[last].as_mut_slice());
        for l in (0..=last).rev() {
            let input = if l == 0 {
                x
            } else {
                self.acts[l - 1].as_view()
            };
            let (lower, upper) = self.deltas.split_at_mut(l);
            let delta = &upper[0];
            gemm(
                kernel,
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
                    kernel,
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

    /// Clears the sums, then accumulates samples `start..start + len` of the batch.
    fn run(&mut self, model: &Mlp, x: DMatrixView<f32>, labels: &[u8], start: usize, len: usize) {
        self.grads.weights.iter_mut().for_each(|w| w.fill(0.0));
        self.grads.biases.iter_mut().for_each(|b| b.fill(0.0));
        self.loss = (start..start + len)
            .map(|j| f64::from(self.accumulate(model, x.columns(j, 1), labels[j])))
            .sum();
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
    let n = labels.len();
    let chunk = n.div_ceil(workers.len());
    let range = |i: usize| {
        let start = (i * chunk).min(n);
        (start, ((i + 1) * chunk).min(n) - start)
    };
    if workers.len() == 1 {
        workers[0].run(model, x, labels, 0, n);
    } else {
        workers.par_iter_mut().enumerate().for_each(|(i, ws)| {
            let (start, len) = range(i);
            ws.run(model, x, labels, start, len);
        });
    }
    if let Some((first, rest)) = workers.split_first_mut() {
        for other in rest.iter() {
            for (g, o) in first.grads.weights.iter_mut().zip(&other.grads.weights) {
                *g += o;
            }
            for (g, o) in first.grads.biases.iter_mut().zip(&other.grads.biases) {
                *g += o;
            }
            first.loss += other.loss;
        }
    }
    workers[0].loss
}
