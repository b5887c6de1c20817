//! Heap bytes each thread holds, counted by a wrapper around the global allocator, so that the
//! flow table can charge every connection what handling its packets allocated — dialogue
//! strings, event lists, reassembly trees and all — instead of an estimate of it (`--memcap`).
//!
//! A program opts in by wrapping its allocator: `#[global_allocator] static A:
//! smtpdiag::heap::Metered<mimalloc::MiMalloc> = smtpdiag::heap::Metered(mimalloc::MiMalloc);`.
//! Without it [`thread_allocated`] stays 0 and the table falls back to its estimates. The count
//! is of the sizes asked for: the allocator's rounding to its size classes is not in it.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (negative when it frees what another
    /// thread allocated).
    static ALLOCATED: Cell<isize> = const { Cell::new(0) };
}

/// Bytes this thread allocated minus those it freed, since it started (0 without [`Metered`]).
/// The difference of two readings around some work is what the work kept.
pub fn thread_allocated() -> isize {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

fn add(bytes: isize) {
    // After the thread's locals are gone (its last frees) there is nothing left to count for.
    let _ = ALLOCATED.try_with(|c| c.set(c.get().wrapping_add(bytes)));
}

/// A global allocator that counts, per thread, the bytes it hands out and takes back.
pub struct Metered<A>(pub A);

// SAFETY: every call is passed to the wrapped allocator unchanged; the count only adds to a
// thread-local integer (no allocation, no lock).
unsafe impl<A: GlobalAlloc> GlobalAlloc for Metered<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `alloc`.
        unsafe { self.0.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's own tests run on the metered allocator (lib.rs).
    #[test]
    fn what_a_thread_keeps_is_counted_and_what_it_frees_is_not() {
        let before = thread_allocated();
        let kept: Vec<u8> = Vec::with_capacity(10_000);
        assert_eq!(thread_allocated() - before, 10_000);
        let mut grown = vec![0u32; 10];
        grown.reserve_exact(90);
        assert_eq!(thread_allocated() - before, 10_400);
        drop(grown);
        drop(kept);
        assert_eq!(thread_allocated() - before, 0);
    }
}
