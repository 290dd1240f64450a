//! The matrix product used everywhere, called on nalgebra's column-major buffers with explicit
//! strides, so transposes cost nothing and results are written in place.
//!
//! Two libraries, both dispatching on the CPU's features at run time (no `target-cpu=native`:
//! one binary runs on any x86-64 or AArch64 machine): matrixmultiply 0.3 (nalgebra's own; its
//! default `avx512` feature gives it AVX-512 kernels too, on Rust >= 1.89) and the gemm crate
//! 0.19 (faer's kernels; its `x86-v4` feature adds AVX-512 kernels on stable Rust).
//! The `mlp` binary picks between them by measurement (crate::tune); [`Kernel::detect`], a
//! guess by CPU flag (the gemm crate on AVX-512, matrixmultiply elsewhere), remains for library
//! users and benches that measure nothing. [`Kernel::Blas`] sends every product to a BLAS
//! library opened at run time (crate::blas).
//!
//! Why the guess and the threading are as they are (the figures behind this, with when, where
//! and how they were measured, are in rust_impl/README.md, section "Measured"): on AVX-512 the
//! gemm crate beat matrixmultiply on every large product on one thread; T threads each running
//! their own slice of the batch on one thread have more headroom (T times one thread's rate)
//! than the gemm crate's own threading of the whole batch reached, and on the thin 10-row
//! products that threading gained nothing or lost. Training therefore never uses the
//! library's threading; `threads` > 1 here serves
//! `BatchWorkspace::step`, kept for comparison (`cargo bench --bench step`). On an earlier AVX2
//! machine matrixmultiply was the faster one on the large products, so the guess keeps it for
//! CPUs without AVX-512.
//!
//! Thin products (under [`LARGE`] in any dimension, and the per-sample matrix-vector products)
//! go to the gemm crate, which has dedicated paths for them.

use nalgebra::{DMatrixView, DMatrixViewMut};

use crate::blas::Blas;

/// The library that computes the products of at least [`LARGE`] rows, columns and depth on one
/// thread (thin products, and products split over threads by the library, always use `gemm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// matrixmultiply 0.3, cache blocking kc 784 / mc 128 (`.cargo/config.toml`).
    MatrixMultiply,
    /// The `gemm` crate 0.19 (faer's kernels).
    Gemm,
    /// A BLAS library opened at run time (`--blas-library`): every product, thin ones too,
    /// threaded by the library itself (its thread count set once, at start).
    Blas(&'static Blas),
}

/// Smallest m, n and k for which a single-threaded product goes to the chosen [`Kernel`].
pub const LARGE: usize = 64;

impl Kernel {
    /// A guess by CPU flag (see the module doc); the binary measures instead.
    pub fn detect() -> Kernel {
        if simd() == "AVX-512" {
            Kernel::Gemm
        } else {
            Kernel::MatrixMultiply
        }
    }

    /// Whether the library threads each product itself, so that the training step and the
    /// scoring run on one Rust thread (as NumPy's do), not split over the rayon pool.
    pub fn threads_itself(self) -> bool {
        matches!(self, Kernel::Blas(_))
    }

    /// The name used in the kernel cache and the metrics: `gemm`, `matrixmultiply`, `blas`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::MatrixMultiply => "matrixmultiply",
            Kernel::Gemm => "gemm",
            Kernel::Blas(_) => "blas",
        }
    }

    /// What the metrics' "gemm" field says: the libraries and the SIMD level in use.
    pub fn describe(self) -> String {
        let libs = match self {
            Kernel::Blas(lib) => return lib.describe(1),
            Kernel::MatrixMultiply => format!(
                "matrixmultiply 0.3 sgemm (kc 784, mc 128) for products of at least {LARGE} rows, \
                 columns and depth, gemm 0.19 (faer) for the rest"
            ),
            Kernel::Gemm => "gemm 0.19 (faer) for every product".to_string(),
        };
        format!("{libs}; {} kernels", simd())
    }
}

