//! The CLI's own checks: the integer flags' values and the signals that end a run.

use mlp::error::Error;

/// The most compute threads `--threads` accepts.
const MAX_THREADS: u64 = 1024;

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
            eprintln!("error: interrupted by {name}");
            std::process::exit(128 + signal);
        }
    });
}
