//! `mlp`: the command-line contender (see CONTRACT.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde_json::json;

use mlp::data::Dataset;
use mlp::error::{without_os_error, Error};
use mlp::linalg::Kernel;
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Init, Spec};
use mlp::train::{describe_init, train, Algorithm, Options};

mod flags;

/// Train a multilayer perceptron on MNIST-format digits, as the benchmark's Rust contender.
#[derive(Parser)]
#[command(name = "mlp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the network described by a spec file.
    Train(TrainArgs),
}

// A flag given twice takes its last value, as in the NumPy reference's argparse.
#[derive(clap::Args)]
#[command(args_override_self = true)]
struct TrainArgs {
    /// The spec (JSON) defining the model, data and training.
    #[arg(long, value_name = "SPEC.json")]
    spec: PathBuf,
    /// Start from these weights (safetensors) instead of the spec's init.
    #[arg(long, value_name = "MODEL.safetensors")]
    init: Option<PathBuf>,
    /// One matrix product per layer per batch, or one sample at a time.
    #[arg(long, value_enum, default_value_t = Algorithm::Batched)]
    algorithm: Algorithm,
    /// Compute threads, 1-1024.
    #[arg(
        long,
        default_value = "1",
        value_name = "N",
        allow_hyphen_values = true
    )]
    threads: String,
    /// Append JSON Lines metrics to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    metrics_out: Option<PathBuf>,
    /// Write the final model (safetensors) here.
    #[arg(long, value_name = "FILE.safetensors")]
    save_model: Option<PathBuf>,
    /// Stop after K optimizer steps, ignoring the target.
    #[arg(long, value_name = "K", allow_hyphen_values = true)]
    max_steps: Option<String>,
}

/// Runs `train` and returns the exit status.
fn run(args: TrainArgs, started: Instant) -> Result<i32, Error> {
    let (threads, max_steps) = flags::counts(&args.threads, args.max_steps.as_deref())?;
    let spec = Spec::load(&args.spec)?;
    // --init overrides the spec's init.
    let init = match &args.init {
        Some(path) => Init::File(path.clone()),
        None => spec.init.clone(),
    };
    let kernel = Kernel::detect();
    let mut metrics = Metrics::open(args.metrics_out.as_deref())?;
    metrics.emit(
        "start",
        json!({"implementation": "rust", "version": env!("CARGO_PKG_VERSION"),
               "algorithm": args.algorithm.name(), "threads": threads, "spec_sha256": spec.sha256,
               "init": describe_init(&init),
               "gemm": kernel.describe(), "parallel": args.algorithm.parallel(threads)}),
    )?;

    let clock = Instant::now();
    let data = Dataset::load(&spec.dataset_dir)?;
    spec.check_against_data(&data)?;
    metrics.emit(
        "data",
        json!({"load_seconds": clock.elapsed().as_secs_f64(), "train_samples": data.train.labels.len(),
               "test_samples": data.test.labels.len()}),
    )?;

    let mut model = match &init {
        Init::File(path) => modelfile::load(path, &spec.layers, spec.hidden, spec.output)?,
        Init::HeNormal { seed } => Mlp::he_normal(&spec.layers, spec.hidden, spec.output, *seed),
    };

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Threads {
            threads,
            reason: without_os_error(&e.to_string()),
        })?;
    let opts = Options {
        algorithm: args.algorithm,
        threads,
        kernel,
        max_steps,
    };
    let status = pool.install(|| train(&mut model, &data, &spec, opts, &mut metrics, started))?;
    if let Some(path) = &args.save_model {
        modelfile::save(&model, path)?;
    }
    Ok(status.exit_code())
}

fn main() -> ExitCode {
    let started = Instant::now();
    flags::exit_on_signals();
    let Command::Train(args) = Cli::parse().command;
    match run(args, started) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