/// The widest SIMD instruction set both libraries use on this CPU.
pub fn simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "AVX-512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "AVX2+FMA";
        }
        "SSE2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "NEON"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

/// A matrix operand, used as is or transposed (by swapping strides, without a copy).
#[derive(Clone, Copy)]
pub struct Op<'a> {
    view: DMatrixView<'a, f32>,
    transposed: bool,
}

impl<'a> Op<'a> {
    /// The matrix as stored.
    pub fn n(view: DMatrixView<'a, f32>) -> Self {
        Op {
            view,
            transposed: false,
        }
    }

    /// The transpose of the matrix.
    pub fn t(view: DMatrixView<'a, f32>) -> Self {
        Op {
            view,
            transposed: true,
        }
    }

    /// (rows, cols) of the operand as used.
    fn shape(&self) -> (usize, usize) {
        let (r, c) = self.view.shape();
        if self.transposed {
            (c, r)
        } else {
            (r, c)
        }
    }

    /// (row stride, column stride) of the operand as used.
    fn strides(&self) -> (isize, isize) {
        let (rs, cs) = self.view.strides();
        let (rs, cs) = (rs as isize, cs as isize);
        if self.transposed {
            (cs, rs)
        } else {
            (rs, cs)
        }
    }
}

/// dst = alpha * a * b, or dst += alpha * a * b when `accumulate`; `threads` > 1 splits the
/// product over the current rayon pool (gemm crate), 1 runs it on the calling thread with
/// `kernel` (large products) or the gemm crate (thin ones).
pub fn gemm(
    kernel: Kernel,
    dst: &mut DMatrixViewMut<f32>,
    a: Op,
    b: Op,
    alpha: f32,
    accumulate: bool,
    threads: usize,
) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "gemm: inner dimensions differ");
    assert_eq!(dst.shape(), (m, n), "gemm: destination shape differs");
    if m == 0 || n == 0 {
        return;
    }
    let (d_rs, d_cs) = dst.strides();
    let (d_rs, d_cs) = (d_rs as isize, d_cs as isize);
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    let large = m >= LARGE && n >= LARGE && k >= LARGE;
    #[cfg(feature = "alloc-count")]
    let _call = crate::alloc_count::KernelCall::enter();
    if let Kernel::Blas(lib) = kernel {
        // Column-major with unit row strides (every view here is a block of whole columns); a
        // transposed operand is the stored matrix with the library's transpose flag.
        let operand = |op: &Op| {
            let (rs, cs) = op.view.strides();
            assert_eq!(rs, 1, "gemm: BLAS operands need contiguous columns");
            (
                op.view.as_ptr(),
                cs.max(op.view.nrows()).max(1),
                op.transposed,
            )
        };
        assert_eq!(d_rs, 1, "gemm: BLAS destinations need contiguous columns");
        let ldc = (d_cs as usize).max(m).max(1);
        // SAFETY: shapes checked above; pointers and leading dimensions come from live views
        // of those shapes; `dst` is a unique borrow, so it aliases neither operand.
        unsafe {
            lib.sgemm(
                (m, n, k),
                alpha,
                operand(&a),
                operand(&b),
                if accumulate { 1.0 } else { 0.0 },
                (dst.as_mut_ptr(), ldc),
            );
        }
        return;
    }
    if threads <= 1 && large && kernel == Kernel::MatrixMultiply {
        // SAFETY: as for gemm below; matrixmultiply computes dst = alpha a b + beta dst.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                alpha,
                a.view.as_ptr(),
                a_rs,
                a_cs,
                b.view.as_ptr(),
                b_rs,
                b_cs,
                if accumulate { 1.0 } else { 0.0 },
                dst.as_mut_ptr(),
                d_rs,
                d_cs,
            );
        }
        return;
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the shapes are checked above, the strides and pointers come from live nalgebra
    // views of those shapes, and `dst` is a unique borrow, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            d_cs,
            d_rs,
            accumulate,
            a.view.as_ptr(),
            a_cs,
            a_rs,
            b.view.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}
