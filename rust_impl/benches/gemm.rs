//! Prints GFLOP/s of matrixmultiply (nalgebra's own product) and the `gemm` crate for this network's shapes.

use std::time::Instant;

/// One product C(m x n) = A(m x k) B(k x n), strides given as (row stride, column stride).
struct Shape {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
}

/// Strides (rs, cs) of the operand held in a column-major buffer of `rows` stored rows: the
/// buffer itself, or (transposed) the transpose view of it, whose row stride is `rows`.
fn strides(rows: usize, transposed: bool) -> (isize, isize) {
    if transposed {
        (rows as isize, 1)
    } else {
        (1, rows as isize)
    }
}

fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..10 {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / 10.0);
    }
    best
}

fn main() {
    let b = 512;
    let shapes = [
        Shape {
            name: "fwd  W1 X      256x784 * 784x512",
            m: 256,
            n: b,
            k: 784,
            a_t: false,
            b_t: false,
        },
        Shape {
            name: "grad D1 X^T    256x512 * 512x784",
            m: 256,
            n: 784,
            k: b,
            a_t: false,
            b_t: true,
        },
        Shape {
            name: "fwd  W2 A1     10x256 * 256x512",
            m: 10,
            n: b,
            k: 256,
            a_t: false,
            b_t: false,
        },
        Shape {
            name: "grad D2 A1^T   10x512 * 512x256",
            m: 10,
            n: 256,
            k: b,
            a_t: false,
            b_t: true,
        },
        Shape {
            name: "back W2^T D2   256x10 * 10x512",
            m: 256,
            n: b,
            k: 10,
            a_t: true,
            b_t: false,
        },
    ];
    let threads: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = if threads.is_empty() {
        vec![1, 2]
    } else {
        threads
    };
    for s in &shapes {
        let (ar, ac) = if s.a_t { (s.k, s.m) } else { (s.m, s.k) };
        let (br, bc) = if s.b_t { (s.n, s.k) } else { (s.k, s.n) };
        let a: Vec<f32> = (0..ar * ac)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.01)
            .collect();
        let bm: Vec<f32> = (0..br * bc)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.01)
            .collect();
        let mut c = vec![0f32; s.m * s.n];
        let (ars, acs) = strides(ar, s.a_t);
        let (brs, bcs) = strides(br, s.b_t);
        let flops = 2.0 * (s.m * s.n * s.k) as f64;
        let mm = time(|| unsafe {
            matrixmultiply::sgemm(
                s.m,
                s.k,
                s.n,
                1.0,
                a.as_ptr(),
                ars,
                acs,
                bm.as_ptr(),
                brs,
                bcs,
                0.0,
                c.as_mut_ptr(),
                1,
                s.m as isize,
            )
        });
        print!(
            "{}  matrixmultiply {:6.1} GFLOP/s",
            s.name,
            flops / mm / 1e9
        );
        for &t in &threads {
            let par = if t == 1 {
                gemm::Parallelism::None
            } else {
                gemm::Parallelism::Rayon(t)
            };
            let g = time(|| unsafe {
                gemm::gemm(
                    s.m,
                    s.n,
                    s.k,
                    c.as_mut_ptr(),
                    s.m as isize,
                    1,
                    false,
                    a.as_ptr(),
                    acs,
                    ars,
                    bm.as_ptr(),
                    bcs,
                    brs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            });
            print!("  gemm[{t}t] {:6.1} GFLOP/s", flops / g / 1e9);
        }
        println!();
    }
}
