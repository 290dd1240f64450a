//! The matrix product used everywhere, called on nalgebra's column-major buffers with explicit
//! strides, so transposes cost nothing and results are written in place.
//!
//! Kernel choice, measured on the 2-core AVX2 machine (`cargo bench --bench gemm` for the
//! products alone, `benchmarks/epoch_times.py` for whole epochs): matrixmultiply (nalgebra's
//! own kernel) gives the faster 1-thread epoch on the large products (256x784x512), by about
//! 6 % more with its k-blocking set to 784 (`.cargo/config.toml`: one k-block for the 784
//! inputs instead of 256+256+256+16); the `gemm` crate (faer's kernels, runtime SIMD dispatch)
//! is faster on the thin ones (10 rows) and with several threads. Splitting the output's
//! columns over threads, each running matrixmultiply, was tried and measured slower on 2
//! threads than the gemm crate's own threading.

use nalgebra::{DMatrixView, DMatrixViewMut};

/// Name of the product kernel, reported in the metrics start event.
pub const KERNEL: &str =
    "matrixmultiply 0.3 sgemm, kc 784 mc 128 (1 thread, all dims >= 64), else gemm 0.18 (faer)";

/// Smallest m, n and k for which a single-threaded product goes to matrixmultiply.
const LARGE: usize = 64;

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
/// product over the current rayon pool (gemm crate).
pub fn gemm(
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
    let (a_rs, a_cs) = a.strides();
    let (b_rs, b_cs) = b.strides();
    if threads <= 1 && m >= LARGE && n >= LARGE && k >= LARGE {
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
                d_rs as isize,
                d_cs as isize,
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
            d_cs as isize,
            d_rs as isize,
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
