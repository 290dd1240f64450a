//! The training loop: plain SGD over mini-batches in file order, exact test accuracy per epoch.

use std::time::Instant;

use nalgebra::{DMatrix, DMatrixView};
use serde_json::{json, Value};

use crate::data::Dataset;
use crate::error::Error;
use crate::linalg::Kernel;
use crate::metrics::Metrics;
use crate::model::{per_sample_gradients, DataParallel, Evaluator, Mlp, SampleWorkspace};
use crate::spec::{Init, Spec};

/// Samples scored per forward pass and thread when evaluating.
const EVAL_CHUNK: usize = 512;

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
            (Algorithm::Batched, t) => format!(
                "mini-batch split into {t} contiguous slices on {t} rayon threads, single-threaded \
                 products per slice, gradients summed in slice order; test set split the same way"
            ),
            (Algorithm::PerSample, t) => format!(
                "mini-batch split into {t} contiguous chunks on {t} rayon threads, gradients \
                 summed in chunk order; test set split into {t} slices"
            ),
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
    /// The product kernel for large single-threaded products.
    pub kernel: Kernel,
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

/// Preallocated buffers of the chosen algorithm.
enum Workers {
    Batched(DataParallel),
    PerSample(Vec<SampleWorkspace>),
}

/// One optimizer step and the test-set score, with every buffer allocated up front.
/// Call its methods inside a rayon pool of `threads` threads.
pub struct Trainer {
    workers: Workers,
    eval: Evaluator,
}

impl Trainer {
    /// Buffers for mini-batches of up to `batch` samples, on `opts.threads` threads.
    pub fn new(model: &Mlp, batch: usize, opts: &Options) -> Self {
        // A library that threads its own products gets the whole batch on one Rust thread.
        let threads = if opts.kernel.threads_itself() {
            1
        } else {
            opts.threads
        };
        let workers = match opts.algorithm {
            Algorithm::Batched => {
                Workers::Batched(DataParallel::new(model, batch, threads, opts.kernel))
            }
            Algorithm::PerSample => Workers::PerSample(
                (0..opts.threads.clamp(1, batch.max(1)))
                    .map(|_| SampleWorkspace::new(model))
                    .collect(),
            ),
        };
        Trainer {
            workers,
            eval: Evaluator::new(model, EVAL_CHUNK, threads, opts.kernel),
        }
    }

    /// One SGD step with learning rate `lr` on the batch X (inputs x B); returns the summed
    /// per-sample cost. A non-finite cost leaves the model in an unspecified state.
    pub fn step(&mut self, model: &mut Mlp, x: DMatrixView<f32>, labels: &[u8], lr: f32) -> f64 {
        match &mut self.workers {
            Workers::Batched(dp) => dp.step(model, x, labels, lr),
            Workers::PerSample(ws) => {
                let loss = per_sample_gradients(model, x, labels, ws);
                model.apply(&ws[0].grads, lr / x.ncols() as f32);
                loss
            }
        }
    }

    /// Number of samples whose first maximal output is their label.
    pub fn count_correct(&mut self, model: &Mlp, images: &DMatrix<f32>, labels: &[u8]) -> usize {
        self.eval.count_correct(model, images, labels)
    }
}

/// One trainer as the shared loop [`run`] drives it: an SGD step on a slice of the training
/// set, and the exact score of the test set.
pub trait Learner {
    /// The error a step or a score can end in (it must hold this crate's, for divergence).
    type Error: From<Error>;
    /// One SGD step on training samples `start..start + len`; returns their summed loss.
    fn step(&mut self, start: usize, len: usize) -> Result<f64, Self::Error>;
    /// Test samples whose first maximal output is their label.
    fn count_correct(&mut self) -> Result<usize, Self::Error>;
}

/// Counters of a run so far: what the end event reports.
#[derive(Default)]
struct Progress {
    epochs: usize,
    steps: usize,
    train_seconds: f64,
    test_correct: Option<usize>,
}

