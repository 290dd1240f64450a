//! The step loop and the scoring pass allocate nothing after the first step (a counting global
//! allocator). The product kernels' own packing scratch is counted apart: both libraries
//! allocate it on every call of a large product, and no public API lets a caller supply it.
//! The mark "inside a kernel" comes from the library's test-only `alloc-count` feature, which
//! the package's dev-dependency on itself turns on for test builds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nalgebra::DMatrix;

use mlp::alloc_count::in_kernel;
use mlp::linalg::Kernel;
use mlp::model::Mlp;
use mlp::spec::{Activation, Output};
use mlp::train::{Algorithm, Options, Trainer};

/// The system allocator, counting allocations and reallocations on every thread: those made
/// inside a product kernel and all the others.
struct Counting;

static OURS: AtomicUsize = AtomicUsize::new(0);
static KERNELS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    let counter = if in_kernel() { &KERNELS } else { &OURS };
    counter.fetch_add(1, Ordering::SeqCst);
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (our allocations, kernel allocations) made while `f` runs.
fn allocations(f: impl FnOnce()) -> (usize, usize) {
    let (ours, kernels) = (OURS.load(Ordering::SeqCst), KERNELS.load(Ordering::SeqCst));
    f();
    (
        OURS.load(Ordering::SeqCst) - ours,
        KERNELS.load(Ordering::SeqCst) - kernels,
    )
}

// One test function only: the counters are global, and tests in one binary run in parallel.
#[test]
fn steps_after_the_first_and_scoring_allocate_nothing_outside_the_product_kernels() {
    let (inputs, n, batch) = (784, 600, 128);
    let x = DMatrix::from_fn(inputs, n, |i, j| ((i * 7 + j * 13) % 17) as f32 / 17.0);
    let labels: Vec<u8> = (0..n).map(|j| (j % 10) as u8).collect();
    for kernel in [Kernel::Gemm, Kernel::MatrixMultiply] {
        for algorithm in [Algorithm::Batched, Algorithm::PerSample] {
            for threads in [1, 2, 4] {
                let what = format!("{kernel:?}, {algorithm:?}, {threads} threads");
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut model = Mlp::he_normal(
                    &[inputs, 256, 10],
                    Activation::Relu,
                    Output::SoftmaxCrossEntropy,
                    1,
                );
                let opts = Options {
                    algorithm,
                    threads,
                    kernel,
                    max_steps: None,
                };
                let mut trainer = Trainer::new(&model, batch, &opts);
                pool.install(|| {
                    // The first step and the first scoring pass may set up thread-local state.
                    trainer.step(&mut model, x.columns(0, batch), &labels[..batch], 0.1);
                    trainer.count_correct(&model, &x, &labels);
                    let (ours, kernels) = allocations(|| {
                        // Steps 2-5; the last batch (88 samples) is smaller than the others.
                        for start in (batch..n).step_by(batch) {
                            let b = batch.min(n - start);
                            let y = &labels[start..start + b];
                            let loss = trainer.step(&mut model, x.columns(start, b), y, 0.1);
                            assert!(loss.is_finite(), "{what}: loss {loss}");
                        }
                    });
                    assert_eq!(ours, 0, "{what}: steps 2-5 allocated {ours} times");
                    if algorithm == Algorithm::PerSample {
                        // Matrix-vector products and rank-1 updates need no packing.
                        assert_eq!(kernels, 0, "{what}: the kernels allocated {kernels} times");
                    }
                    println!("{what}: steps 2-5: {kernels} allocations inside the kernels");
                    let (ours, kernels) = allocations(|| {
                        trainer.count_correct(&model, &x, &labels);
                    });
                    assert_eq!(ours, 0, "{what}: scoring allocated {ours} times");
                    println!("{what}: scoring: {kernels} allocations inside the kernels");
                });
            }
        }
    }
}
