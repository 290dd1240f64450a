//! Every user-facing failure, each displayed as the one line CONTRACT.md prescribes.

use std::io;
use std::path::Path;

/// A failure that ends the program: bad input (exit 2) or divergence (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file (spec, data, model) that could not be read.
    #[error("error: {path}: cannot read: {reason}")]
    CannotRead { path: String, reason: String },
    /// A spec file longer than any spec needs (`/dev/zero`, a data file given as the spec).
    #[error("error: {path}: expected a spec of at most {limit} bytes, found more")]
    SpecTooLarge { path: String, limit: u64 },
    /// The spec is not JSON.
    #[error("error: {path}: not valid JSON (line {line}, column {column})")]
    NotJson {
        path: String,
        line: usize,
        column: usize,
    },
    /// The spec is JSON but not an object.
    #[error("error: {path}: expected a JSON object at the top level")]
    NotObject { path: String },
    /// A key the spec format does not define.
    #[error("error: {path}: unknown key \"{key}\" in {place} (allowed: {allowed})")]
    UnknownKey {
        path: String,
        key: String,
        place: String,
        allowed: String,
    },
    /// A key the spec format requires.
    #[error("error: {path}: missing key \"{key}\" in {place}")]
    MissingKey {
        path: String,
        key: String,
        place: String,
    },
    /// A command-line flag whose value is outside its rule; `got` is the text as a JSON string.
    #[error("error: {flag}: expected {rule}, got {got}")]
    BadFlag {
        flag: &'static str,
        rule: &'static str,
        got: String,
    },
    /// A spec value outside its rule; `got` is compact JSON.
    #[error("error: {path}: {field}: expected {rule}, got {got}")]
    BadValue {
        path: String,
        field: String,
        rule: String,
        got: String,
    },
    /// Neither the raw nor the gzipped IDX file exists.
    #[error("error: {dir}/{name}: not found (nor {name}.gz); expected the four MNIST IDX files in dataset.dir")]
    DataMissing { dir: String, name: String },
    /// An IDX file whose magic number is not the expected one.
    #[error("error: {path}: bad magic number 0x{found:08x}, expected 0x{expected:08x} ({kind})")]
    BadMagic {
        path: String,
        found: u32,
        expected: u32,
        kind: &'static str,
    },
    /// An IDX file shorter than its header.
    #[error(
        "error: {path}: truncated: expected a {expected}-byte IDX header, found {found} bytes"
    )]
    ShortHeader {
        path: String,
        expected: usize,
        found: usize,
    },
    /// An IDX file with fewer payload bytes than its header announces (count x rows x cols of
    /// three u32 header words can exceed 64 bits).
    #[error("error: {path}: truncated: expected {expected} bytes after the header, found {found}")]
    Truncated {
        path: String,
        expected: u128,
        found: usize,
    },
    /// Label and image files of one split that disagree on the sample count.
    #[error("error: {labels}: {n_labels} labels but {images} has {n_images} images")]
    CountMismatch {
        labels: String,
        n_labels: usize,
        images: String,
        n_images: usize,
    },
    /// Test images whose size differs from the training images.
    #[error("error: {test}: images are {test_rows}x{test_cols} pixels but {train} has {train_rows}x{train_cols}")]
    ImageSizeMismatch {
        test: String,
        test_rows: usize,
        test_cols: usize,
        train: String,
        train_rows: usize,
        train_cols: usize,
    },
    /// An IDX file that holds no samples.
    #[error("error: {path}: holds no samples, expected at least one")]
    Empty { path: String },
    /// A label byte that is not a digit.
    #[error("error: {path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        path: String,
        label: u8,
        index: usize,
    },
    /// A `.gz` file that does not decompress.
    #[error("error: {path}: not a valid gzip stream")]
    BadGzip { path: String },
    /// A model file that is not safetensors.
    #[error("error: {path}: not a safetensors file")]
    NotSafetensors { path: String },
    /// A model file without a tensor the network needs.
    #[error("error: {path}: missing tensor \"{name}\"")]
    MissingTensor { path: String, name: String },
    /// A model tensor whose shape does not match the spec's layers.
    #[error("error: {path}: tensor \"{name}\" has shape {found:?}, expected {expected:?}")]
    TensorShape {
        path: String,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A model tensor holding NaN or an infinity.
    #[error("error: {path}: tensor \"{name}\" holds a non-finite value")]
    NonFinite { path: String, name: String },
    /// A model tensor that is not float32.
    #[error("error: {path}: tensor \"{name}\" has dtype {dtype}, expected F32")]
    TensorDtype {
        path: String,
        name: String,
        dtype: String,
    },
    /// The metrics file cannot be opened for appending.
    #[error("error: {path}: cannot open metrics file for appending: {reason}")]
    MetricsOpen { path: String, reason: String },
    /// A metrics line cannot be written.
    #[error("error: {path}: cannot write metrics file: {reason}")]
    MetricsWrite { path: String, reason: String },
    /// The trained model cannot be written.
    #[error("error: {path}: cannot write model file: {reason}")]
    SaveModel { path: String, reason: String },
    /// A `--blas-library` that cannot be loaded or lacks a 64-bit-integer sgemm.
    #[error("error: {path}: {what}")]
    BlasLibrary { path: String, what: String },
    /// The compute threads cannot be started.
    #[error("error: cannot start {threads} compute threads: {reason}")]
    Threads { threads: usize, reason: String },
    /// The loss of a mini-batch is NaN or infinite.
    #[error("error: training diverged: loss is not finite at epoch {epoch}, step {step}")]
    Diverged { epoch: usize, step: usize },
}

impl Error {
    /// The process exit status for this failure: 3 for divergence, 2 for bad input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Diverged { .. } => 3,
            _ => 2,
        }
    }
}

/// The C library's text for an I/O error, without Rust's ` (os error N)` suffix.
pub fn os_reason(e: &io::Error) -> String {
    without_os_error(&e.to_string())
}

/// An error's text without the ` (os error N)` that Rust appends to an OS error's reason.
pub fn without_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// The bytes of a file (spec, data, model); a failure is `CannotRead`, naming it as `shown`.
/// With `Some(limit)` reading stops after `limit + 1` bytes (the file may be endless, like
/// `/dev/zero`), so more than `limit` bytes back means the file is longer than that.
pub fn read_file(path: &Path, shown: &str, limit: Option<u64>) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let read = || match limit {
        None => std::fs::read(path),
        Some(limit) => {
            let mut bytes = Vec::new();
            std::fs::File::open(path)?
                .take(limit + 1)
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        }
    };
    read().map_err(|e| Error::CannotRead {
        path: shown.to_string(),
        reason: os_reason(&e),
    })
}