/// The training loop of CONTRACT.md, shared by every trainer of this workspace: mini-batches in
/// file order over `train_n` samples, an exact test score over `test_n` after every epoch, the
/// step (with `max_steps`), epoch and end events; returns why it stopped. A non-finite batch
/// loss writes an end event `diverged` and returns [`Error::Diverged`].
pub fn run<L: Learner>(
    learner: &mut L,
    (train_n, test_n): (usize, usize),
    spec: &Spec,
    max_steps: Option<usize>,
    metrics: &mut Metrics,
    started: Instant,
) -> Result<Status, L::Error> {
    let batch = spec.batch_size.min(train_n);
    let mut p = Progress::default();
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
        for start in (0..train_n).step_by(batch) {
            let b = batch.min(train_n - start);
            let batch_loss = learner.step(start, b)?;
            if !batch_loss.is_finite() {
                p.train_seconds += clock.elapsed().as_secs_f64();
                end(metrics, &p, "diverged")?;
                let step = p.steps + 1;
                return Err(Error::Diverged { epoch, step }.into());
            }
            p.steps += 1;
            loss_sum += batch_loss;
            if let Some(k) = max_steps {
                metrics.emit(
                    "step",
                    json!({"step": p.steps, "loss": batch_loss / b as f64}),
                )?;
                if p.steps == k {
                    p.train_seconds += clock.elapsed().as_secs_f64();
                    p.test_correct = Some(learner.count_correct()?);
                    end(metrics, &p, Status::MaxSteps.name())?;
                    return Ok(Status::MaxSteps);
                }
            }
        }
        let train_seconds = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let correct = learner.count_correct()?;
        let eval_seconds = clock.elapsed().as_secs_f64();
        p.epochs = epoch;
        p.train_seconds += train_seconds;
        p.test_correct = Some(correct);
        metrics.emit(
            "epoch",
            json!({"epoch": epoch, "steps": p.steps, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                   "train_loss": loss_sum / train_n as f64, "test_correct": correct,
                   "test_scored": test_n, "test_accuracy": correct as f64 / test_n as f64}),
        )?;
        // Exact count: reached when correct > target * test_samples, in f64.
        if max_steps.is_none() && correct as f64 > spec.target_accuracy * test_n as f64 {
            end(metrics, &p, Status::ReachedTarget.name())?;
            return Ok(Status::ReachedTarget);
        }
    }
    end(metrics, &p, Status::MaxEpochs.name())?;
    Ok(Status::MaxEpochs)
}

/// The `mlp` model, its trainer and the data: what [`run`] drives for this crate.
struct Nalgebra<'a> {
    model: &'a mut Mlp,
    trainer: Trainer,
    data: &'a Dataset,
    lr: f32,
}

impl Learner for Nalgebra<'_> {
    type Error = Error;

    fn step(&mut self, start: usize, len: usize) -> Result<f64, Error> {
        let x = self.data.train.images.columns(start, len);
        let y = &self.data.train.labels[start..start + len];
        Ok(self.trainer.step(self.model, x, y, self.lr))
    }

    fn count_correct(&mut self) -> Result<usize, Error> {
        let test = &self.data.test;
        Ok(self
            .trainer
            .count_correct(self.model, &test.images, &test.labels))
    }
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
    let sizes = (data.train.labels.len(), data.test.labels.len());
    let batch = spec.batch_size.min(sizes.0);
    let trainer = Trainer::new(model, batch, &opts);
    let lr = spec.learning_rate as f32;
    let mut learner = Nalgebra {
        model,
        trainer,
        data,
        lr,
    };
    run(&mut learner, sizes, spec, opts.max_steps, metrics, started)
}

/// The metrics' "init" field: the model file or `he_normal:<seed>`.
pub fn describe_init(init: &Init) -> Value {
    match init {
        Init::File(path) => path.display().to_string().into(),
        Init::HeNormal { seed } => format!("he_normal:{seed}").into(),
    }
}
