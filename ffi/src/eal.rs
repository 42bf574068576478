//! EAL start-up and shutdown.
//!
//! DPDK's Environment Abstraction Layer can be initialised once per process, and after
//! `rte_eal_cleanup` no DPDK object may be touched. [`Eal`] is the handle to a running EAL. It stays
//! on the thread that created it, the main lcore, because launching and waiting for worker lcores are
//! main-lcore calls (see `lcore`).
//!
//! Mempools, rings and configured ports do not borrow the `Eal`, so the daemon can keep them in its
//! own structures. Instead each registers in a process-wide tally while it exists. Dropping the `Eal`
//! first marks EAL as closing (so no new object can be made), waits for the worker lcores, and calls
//! `rte_eal_cleanup` only if the tally is zero. Otherwise EAL stays up until the process exits: an
//! object dropped later then frees into live memory rather than into unmapped memory. The tally is
//! touched only on setup, never on the fast path.

use std::ffi::{c_char, c_int, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::sys;

/// `argv[0]` given to EAL when the caller's arguments start with an option.
const PROGRAM_NAME: &str = "vsd";

const STATE_DOWN: u8 = 0;
const STATE_STARTING: u8 = 1;
const STATE_RUNNING: u8 = 2;
const STATE_CLOSED: u8 = 3;

/// Where this process's EAL is in its one life: down, starting, running, closed.
static STATE: AtomicU8 = AtomicU8::new(STATE_DOWN);
/// Live mempools, rings and configured ports (see the module comment).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A running EAL. Not `Send`: it stays on the main lcore's thread.
#[derive(Debug)]
pub struct Eal {
    _main_thread_only: PhantomData<*const ()>,
}

impl Eal {
    /// Runs `rte_eal_init` with `args`. If the first argument is an option (or there is none),
    /// `"vsd"` is supplied as `argv[0]`. Succeeds at most once per process.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        STATE
            .compare_exchange(STATE_DOWN, STATE_STARTING, Ordering::SeqCst, Ordering::SeqCst)
            .map_err(|_| Error::AlreadyInitialised)?;
        match init_eal(args) {
            Ok(()) => {
                STATE.store(STATE_RUNNING, Ordering::SeqCst);
                Ok(Eal { _main_thread_only: PhantomData })
            }
            Err(e) => {
                STATE.store(STATE_DOWN, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// True between a successful [`Eal::init`] and the drop of its `Eal`.
    pub fn is_running() -> bool {
        STATE.load(Ordering::SeqCst) == STATE_RUNNING
    }

    /// The TSC frequency EAL measured at start-up, in Hz.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised (self exists); rte_get_tsc_hz reads a value set by rte_eal_init.
        unsafe { sys::rte_get_tsc_hz() }
    }

    /// Shuts EAL down now, reporting whether `rte_eal_cleanup` ran. It is skipped (and EAL left up
    /// until exit) while mempools, rings or configured ports still exist.
    pub fn cleanup(self) -> Result<()> {
        let result = shutdown();
        std::mem::forget(self);
        result
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // Drop cannot report: a skipped cleanup only means EAL lives until the process exits.
        let _ = shutdown();
    }
}

fn init_eal<S: AsRef<str>>(args: &[S]) -> Result<()> {
    let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
    let has_program_name = matches!(args.first(), Some(a) if !a.as_ref().starts_with('-'));
    if !has_program_name {
        owned.push(CString::new(PROGRAM_NAME).expect("no NUL in the program name"));
    }
    for arg in args {
        let arg = arg.as_ref();
        owned.push(
            CString::new(arg).map_err(|_| Error::invalid("rte_eal_init", format!("NUL byte in {arg:?}")))?,
        );
    }
    // EAL may keep pointers into argv (it permutes the array while parsing), so the strings live for
    // the rest of the process; this happens once.
    let mut argv: Vec<*mut c_char> = owned.into_iter().map(CString::into_raw).collect();
    let argc =
        c_int::try_from(argv.len()).map_err(|_| Error::invalid("rte_eal_init", "too many arguments"))?;
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc valid NUL-terminated strings plus a NULL terminator, and outlives the
    // call (the array and its strings are leaked below); STATE guarantees a single caller.
    let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
    std::mem::forget(argv);
    if ret < 0 {
        return Err(Error::last("rte_eal_init"));
    }
    Ok(())
}

fn shutdown() -> Result<()> {
    STATE.store(STATE_CLOSED, Ordering::SeqCst);
    // SAFETY: called from the main lcore (Eal is not Send); blocks until every worker is idle, so no
    // launched closure still runs when memory is released.
    unsafe { sys::rte_eal_mp_wait_lcore() };
    let live = LIVE.load(Ordering::SeqCst);
    if live != 0 {
        return Err(Error::invalid(
            "rte_eal_cleanup",
            format!("skipped: {live} mempool(s), ring(s) or configured port(s) still exist"),
        ));
    }
    // SAFETY: EAL was initialised, every worker is idle, and no DPDK object remains (LIVE is 0 and,
    // with STATE closed, no new one can be registered).
    let ret = unsafe { sys::rte_eal_cleanup() };
    crate::error::check(ret, || "rte_eal_cleanup".to_owned()).map(drop)
}

/// Registration of one DPDK object in the live tally; dropping it deregisters.
#[derive(Debug)]
pub(crate) struct LiveObject(());

impl LiveObject {
    /// Registers an object about to be created by `call`, or fails if EAL is not running.
    ///
    /// The order (count first, then check the state) pairs with `shutdown` (state first, then read
    /// the count): with SeqCst, either this sees EAL closed or `shutdown` sees the object.
    pub(crate) fn register(call: impl FnOnce() -> String) -> Result<LiveObject> {
        LIVE.fetch_add(1, Ordering::SeqCst);
        let object = LiveObject(());
        if STATE.load(Ordering::SeqCst) != STATE_RUNNING {
            return Err(Error::EalNotRunning { call: call() });
        }
        Ok(object)
    }

    /// Keeps the registration forever: for objects deliberately leaked, which pin EAL up.
    pub(crate) fn pin(self) {
        std::mem::forget(self);
    }
}

impl Drop for LiveObject {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_cannot_register_before_eal_runs() {
        // Unit tests never start EAL, so registration must fail, naming the call.
        let err = LiveObject::register(|| "rte_ring_create(\"r\")".to_owned()).unwrap_err();
        assert!(matches!(err, Error::EalNotRunning { .. }), "{err}");
        assert!(err.to_string().starts_with("rte_ring_create(\"r\"): EAL is not running"), "{err}");
    }

    #[test]
    fn argv_with_nul_is_refused_before_eal_sees_it() {
        // init_eal checks arguments before calling rte_eal_init, so this does not start EAL.
        let err = init_eal(&["-l", "0\0"]).unwrap_err();
        assert!(err.to_string().contains("NUL byte"), "{err}");
    }
}
