//! `mlp-candle`: the command-line contender built on candle (see CONTRACT.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde_json::json;

use mlp::data::Dataset;
use mlp::error::Error;
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Init, Spec};
use mlp::train::{describe_init, Algorithm};
use mlp_candle::error::{save_failure, Failure};
use mlp_candle::net::Net;
use mlp_candle::train::{train, Options, Tensors};
use mlp_candle::CANDLE_VERSION;

/// Train a multilayer perceptron on MNIST-format digits with candle, as a benchmark contender.
#[derive(Parser)]
#[command(name = "mlp-candle", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the network described by a spec file.
    Train(TrainArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The spec (JSON) defining the model, data and training.
    #[arg(long, value_name = "SPEC.json")]
    spec: PathBuf,
    /// Start from these weights (safetensors) instead of the spec's init.
    #[arg(long, value_name = "MODEL.safetensors")]
    init: Option<PathBuf>,
    /// One forward and backward pass per mini-batch, or one per sample.
    #[arg(long, value_enum, default_value_t = Algorithm::Batched)]
    algorithm: Algorithm,
    /// Compute threads (candle's CPU kernels).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    threads: u32,
    /// Append JSON Lines metrics to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    metrics_out: Option<PathBuf>,
    /// Write the final model (safetensors) here.
    #[arg(long, value_name = "FILE.safetensors")]
    save_model: Option<PathBuf>,
    /// Stop after K optimizer steps, ignoring the target.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    max_steps: Option<u64>,
}

/// Gives candle `threads` compute threads: its matrix products run on rayon's global pool (the
/// gemm crate, asked for RAYON_NUM_THREADS tasks), its element-wise kernels on a pool of
/// CANDLE_NUM_THREADS; both variables are read once, on first use, after this.
fn use_threads(threads: usize) -> Result<(), Error> {
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| Error::Threads {
            threads,
            reason: e.to_string(),
        })
}

/// The metrics' "parallel" field: how `threads` threads are used.
fn parallel(algorithm: Algorithm, threads: usize) -> String {
    match (algorithm, threads) {
        (_, 1) => "none (1 thread)".to_string(),
        (Algorithm::Batched, t) => format!("candle's CPU kernels on {t} threads (gemm on rayon)"),
        (Algorithm::PerSample, t) => {
            format!("samples one after another, candle's CPU kernels on {t} threads")
        }
    }
}

/// The network with its initial weights: the model file (checked by the `mlp` crate's reader,
/// for the contract's error lines, then loaded by candle) or `mlp`'s He-normal draw.
fn initial_net(spec: &Spec, init: &Init) -> Result<Net, Failure> {
    let mut net = Net::new(&spec.layers, spec.hidden, spec.output)?;
    match init {
        Init::File(path) => {
            modelfile::load(path, &spec.layers, spec.hidden, spec.output)?;
            net.load(path)?;
        }
        Init::HeNormal { seed } => net.copy_from(&Mlp::he_normal(
            &spec.layers,
            spec.hidden,
            spec.output,
            *seed,
        ))?,
    }
    Ok(net)
}

/// Runs `train` and returns the exit status.
fn run(args: TrainArgs, started: Instant) -> Result<i32, Failure> {
    let threads = args.threads as usize;
    use_threads(threads)?;
    let spec = Spec::load(&args.spec)?;
    // --init overrides the spec's init.
    let init = match &args.init {
        Some(path) => Init::File(path.clone()),
        None => spec.init.clone(),
    };
    let mut metrics = Metrics::open(args.metrics_out.as_deref())?;
    metrics.emit(
        "start",
        json!({"implementation": "rust-candle", "version": env!("CARGO_PKG_VERSION"),
               "algorithm": args.algorithm.name(), "threads": threads, "spec_sha256": spec.sha256,
               "init": describe_init(&init),
               "candle": CANDLE_VERSION, "parallel": parallel(args.algorithm, threads)}),
    )?;

    let clock = Instant::now();
    let data = Dataset::load(&spec.dataset_dir)?;
    let pixels = data.rows * data.cols;
    if spec.layers[0] != pixels {
        return Err(Error::BadValue {
            path: spec.path.display().to_string(),
            field: "layers[0]".into(),
            rule: format!(
                "{pixels} (the {}x{} pixels of each image)",
                data.rows, data.cols
            ),
            got: spec.layers[0].to_string(),
        }
        .into());
    }
    let (train_set, test_set) = Tensors::of(&data)?;
    drop(data); // the tensors hold copies
    metrics.emit(
        "data",
        json!({"load_seconds": clock.elapsed().as_secs_f64(), "train_samples": train_set.len,
               "test_samples": test_set.len}),
    )?;

    let mut net = initial_net(&spec, &init)?;
    let opts = Options {
        algorithm: args.algorithm,
        max_steps: args.max_steps.map(|k| k as usize),
    };
    let status = train(
        &mut net,
        (&train_set, &test_set),
        &spec,
        opts,
        &mut metrics,
        started,
    )?;
    if let Some(path) = &args.save_model {
        net.save(path).map_err(|e| save_failure(path, &e))?;
    }
    Ok(status.exit_code())
}

fn main() -> ExitCode {
    let started = Instant::now();
    let Command::Train(args) = Cli::parse().command;
    match run(args, started) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
