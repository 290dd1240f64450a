//! A test-only hook, compiled in only with the `alloc-count` feature (which `cargo test`
//! enables through the package's dev-dependency on itself; `cargo build` leaves it out): it
//! marks the calls into the product kernels, so that the counting global allocator of
//! `tests/alloc.rs` can tell the kernels' allocations from the training loop's own.
//!
//! Both product libraries allocate packing scratch on every large product (matrixmultiply one
//! buffer, the gemm crate up to three), and neither takes scratch from the caller.

use std::cell::Cell;

thread_local! {
    static IN_KERNEL: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a product kernel (`linalg::gemm`).
pub fn in_kernel() -> bool {
    IN_KERNEL.try_with(Cell::get).unwrap_or(false)
}

/// Marks the calling thread as inside a kernel until dropped.
pub(crate) struct KernelCall;

impl KernelCall {
    pub(crate) fn enter() -> Self {
        IN_KERNEL.with(|f| f.set(true));
        KernelCall
    }
}

impl Drop for KernelCall {
    fn drop(&mut self) {
        IN_KERNEL.with(|f| f.set(false));
    }
}
