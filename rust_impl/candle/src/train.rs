//! The training loop of CONTRACT.md with candle's SGD optimizer: mini-batches in file order,
//! an exact test accuracy after every epoch, and the `mlp` crate's metrics stream.

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Optimizer, SGD};
use serde_json::json;

use mlp::data::{Dataset, Split};
use mlp::error::Error;
use mlp::metrics::Metrics;
use mlp::spec::Spec;
use mlp::train::{Algorithm, Status};

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

/// Counters of a run so far.
struct Progress {
    epochs: usize,
    steps: usize,
    train_seconds: f64,
    test_correct: Option<usize>,
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

/// Trains `net` in place with SGD; writes epoch, step and end events; returns the status.
pub fn train(
    net: &mut Net,
    (train, test): (&Tensors, &Tensors),
    spec: &Spec,
    opts: Options,
    metrics: &mut Metrics,
    started: Instant,
) -> Result<Status, Failure> {
    let n = train.len;
    let batch = spec.batch_size.min(n);
    let vars = net.varmap.all_vars();
    let mut sgd = SGD::new(vars.clone(), spec.learning_rate)?;
    let mut p = Progress {
        epochs: 0,
        steps: 0,
        train_seconds: 0.0,
        test_correct: None,
    };
    let end = |metrics: &mut Metrics, p: &Progress, status: &str| {
        let accuracy = p.test_correct.map(|c| c as f64 / test.len as f64);
        metrics.emit(
            "end",
            json!({"status": status, "epochs": p.epochs, "steps": p.steps, "test_correct": p.test_correct,
                   "test_accuracy": accuracy, "train_seconds": p.train_seconds,
                   "wall_seconds": started.elapsed().as_secs_f64()}),
        )
    };

    for epoch in 1..=spec.max_epochs {
        let clock = Instant::now();
        let mut loss_sum = 0.0f64;
        for start in (0..n).step_by(batch) {
            let b = batch.min(n - start);
            let x = train.images.narrow(0, start, b)?;
            let y = train.labels.narrow(0, start, b)?;
            let (batch_loss, grads) = batch_gradients(net, &vars, &x, &y, opts.algorithm)?;
            if !batch_loss.is_finite() {
                p.train_seconds += clock.elapsed().as_secs_f64();
                end(metrics, &p, "diverged")?;
                return Err(Error::Diverged {
                    epoch,
                    step: p.steps + 1,
                }
                .into());
            }
            sgd.step(&grads)?;
            p.steps += 1;
            loss_sum += batch_loss;
            if let Some(k) = opts.max_steps {
                metrics.emit(
                    "step",
                    json!({"step": p.steps, "loss": batch_loss / b as f64}),
                )?;
                if p.steps == k {
                    p.train_seconds += clock.elapsed().as_secs_f64();
                    p.test_correct = Some(net.count_correct(&test.images, &test.labels)?);
                    end(metrics, &p, Status::MaxSteps.name())?;
                    return Ok(Status::MaxSteps);
                }
            }
        }
        let train_seconds = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let correct = net.count_correct(&test.images, &test.labels)?;
        let eval_seconds = clock.elapsed().as_secs_f64();
        p.epochs = epoch;
        p.train_seconds += train_seconds;
        p.test_correct = Some(correct);
        metrics.emit(
            "epoch",
            json!({"epoch": epoch, "steps": p.steps, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                   "train_loss": loss_sum / n as f64, "test_correct": correct,
                   "test_accuracy": correct as f64 / test.len as f64}),
        )?;
        // Exact count: reached when correct > target * test_samples, in f64.
        if opts.max_steps.is_none() && correct as f64 > spec.target_accuracy * test.len as f64 {
            end(metrics, &p, Status::ReachedTarget.name())?;
            return Ok(Status::ReachedTarget);
        }
    }
    end(metrics, &p, Status::MaxEpochs.name())?;
    Ok(Status::MaxEpochs)
}
