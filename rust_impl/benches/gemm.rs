//! GFLOP/s of the product kernels on this network's shapes (784-256-10), through `linalg::gemm`
//! exactly as training calls it: matrixmultiply and the gemm crate on one thread, and the gemm
//! crate's own threading, for whole mini-batches of 512 and the slices that data-parallel
//! training gives each thread (256 at 2 threads, 128 at 4).
//!
//!     cargo bench --bench gemm [-- THREADS...]     (gemm crate threading; default 2)

use std::time::Instant;

use nalgebra::DMatrix;

use mlp::linalg::{gemm, simd, Kernel, Op, LARGE};

/// One product: dst(m x n) = A B with A (m x k) and B (k x n), each stored or transposed.
struct Shape {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
}

/// The network's products for `b` samples: forward, weight gradient and back-propagated delta.
fn shapes(b: usize) -> [Shape; 5] {
    let s = |name, m, n, k, a_t, b_t| Shape {
        name,
        m,
        n,
        k,
        a_t,
        b_t,
    };
    [
        s("fwd  W1 X      256x784 * 784xB", 256, b, 784, false, false),
        s("grad D1 X^T    256xB * Bx784", 256, 784, b, false, true),
        s("fwd  W2 A1     10x256 * 256xB", 10, b, 256, false, false),
        s("grad D2 A1^T   10xB * Bx256", 10, 256, b, false, true),
        s("back W2^T D2   256x10 * 10xB", 256, b, 10, true, false),
    ]
}

/// The stored matrix `m`, or its transpose.
fn op(m: &DMatrix<f32>, transposed: bool) -> Op<'_> {
    if transposed {
        Op::t(m.as_view())
    } else {
        Op::n(m.as_view())
    }
}

/// Best mean seconds per call over 5 repeats of 20 calls, after one warm-up call.
fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..20 {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / 20.0);
    }
    best
}

fn main() {
    let threads: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = if threads.is_empty() { vec![2] } else { threads };
    println!(
        "SIMD: {}; Kernel::detect() = {:?}; GFLOP/s, best of 5 x 20 calls",
        simd(),
        Kernel::detect()
    );
    for b in [512, 256, 128] {
        println!("B = {b}");
        for s in shapes(b) {
            let (ar, ac) = if s.a_t { (s.k, s.m) } else { (s.m, s.k) };
            let (br, bc) = if s.b_t { (s.n, s.k) } else { (s.k, s.n) };
            let a = DMatrix::from_fn(ar, ac, |i, j| ((i * 7 + j * 3) % 13) as f32 * 0.01 - 0.06);
            let bm = DMatrix::from_fn(br, bc, |i, j| ((i * 5 + j) % 11) as f32 * 0.01 - 0.05);
            let mut c = DMatrix::<f32>::zeros(s.m, s.n);
            let flops = 2.0 * (s.m * s.n * s.k) as f64;
            let mut run = |kernel, t| {
                let secs = time(|| {
                    gemm(
                        kernel,
                        &mut c.as_view_mut(),
                        op(&a, s.a_t),
                        op(&bm, s.b_t),
                        1.0,
                        false,
                        t,
                    )
                });
                flops / secs / 1e9
            };
            // Thin products go to the gemm crate whatever the kernel: no matrixmultiply figure.
            let mm = if s.m.min(s.n).min(s.k) >= LARGE {
                format!("{:6.1}", run(Kernel::MatrixMultiply, 1))
            } else {
                format!("{:>6}", "-")
            };
            let g1 = run(Kernel::Gemm, 1);
            print!("  {}  matrixmultiply {mm}  gemm[1t] {g1:6.1}", s.name);
            for &t in &threads {
                print!("  gemm[{t}t] {:6.1}", run(Kernel::Gemm, t));
            }
            println!();
        }
    }
}
