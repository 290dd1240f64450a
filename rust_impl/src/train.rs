//! The training loop: plain SGD over mini-batches in file order, exact test accuracy per epoch.

use std::time::Instant;

use serde_json::{json, Value};

use crate::data::Dataset;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::model::{per_sample_gradients, BatchWorkspace, Mlp, SampleWorkspace};
use crate::spec::{Init, Spec};

/// Samples scored per forward pass when evaluating.
const EVAL_CHUNK: usize = 1024;

/// How the gradients of a mini-batch are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// One matrix-matrix product per layer per mini-batch.
    Batched,
    /// Forward and backward one sample at a time, gradients summed over the mini-batch.
    PerSample,
}

impl Algorithm {
    /// The name used on the command line and in the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Batched => "batched",
            Algorithm::PerSample => "per-sample",
        }
    }

    /// How this algorithm uses `threads` threads (the metrics' "parallel" field).
    pub fn parallel(self, threads: usize) -> String {
        match (self, threads) {
            (_, 1) => "none (1 thread)".to_string(),
            (Algorithm::Batched, t) => {
                format!("each matrix product split over {t} rayon threads (gemm crate)")
            }
            (Algorithm::PerSample, t) => {
                format!("mini-batch split into {t} contiguous chunks on {t} rayon threads, gradients summed in chunk order")
            }
        }
    }
}

/// Run options from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Gradient algorithm.
    pub algorithm: Algorithm,
    /// Compute threads (the caller runs `train` inside a rayon pool of this size).
    pub threads: usize,
    /// Stop after this many optimizer steps, ignoring the target.
    pub max_steps: Option<usize>,
}

/// Why training stopped (divergence is an error instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Test accuracy passed the target (exit 0).
    ReachedTarget,
    /// `max_epochs` done below the target (exit 1).
    MaxEpochs,
    /// `--max-steps` steps done (exit 0).
    MaxSteps,
}

impl Status {
    /// The status as written in the end event.
    pub fn name(self) -> &'static str {
        match self {
            Status::ReachedTarget => "reached_target",
            Status::MaxEpochs => "max_epochs",
            Status::MaxSteps => "max_steps",
        }
    }

    /// The process exit status.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::MaxEpochs => 1,
            _ => 0,
        }
    }
}

/// Counters of a run so far.
struct Progress {
    epochs: usize,
    steps: usize,
    train_seconds: f64,
    test_correct: Option<usize>,
}

/// Preallocated buffers of the chosen algorithm.
enum Workers {
    Batched(BatchWorkspace),
    PerSample(Vec<SampleWorkspace>),
}

/// Trains `model` in place; writes epoch, step and end events; returns the final status.
pub fn train(
    model: &mut Mlp,
    data: &Dataset,
    spec: &Spec,
    opts: Options,
    metrics: &mut Metrics,
    started: Instant,
) -> Result<Status, Error> {
    let images = &data.train.images;
    let labels = &data.train.labels;
    let n = labels.len();
    let test_n = data.test.labels.len();
    let batch = spec.batch_size.min(n);
    let lr = spec.learning_rate as f32;
    let mut eval = BatchWorkspace::new(model, EVAL_CHUNK.min(test_n));
    let mut workers = match opts.algorithm {
        Algorithm::Batched => Workers::Batched(BatchWorkspace::new(model, batch)),
        Algorithm::PerSample => Workers::PerSample(
            (0..opts.threads.min(batch))
                .map(|_| SampleWorkspace::new(model))
                .collect(),
        ),
    };
    let mut p = Progress {
        epochs: 0,
        steps: 0,
        train_seconds: 0.0,
        test_correct: None,
    };
    let end = |metrics: &mut Metrics, p: &Progress, status: &str| {
        let accuracy = p.test_correct.map(|c| c as f64 / test_n as f64);
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
            let x = images.columns(start, b);
            let y = &labels[start..start + b];
            let batch_loss = match &mut workers {
                Workers::Batched(ws) => ws.step(model, x, y, Some(lr), opts.threads),
                Workers::PerSample(ws) => per_sample_gradients(model, x, y, ws),
            };
            if !batch_loss.is_finite() {
                p.train_seconds += clock.elapsed().as_secs_f64();
                end(metrics, &p, "diverged")?;
                return Err(Error::Diverged {
                    epoch,
                    step: p.steps + 1,
                });
            }
            if let Workers::PerSample(ws) = &workers {
                model.apply(&ws[0].grads, lr / b as f32);
            }
            p.steps += 1;
            loss_sum += batch_loss;
            if let Some(k) = opts.max_steps {
                metrics.emit(
                    "step",
                    json!({"step": p.steps, "loss": batch_loss / b as f64}),
                )?;
                if p.steps == k {
                    p.train_seconds += clock.elapsed().as_secs_f64();
                    p.test_correct = Some(eval.count_correct(
                        model,
                        &data.test.images,
                        &data.test.labels,
                        opts.threads,
                    ));
                    end(metrics, &p, Status::MaxSteps.name())?;
                    return Ok(Status::MaxSteps);
                }
            }
        }
        let train_seconds = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let correct = eval.count_correct(model, &data.test.images, &data.test.labels, opts.threads);
        let eval_seconds = clock.elapsed().as_secs_f64();
        p.epochs = epoch;
        p.train_seconds += train_seconds;
        p.test_correct = Some(correct);
        metrics.emit(
            "epoch",
            json!({"epoch": epoch, "steps": p.steps, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                   "train_loss": loss_sum / n as f64, "test_correct": correct,
                   "test_accuracy": correct as f64 / test_n as f64}),
        )?;
        // Exact count: reached when correct > target * test_samples, in f64.
        if opts.max_steps.is_none() && correct as f64 > spec.target_accuracy * test_n as f64 {
            end(metrics, &p, Status::ReachedTarget.name())?;
            return Ok(Status::ReachedTarget);
        }
    }
    end(metrics, &p, Status::MaxEpochs.name())?;
    Ok(Status::MaxEpochs)
}

/// The metrics' "init" field: the model file or `he_normal:<seed>`.
pub fn describe_init(init: &Init) -> Value {
    match init {
        Init::File(path) => path.display().to_string().into(),
        Init::HeNormal { seed } => format!("he_normal:{seed}").into(),
    }
}
