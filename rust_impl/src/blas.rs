//! A BLAS library opened at run time (`--blas-library PATH`): every matrix product through its
//! `cblas_sgemm`, threaded by the library itself. Its purpose is NumPy's own OpenBLAS, the
//! file threadpoolctl names (NumPy 2's wheel: `numpy.libs/libscipy_openblas64_-*.so`), so that
//! the Rust step and NumPy's run the very same kernels and only the code around them differs.
//!
//! Only 64-bit-integer (ILP64) OpenBLAS builds are taken, found by their exported names, in
//! this order: `scipy_cblas_sgemm64_` (scipy-openblas64, NumPy >= 2), `cblas_sgemm64_`
//! (OpenBLAS built with the `64_` suffix, NumPy 1.22-1.26 wheels, Debian's libopenblas64), and
//! plain `cblas_sgemm` when `openblas_get_config()` says `USE64BITINT`. Each comes with its
//! `openblas_set_num_threads` and `openblas_get_config` under the same prefix and suffix. A
//! 32-bit-integer build would read the 64-bit sizes passed here as garbage, so it is refused.

use std::ffi::{c_char, c_int, CStr};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// `cblas_sgemm` of an ILP64 build: order, transposes (C enums), sizes and strides as i64.
type Sgemm = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    i64,
    i64,
    i64,
    f32,
    *const f32,
    i64,
    *const f32,
    i64,
    f32,
    *mut f32,
    i64,
);
/// `openblas_set_num_threads(int)` (an `int` in every build).
type SetThreads = unsafe extern "C" fn(c_int);
/// `openblas_get_config(void)`: a static string such as `OpenBLAS 0.3.31 USE64BITINT ...`.
type GetConfig = unsafe extern "C" fn() -> *const c_char;

const COL_MAJOR: c_int = 102;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

/// The symbol names of one ILP64 naming scheme: sgemm, set_num_threads, get_config.
const SCHEMES: [[&str; 3]; 3] = [
    [
        "scipy_cblas_sgemm64_",
        "scipy_openblas_set_num_threads64_",
        "scipy_openblas_get_config64_",
    ],
    [
        "cblas_sgemm64_",
        "openblas_set_num_threads64_",
        "openblas_get_config64_",
    ],
    [
        "cblas_sgemm",
        "openblas_set_num_threads",
        "openblas_get_config",
    ],
];

/// What the library must export, for the error lines.
const EXPECTED: &str = "expected a 64-bit-integer OpenBLAS (exporting scipy_cblas_sgemm64_ \
                        as NumPy's wheel does, cblas_sgemm64_, or cblas_sgemm built with \
                        USE64BITINT)";

/// An opened BLAS library and the three functions used from it.
pub struct Blas {
    sgemm: Sgemm,
    set_threads: SetThreads,
    /// The file as given.
    pub path: PathBuf,
    /// `openblas_get_config()`'s text: version, integer width, kernel (`SkylakeX`), threads.
    pub config: String,
    /// The sgemm symbol used.
    pub symbol: &'static str,
    // Last: dropped after the function pointers, which point into it.
    _library: libloading::Library,
}

impl fmt::Debug for Blas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blas({}, {})", self.path.display(), self.config)
    }
}

impl PartialEq for Blas {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Blas {}

impl Blas {
    /// Opens `path` and finds an ILP64 sgemm in it; a failure is one line naming the file and
    /// what it lacks (exit 2).
    pub fn open(path: &Path) -> Result<Blas, Error> {
        let shown = path.display().to_string();
        let bad = |what: String| Error::BlasLibrary {
            path: shown.clone(),
            what,
        };
        // SAFETY: loading runs the library's initialisers; a BLAS library's only start its
        // thread pool. The file is the user's choice, like any program they run.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
            let reason = e.to_string();
            // dlerror repeats the path: keep what follows it.
            let reason = reason.rsplit(": ").next().unwrap_or(&reason).to_string();
            bad(format!("cannot load as a shared library: {reason}"))
        })?;
        let has = |name: &str| unsafe { library.get::<*const ()>(name.as_bytes()).is_ok() };
        let Some(scheme) = SCHEMES.iter().find(|s| has(s[0])) else {
            return Err(bad(format!("no cblas sgemm in it; {EXPECTED}")));
        };
        let [sgemm_name, threads_name, config_name] = *scheme;
        // SAFETY: the signatures are OpenBLAS's (cblas.h, openblas_config.h) for these names.
        let config_fn =
            unsafe { library.get::<GetConfig>(config_name.as_bytes()) }.map_err(|_| {
                bad(format!(
                    "exports {sgemm_name} but not {config_name}, so its integer width cannot be \
                 told; {EXPECTED}"
                ))
            })?;
        // SAFETY: a static NUL-terminated string inside the library.
        let config = unsafe { CStr::from_ptr(config_fn()) }
            .to_string_lossy()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if sgemm_name == "cblas_sgemm" && !config.contains("USE64BITINT") {
            return Err(bad(format!(
                "a 32-bit-integer BLAS (cblas_sgemm, and \"{config}\" has no USE64BITINT); \
                 {EXPECTED}"
            )));
        }
        let sgemm = *unsafe { library.get::<Sgemm>(sgemm_name.as_bytes()) }
            .map_err(|_| bad(format!("missing symbol {sgemm_name}")))?;
        let set_threads = *unsafe { library.get::<SetThreads>(threads_name.as_bytes()) }
            .map_err(|_| bad(format!("missing symbol {threads_name}; {EXPECTED}")))?;
        Ok(Blas {
            sgemm,
            set_threads,
            path: path.to_path_buf(),
            config,
            symbol: sgemm_name,
            _library: library,
        })
    }

    /// Sets the library's own thread count (every later product uses that many threads).
    pub fn set_threads(&self, threads: usize) {
        // SAFETY: a plain setter; the count is within 1..=1024 (checked by the CLI).
        unsafe { (self.set_threads)(c_int::try_from(threads).unwrap_or(c_int::MAX)) }
    }

    /// C = alpha op(A) op(B) + beta C on column-major buffers: `(m, n, k)`, each operand as
    /// (pointer, leading dimension, transposed).
    ///
    /// # Safety
    /// The pointers must address matrices of those shapes and leading dimensions (each at
    /// least the stored rows, and at least 1), and `c` must alias neither operand.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn sgemm(
        &self,
        (m, n, k): (usize, usize, usize),
        alpha: f32,
        a: (*const f32, usize, bool),
        b: (*const f32, usize, bool),
        beta: f32,
        c: (*mut f32, usize),
    ) {
        let trans = |t: bool| if t { TRANS } else { NO_TRANS };
        let i = |v: usize| v as i64;
        (self.sgemm)(
            COL_MAJOR,
            trans(a.2),
            trans(b.2),
            i(m),
            i(n),
            i(k),
            alpha,
            a.0,
            i(a.1),
            b.0,
            i(b.1),
            beta,
            c.0,
            i(c.1),
        );
    }

    /// What the metrics' "gemm" field says for this library.
    pub fn describe(&self, threads: usize) -> String {
        format!(
            "{} ({}) via {} for every product, {threads} thread{} set by the library's own \
             openblas_set_num_threads",
            self.path.display(),
            self.config,
            self.symbol,
            if threads == 1 { "" } else { "s" }
        )
    }
}
