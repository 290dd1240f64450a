//! `mlp`: the command-line contender (see CONTRACT.md).

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use mlp::cli::{self, TrainArgs};
use mlp::data::Dataset;
use mlp::error::{without_os_error, Error};
use mlp::linalg::Kernel;
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Init, Spec};
use mlp::train::{describe_init, train, Options};

/// Runs `train` and returns the exit status.
fn run(args: TrainArgs, started: Instant) -> Result<i32, Error> {
    let (threads, max_steps) = cli::counts(&args.threads, args.max_steps.as_deref())?;
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
    cli::exit_on_signals();
    let args = cli::parse("mlp", env!("CARGO_PKG_VERSION"));
    match run(args, started) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
