//! Errors of the DPDK wrappers.
//!
//! DPDK reports failures two ways: ethdev calls return `-errno`, while calls that return a pointer
//! (mempools, rings) or a count (`rte_eal_init`) leave the code in the thread-local `rte_errno`. Both
//! end up in [`Error::Dpdk`], which names the failing call with its arguments and carries
//! `rte_strerror`'s text, so a log line reads `rte_eth_dev_configure(port 0): Invalid argument` with
//! no lookup. These errors belong to setup and control paths: the burst fast path returns counts.

use std::ffi::{c_int, CStr};

use crate::sys;

/// A failed DPDK setup or control call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A DPDK call failed; `call` names it with its arguments, `text` is `rte_strerror(errno)`.
    #[error("{call}: {text}")]
    Dpdk { call: String, errno: i32, text: String },
    /// `rte_eal_init` may succeed once per process.
    #[error("EAL is already initialised in this process (DPDK allows one rte_eal_init per process)")]
    AlreadyInitialised,
    /// A DPDK object was requested before `Eal::init` succeeded or after EAL shut down.
    #[error("{call}: EAL is not running (call Eal::init first, and keep the Eal alive)")]
    EalNotRunning { call: String },
    /// `Port::by_name` found no device of that name.
    #[error(
        "no DPDK port named {name:?} (ports: {known}); is the device in the EAL arguments (--vdev, -a)?"
    )]
    NoSuchPort { name: String, known: String },
    /// An argument that DPDK would reject, caught before the call with a more precise reason.
    #[error("{call}: {reason}")]
    Invalid { call: String, reason: String },
}

/// Setup results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error for `call` failing with the positive errno `errno`.
    pub(crate) fn from_errno(call: impl Into<String>, errno: i32) -> Error {
        Error::Dpdk { call: call.into(), errno, text: strerror(errno) }
    }

    /// The error for `call` failing with the code left in this thread's `rte_errno`.
    pub(crate) fn last(call: impl Into<String>) -> Error {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        let errno = unsafe { sys::vsd_errno() };
        Error::from_errno(call, errno)
    }

    pub(crate) fn invalid(call: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid { call: call.into(), reason: reason.into() }
    }

    /// The errno DPDK reported, if this error came from DPDK.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Dpdk { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Turns an ethdev-style return (`< 0` is `-errno`) into a result; `call` is built only on failure.
pub(crate) fn check(ret: c_int, call: impl FnOnce() -> String) -> Result<c_int> {
    if ret < 0 {
        Err(Error::from_errno(call(), -ret))
    } else {
        Ok(ret)
    }
}

/// `rte_strerror`: the libc text for system errnos, DPDK's own for `E_RTE_*` codes.
pub fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a NUL-terminated string in a static or
    // per-thread buffer, which is copied out before this thread calls it again.
    let text = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) };
    text.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpdk_error_names_call_and_cause() {
        let e = Error::from_errno("rte_eth_dev_configure(port 0)", libc::EINVAL);
        assert_eq!(e.to_string(), "rte_eth_dev_configure(port 0): Invalid argument");
        assert_eq!(e.errno(), Some(libc::EINVAL));
    }

    #[test]
    fn check_passes_counts_and_maps_negative_errno() {
        assert_eq!(check(3, || unreachable!("only built on failure")), Ok(3));
        let e = check(-libc::ENODEV, || "rte_eth_dev_start(port 7)".to_owned()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert!(e.to_string().starts_with("rte_eth_dev_start(port 7): "), "{e}");
    }

    #[test]
    fn dpdk_specific_codes_have_their_own_text() {
        // E_RTE_NO_CONFIG is DPDK's, not libc's: libc would say "Unknown error 1002".
        let text = strerror(i32::try_from(sys::E_RTE_NO_CONFIG).unwrap());
        assert!(!text.contains("Unknown error"), "{text}");
        assert_ne!(text, strerror(libc::EINVAL));
    }
}
