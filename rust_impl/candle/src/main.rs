//! `mlp-candle`: the command-line contender built on candle (see CONTRACT.md).

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use mlp::cli::{self, TrainArgs};
use mlp::data::Dataset;
use mlp::error::{os_reason, without_os_error, Error};
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Init, Spec};
use mlp::train::{describe_init, Algorithm};
use mlp_candle::error::Failure;
use mlp_candle::net::Net;
use mlp_candle::train::{train, Options, Tensors};
use mlp_candle::CANDLE_VERSION;

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
            reason: without_os_error(&e.to_string()),
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
    let (threads, max_steps) = cli::counts(&args.threads, args.max_steps.as_deref())?;
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
    spec.check_against_data(&data)?;
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
        max_steps,
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
        let bytes = net.to_safetensors()?;
        modelfile::write_atomically(path, |temporary| {
            std::fs::write(temporary, &bytes).map_err(|e| os_reason(&e))
        })?;
    }
    Ok(status.exit_code())
}

fn main() -> ExitCode {
    let started = Instant::now();
    cli::exit_on_signals();
    let args = cli::parse("mlp-candle", env!("CARGO_PKG_VERSION"));
    match run(args, started) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
