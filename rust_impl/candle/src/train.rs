//! The training loop of CONTRACT.md with candle's SGD optimizer: mini-batches in file order,
//! an exact test accuracy after every epoch, and the `mlp` crate's metrics stream.

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Optimizer, SGD};

use mlp::data::{Dataset, Split};
use mlp::metrics::Metrics;
use mlp::spec::Spec;
use mlp::train::{run, Algorithm, Learner, Status};

use crate::error::Failure;
use crate::net::Net;

/// One split as candle tensors: images (samples, pixels) float32, labels (samples) u32.
pub struct Tensors {
    /// Pixels `p / 255`, one sample per row.
    pub images: Tensor,
    /// Digit labels.
    pub labels: Tensor,
    /// Number of samples.
    pub len: usize,
}

impl Tensors {
    /// Copies a split of the `mlp` crate's dataset into CPU tensors (once, before training).
    pub fn new(split: &Split) -> candle_core::Result<Tensors> {
        // The (pixels x samples) column-major matrix is (samples x pixels) row-major.
        let (pixels, len) = split.images.shape();
        let images = Tensor::from_slice(split.images.as_slice(), (len, pixels), &Device::Cpu)?;
        let labels: Vec<u32> = split.labels.iter().map(|&l| u32::from(l)).collect();
        let labels = Tensor::from_vec(labels, len, &Device::Cpu)?;
        Ok(Tensors {
            images,
            labels,
            len,
        })
    }

    /// Both splits of a dataset.
    pub fn of(data: &Dataset) -> candle_core::Result<(Tensors, Tensors)> {
        Ok((Tensors::new(&data.train)?, Tensors::new(&data.test)?))
    }
}

/// Run options from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Gradient algorithm.
    pub algorithm: Algorithm,
    /// Stop after this many optimizer steps, ignoring the target.
    pub max_steps: Option<usize>,
}

/// The batch's summed per-sample loss (float64) and the gradients of its mean loss.
fn batch_gradients(
    net: &Net,
    vars: &[Var],
    x: &Tensor,
    y: &Tensor,
    algorithm: Algorithm,
) -> candle_core::Result<(f64, GradStore)> {
    let b = x.dim(0)?;
    match algorithm {
        Algorithm::Batched => {
            let losses = net.losses(&net.forward(x)?, y)?;
            let sum = losses.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
            Ok((sum, losses.mean(0)?.backward()?))
        }
        Algorithm::PerSample => {
            // One forward and backward pass per sample; gradients summed, then divided by b.
            let mut sum = 0.0f64;
            let mut total: Option<GradStore> = None;
            for i in 0..b {
                let z = net.forward(&x.narrow(0, i, 1)?)?;
                let loss = net.losses(&z, &y.narrow(0, i, 1)?)?.squeeze(0)?;
                sum += f64::from(loss.to_scalar::<f32>()?);
                let grads = loss.backward()?;
                let Some(acc) = &mut total else {
                    total = Some(grads);
                    continue;
                };
                for var in vars {
                    if let (Some(g), Some(a)) = (grads.get(var), acc.remove(var)) {
                        acc.insert(var, (a + g)?);
                    }
                }
            }
            let mut grads = total.expect("a batch holds at least one sample");
            for var in vars {
                if let Some(g) = grads.remove(var) {
                    grads.insert(var, (g / b as f64)?);
                }
            }
            Ok((sum, grads))
        }
    }
}

/// The candle network, its optimizer and the tensors: what `mlp::train::run` drives.
struct Candle<'a> {
    net: &'a mut Net,
    vars: Vec<Var>,
    sgd: SGD,
    train: &'a Tensors,
    test: &'a Tensors,
    algorithm: Algorithm,
}

impl Learner for Candle<'_> {
    type Error = Failure;

    fn step(&mut self, start: usize, len: usize) -> Result<f64, Failure> {
        let x = self.train.images.narrow(0, start, len)?;
        let y = self.train.labels.narrow(0, start, len)?;
        let (loss, grads) = batch_gradients(self.net, &self.vars, &x, &y, self.algorithm)?;
        if loss.is_finite() {
            self.sgd.step(&grads)?;
        }
        Ok(loss)
    }

    fn count_correct(&mut self) -> Result<usize, Failure> {
        Ok(self
            .net
            .count_correct(&self.test.images, &self.test.labels)?)
    }
}

/// Trains `net` in place with SGD; writes epoch, step and end events; returns the status.
pub fn train(
    net: &mut Net,
    (train, test): (&Tensors, &Tensors),
    spec: &Spec,
    opts: Options,
    metrics: &mut Metrics,
    started: Instant,
) -> Result<Status, Failure> {
    let vars = net.varmap.all_vars();
    let sgd = SGD::new(vars.clone(), spec.learning_rate)?;
    let sizes = (train.len, test.len);
    let mut learner = Candle {
        net,
        vars,
        sgd,
        train,
        test,
        algorithm: opts.algorithm,
    };
    run(&mut learner, sizes, spec, opts.max_steps, metrics, started)
}
