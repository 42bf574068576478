//! The table's large arrays, on transparent huge pages where the kernel offers them.
//!
//! A table of a million connections spans over 100 MiB, and every lookup reads one random index
//! bucket and one random entry: with 4 KiB pages each of those reads also misses the TLB (a page
//! walk of its own, often from memory). With `transparent_hugepage` in `madvise` mode (Debian's
//! default) the kernel backs a range with 2 MiB pages only when asked, and only on its first touch,
//! so the advice goes between the allocation and the initialisation. Where there is no THP the
//! advice fails harmlessly and the arrays stay on small pages.

/// Huge page size the advice aims at (x86-64 and most arm64 kernels).
const HUGE_PAGE: usize = 2 << 20;
/// Smaller arrays are left alone: they fit the TLB's reach anyway.
const MIN_ADVISED: usize = 4 * HUGE_PAGE;

/// `n` copies of `value` in one boxed slice; large slices are advised onto huge pages before their
/// first touch.
pub(crate) fn filled<T: Copy>(n: usize, value: T) -> Box<[T]> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise_huge(v.as_mut_ptr().cast::<u8>(), n * core::mem::size_of::<T>());
    v.resize(n, value);
    v.into_boxed_slice()
}

#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    if len < MIN_ADVISED {
        return;
    }
    // The whole huge pages inside [ptr, ptr + len).
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize + len) / HUGE_PAGE * HUGE_PAGE;
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside the allocation the caller just made and owns, page-aligned;
    // MADV_HUGEPAGE only changes how the kernel backs those pages, never their contents or mapping,
    // and its failure (no THP in this kernel) leaves everything as it was.
    let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_holds_the_value_small_and_large() {
        let small = filled(10, 7u32);
        assert_eq!(&*small, &[7; 10]);
        let large = filled(MIN_ADVISED / 8 + 3, 0x5a5a_u64);
        assert_eq!(large.len(), MIN_ADVISED / 8 + 3);
        assert!(large.iter().all(|&x| x == 0x5a5a));
        assert!(filled::<u8>(0, 1).is_empty());
    }
}
