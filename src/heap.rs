//! Heap bytes each thread holds, counted by a wrapper around the global allocator, so that the
//! flow table can charge every connection what handling its packets allocated — dialogue
//! strings, event lists, reassembly trees and all — instead of an estimate of it (`--memcap`).
//!
//! A program opts in by wrapping its allocator: `#[global_allocator] static A:
//! smtpdiag::heap::Metered<smtpdiag::heap::Mimalloc> = smtpdiag::heap::Metered(smtpdiag::heap::Mimalloc);`.
//! Without it [`thread_allocated`] stays 0 and the table falls back to its estimates. Each block
//! counts as its size class (see [`class`]), not the size asked for: a one-byte segment takes
//! eight bytes of heap, and a flood of them is held by what it takes.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (negative when it frees what another
    /// thread allocated).
    static ALLOCATED: Cell<isize> = const { Cell::new(0) };
}

/// Bytes this thread allocated minus those it freed, since it started (0 without [`Metered`]).
/// The difference of two readings around some work is what the work kept.
#[inline]
pub fn thread_allocated() -> isize {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

/// The size a block takes in the allocator: at least 8 bytes, multiples of 8 up to 64, then four
/// classes per power of two (mimalloc's bins; glibc's are close). A function of the size alone,
/// so the count is the same in every run and every thread.
pub fn class(size: usize) -> usize {
    if size <= 64 {
        return size.max(8).next_multiple_of(8);
    }
    let bits = usize::BITS - (size - 1).leading_zeros();
    size.next_multiple_of(1 << (bits - 3))
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
            add(class(layout.size()) as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            add(class(layout.size()) as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `alloc`.
        unsafe { self.0.dealloc(ptr, layout) };
        add(-(class(layout.size()) as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(class(new_size) as isize - class(layout.size()) as isize);
        }
        p
    }
}

/// mimalloc (the program's allocator) through its plain entry points where they do: the
/// `mimalloc` crate calls the aligned ones for every block, and their extra checks cost about
/// forty instructions on each of the half a million allocations of a 25 MB capture. Every
/// mimalloc block is aligned to a machine word (its size classes are whole words), so only a
/// stricter alignment needs the aligned calls.
pub struct Mimalloc;

const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each call goes to the mimalloc function for the layout: the plain ones only when the
// alignment asked for is at most a word, which every mimalloc block has; `mi_free` takes blocks
// from either.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; the caller's layout has a non-zero size.
        unsafe {
            if layout.align() <= WORD {
                libmimalloc_sys::mi_malloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if layout.align() <= WORD {
                libmimalloc_sys::mi_zalloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, as the caller promises.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) };
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `alloc`; the block keeps the alignment it was made with.
        unsafe {
            if layout.align() <= WORD {
                libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's own tests run on the metered allocator (lib.rs).
    #[test]
    fn what_a_thread_keeps_is_counted_by_size_class_and_what_it_frees_is_not() {
        let before = thread_allocated();
        let kept: Vec<u8> = Vec::with_capacity(10_000);
        assert_eq!(thread_allocated() - before, 10_240);
        let mut grown = vec![0u32; 10];
        assert_eq!(thread_allocated() - before, 10_240 + 40);
        grown.reserve_exact(90);
        assert_eq!(thread_allocated() - before, 10_240 + 448);
        let one = vec![1u8];
        assert_eq!(thread_allocated() - before, 10_240 + 448 + 8);
        drop((grown, kept, one));
        assert_eq!(thread_allocated() - before, 0);
    }

    #[test]
    fn mimalloc_blocks_have_the_alignment_asked_for() {
        let a = Mimalloc;
        for (size, align) in [(1, 1), (3, 2), (8, 8), (24, 8), (24, 16), (100, 32), (5000, 4096)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero sizes; every block is freed with its layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null() && (p as usize).is_multiple_of(align), "{size}/{align}");
                let q = a.realloc(p, layout, size * 3);
                assert!(!q.is_null() && (q as usize).is_multiple_of(align), "{size}/{align} grown");
                a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                let z = a.alloc_zeroed(layout);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                a.dealloc(z, layout);
            }
        }
    }

    #[test]
    fn size_classes() {
        let classes: Vec<usize> = [1, 8, 9, 64, 65, 80, 81, 128, 129, 200, 257, 4097].into_iter().map(class).collect();
        assert_eq!(classes, [8, 8, 16, 64, 80, 80, 96, 128, 160, 224, 320, 5120]);
    }
}
