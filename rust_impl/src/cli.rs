//! The command line both Rust contenders share (CONTRACT.md): `train` and its flags, the
//! integer flags' checks, and the signals that end a run. Each binary names itself.

use std::path::PathBuf;

use clap::builder::{OsStringValueParser, TypedValueParser};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::error::Error;
use crate::train::Algorithm;

/// The most compute threads `--threads` accepts.
const MAX_THREADS: u64 = 1024;

/// Train a multilayer perceptron on MNIST-format digits, as a benchmark contender.
#[derive(Parser)]
#[command(version)]
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
pub struct TrainArgs {
    /// The spec (JSON) defining the model, data and training.
    #[arg(long, value_name = "SPEC.json")]
    pub spec: PathBuf,
    /// Start from these weights (safetensors) instead of the spec's init.
    #[arg(long, value_name = "MODEL.safetensors")]
    pub init: Option<PathBuf>,
    /// One matrix product per layer per batch, or one sample at a time.
    #[arg(long, value_enum, default_value_t = Algorithm::Batched)]
    pub algorithm: Algorithm,
    /// Compute threads, 1-1024.
    #[arg(
        long,
        default_value = "1",
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = lossy()
    )]
    pub threads: String,
    /// Append JSON Lines metrics to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub metrics_out: Option<PathBuf>,
    /// Write the final model (safetensors) here.
    #[arg(long, value_name = "FILE.safetensors")]
    pub save_model: Option<PathBuf>,
    /// Stop after K optimizer steps, ignoring the target.
    #[arg(long, value_name = "K", allow_hyphen_values = true, value_parser = lossy())]
    pub max_steps: Option<String>,
}

/// A flag's text with bytes that are not UTF-8 shown as U+FFFD (CONTRACT.md), so that the
/// program's own check, not clap, rejects it in the contract's words.
fn lossy() -> impl TypedValueParser<Value = String> {
    OsStringValueParser::new().map(|s| s.to_string_lossy().into_owned())
}

/// The `train` arguments of the program called `name` (clap prints usage errors and exits 2,
/// `--help` and `--version` exit 0).
pub fn parse(name: &'static str, version: &'static str) -> TrainArgs {
    let matches = Cli::command()
        .name(name)
        .bin_name(name)
        .version(version)
        .get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(Cli {
            command: Command::Train(args),
        }) => args,
        Err(e) => e.exit(),
    }
}

/// As [`parse`], with a binary's own flags `E`, given before `train` (as the NumPy program's
/// `--backend`), besides the shared `train` flags.
pub fn parse_with<E: clap::Args + FromArgMatches>(
    name: &'static str,
    version: &'static str,
) -> (TrainArgs, E) {
    let matches = E::augment_args(Cli::command())
        .name(name)
        .bin_name(name)
        .version(version)
        .get_matches();
    match (
        Cli::from_arg_matches(&matches),
        E::from_arg_matches(&matches),
    ) {
        (
            Ok(Cli {
                command: Command::Train(args),
            }),
            Ok(extra),
        ) => (args, extra),
        (Err(e), _) | (_, Err(e)) => e.exit(),
    }
}

/// `--threads` (1 to 1024) and `--max-steps` (1 to 2^63 - 1, if given), as CONTRACT.md rules.
pub fn counts(threads: &str, max_steps: Option<&str>) -> Result<(usize, Option<usize>), Error> {
    let threads = int("--threads", threads, MAX_THREADS, "an integer in [1, 1024]")?;
    let max_steps = match max_steps {
        Some(k) => Some(int(
            "--max-steps",
            k,
            i64::MAX as u64,
            "an integer in [1, 2^63)",
        )?),
        None => None,
    };
    Ok((threads as usize, max_steps.map(|k| k as usize)))
}

/// An integer flag's value: ASCII digits for a number in [1, largest], else `BadFlag`.
fn int(flag: &'static str, text: &str, largest: u64, rule: &'static str) -> Result<u64, Error> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(n) if digits && (1..=largest).contains(&n) => Ok(n),
        _ => Err(Error::BadFlag {
            flag,
            rule,
            got: serde_json::to_string(text).unwrap_or_default(),
        }),
    }
}

/// On SIGINT or SIGTERM: one line, then exit 128 + the signal's number. Each metrics line is
/// one write, flushed, so the stream holds whole lines only.
pub fn exit_on_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            crate::modelfile::discard_temporary();
            eprintln!("error: interrupted by {name}");
            std::process::exit(128 + signal);
        }
    });
}
