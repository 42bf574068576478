//! The time-stamp counter, the fast path's clock.
//!
//! Workers read the TSC once per burst to drive timers, so reading it must cost no FFI call: on
//! x86-64 it is the `rdtsc` instruction inline (what `rte_rdtsc` compiles to); elsewhere it goes
//! through the shim. The frequency comes from EAL's calibration ([`crate::Eal::tsc_hz`]).

/// The current TSC value in cycles.
#[inline]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc has no preconditions and every x86-64 CPU implements it.
    let tsc = unsafe { core::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: vsd_rdtsc wraps rte_rdtsc, which has no preconditions.
    let tsc = unsafe { crate::sys::vsd_rdtsc() };
    tsc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsc_advances_and_agrees_with_dpdk() {
        let a = rdtsc();
        // SAFETY: rte_rdtsc via the shim has no preconditions.
        let b = unsafe { crate::sys::vsd_rdtsc() };
        std::thread::sleep(std::time::Duration::from_millis(2));
        let c = rdtsc();
        assert!(a <= b && b < c, "{a} {b} {c}");
    }
}
