//! Milliseconds per batched SGD step of the 784-256-10 network (batch 512), by strategy:
//! one thread; T threads splitting the batch (data-parallel, what training uses); T threads
//! splitting each product (the gemm crate's own threading) — for both kernels.
//!
//!     cargo bench --bench step [-- THREADS...]     (default 2)

use std::time::Instant;

use nalgebra::DMatrix;

use mlp::linalg::{simd, Kernel};
use mlp::model::{BatchWorkspace, DataParallel, Mlp};
use mlp::spec::{Activation, Output};

const BATCH: usize = 512;

/// Best mean milliseconds per call over 5 repeats of 20 calls, after 3 warm-up calls.
fn time<F: FnMut()>(mut f: F) -> f64 {
    (0..3).for_each(|_| f());
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..20 {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e3 / 20.0);
    }
    best
}

fn main() {
    let threads: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = if threads.is_empty() { vec![2] } else { threads };
    let x = DMatrix::from_fn(784, BATCH, |i, j| ((i * 7 + j * 13) % 17) as f32 / 17.0);
    let labels: Vec<u8> = (0..BATCH).map(|j| (j % 10) as u8).collect();
    let fresh = || {
        Mlp::he_normal(
            &[784, 256, 10],
            Activation::Relu,
            Output::SoftmaxCrossEntropy,
            1,
        )
    };
    // Tiny steps: the weights stay in range however many steps are timed.
    let lr = 1e-6;
    println!(
        "SIMD: {}; ms per step (784-256-10, batch {BATCH}), best of 5 x 20",
        simd()
    );
    for kernel in [Kernel::MatrixMultiply, Kernel::Gemm] {
        let mut model = fresh();
        let mut one = DataParallel::new(&model, BATCH, 1, kernel);
        let t1 = time(|| {
            one.step(&mut model, x.as_view(), &labels, lr);
        });
        print!("{kernel:?}: 1 thread {t1:6.2}");
        for &t in &threads {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            let mut model = fresh();
            let mut dp = DataParallel::new(&model, BATCH, t, kernel);
            let data_parallel = pool.install(|| {
                time(|| {
                    dp.step(&mut model, x.as_view(), &labels, lr);
                })
            });
            let mut model = fresh();
            let mut ws = BatchWorkspace::with_kernel(&model, BATCH, kernel);
            let split_products = pool.install(|| {
                time(|| {
                    ws.step(&mut model, x.as_view(), &labels, Some(lr), t);
                })
            });
            print!(
                "  {t} threads: data-parallel {data_parallel:6.2}, products split {split_products:6.2}"
            );
        }
        println!();
    }
}
