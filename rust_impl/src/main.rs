//! `mlp`: the command-line contender (see CONTRACT.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use mlp::blas::Blas;
use mlp::cli::{self, TrainArgs};
use mlp::data::Dataset;
use mlp::error::{without_os_error, Error};
use mlp::linalg::Kernel;
use mlp::metrics::Metrics;
use mlp::model::Mlp;
use mlp::modelfile;
use mlp::spec::{Init, Spec};
use mlp::train::{describe_init, train, Algorithm, Options};
use mlp::tune;

/// The `mlp` binary's own flags (before `train`): which library computes the products.
#[derive(clap::Args)]
struct Products {
    /// Compute every matrix product with this BLAS library's cblas sgemm (a 64-bit-integer
    /// OpenBLAS such as NumPy's), threaded by the library; --algorithm batched only.
    #[arg(long, value_name = "LIBRARY.so")]
    blas_library: Option<PathBuf>,
    /// The built-in kernel for large products: measured once per machine and cached (auto),
    /// or named.
    #[arg(long, value_enum, default_value_t = KernelFlag::Auto)]
    kernel: KernelFlag,
}

/// `--kernel`'s values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KernelFlag {
    Auto,
    Gemm,
    Matrixmultiply,
}

/// The product kernel and what the start event says about it: from --blas-library (opened,
/// its thread count set), --kernel, or the cached measurement.
fn kernel_of(
    products: &Products,
    blas: Option<&'static Blas>,
    spec: &Spec,
    threads: usize,
) -> Result<(Kernel, serde_json::Value), Error> {
    if let Some(lib) = blas {
        lib.set_threads(threads);
        let facts = json!({"gemm": lib.describe(threads),
                           "blas_library": {"path": lib.path.display().to_string(),
                                            "config": lib.config, "symbol": lib.symbol,
                                            "threads": threads}});
        return Ok((Kernel::Blas(lib), facts));
    }
    let named = match products.kernel {
        KernelFlag::Gemm => Some(Kernel::Gemm),
        KernelFlag::Matrixmultiply => Some(Kernel::MatrixMultiply),
        KernelFlag::Auto => None,
    };
    if let Some(kernel) = named {
        let gemm = format!("{}; named by --kernel", kernel.describe());
        return Ok((
            kernel,
            json!({"gemm": gemm, "kernel_choice": {"chosen": kernel.name(), "by": "--kernel"}}),
        ));
    }
    let slice = spec.batch_size.div_ceil(threads);
    let choice = tune::choose(&spec.layers, spec.hidden, spec.output, slice);
    let gemm = format!("{}; chosen by measurement", choice.kernel.describe());
    Ok((
        choice.kernel,
        json!({"gemm": gemm, "kernel_choice": choice.to_json()}),
    ))
}

/// Runs `train` and returns the exit status.
fn run(args: TrainArgs, products: Products, started: Instant) -> Result<i32, Error> {
    let (threads, max_steps) = cli::counts(&args.threads, args.max_steps.as_deref())?;
    // The library first: a bad one is named before anything else is read.
    let blas = match &products.blas_library {
        None => None,
        Some(_) if args.algorithm != Algorithm::Batched => {
            return Err(Error::BadFlag {
                flag: "--blas-library",
                rule: "--algorithm batched (per-sample products are matrix-vector)",
                got: serde_json::to_string(args.algorithm.name()).unwrap_or_default(),
            })
        }
        // Leaked: the library stays loaded for the whole process, like a linked one.
        Some(path) => Some(&*Box::leak(Box::new(Blas::open(path)?))),
    };
    let spec = Spec::load(&args.spec)?;
    // --init overrides the spec's init.
    let init = match &args.init {
        Some(path) => Init::File(path.clone()),
        None => spec.init.clone(),
    };
    let (kernel, facts) = kernel_of(&products, blas, &spec, threads)?;
    let mut metrics = Metrics::open(args.metrics_out.as_deref())?;
    let parallel = if kernel.threads_itself() {
        format!(
            "none in Rust: the library threads each product ({threads} thread{})",
            if threads == 1 { "" } else { "s" }
        )
    } else {
        args.algorithm.parallel(threads)
    };
    let mut start = json!({"implementation": "rust", "version": env!("CARGO_PKG_VERSION"),
               "algorithm": args.algorithm.name(), "threads": threads, "spec_sha256": spec.sha256,
               "init": describe_init(&init), "parallel": parallel});
    if let (Some(start), serde_json::Value::Object(facts)) = (start.as_object_mut(), facts) {
        start.extend(facts);
    }
    metrics.emit("start", start)?;

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
    let (args, products) = cli::parse_with::<Products>("mlp", env!("CARGO_PKG_VERSION"));
    match run(args, products, started) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
