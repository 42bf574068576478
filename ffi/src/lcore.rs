//! Logical cores: which exist, where they sit, and running closures on the workers.
//!
//! EAL pins one thread per lcore of `-l`/`--lcores` at start-up and parks the workers until the main
//! lcore hands them a function. Launching and waiting are main-lcore calls, so they are methods of
//! [`Eal`], which never leaves that thread. A closure crosses to the worker as a boxed trait object
//! behind `rte_eal_remote_launch`'s `void *` argument; a panic inside it is caught on the worker and
//! reported as [`PANICKED`], because unwinding must not cross DPDK's C frames.

use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::eal::Eal;
use crate::error::{check, Error, Result};
use crate::sys;

/// The value [`Eal::wait_lcore`] returns for a launched closure that panicked.
pub const PANICKED: i32 = i32::MIN;

/// A logical core id known to EAL (`RTE_MAX_LCORE` bounds them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lcore(u32);

impl Lcore {
    /// The numeric id, as in `-l`.
    pub fn id(self) -> u32 {
        self.0
    }

    /// The NUMA socket EAL found this lcore on.
    pub fn socket_id(self) -> u32 {
        // SAFETY: self.0 is an enabled lcore id below RTE_MAX_LCORE (checked when the Lcore was made).
        unsafe { sys::rte_lcore_to_socket_id(self.0) }
    }
}

impl std::fmt::Display for Lcore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lcore {}", self.0)
    }
}

/// The lcore running the calling thread, or `None` on a thread EAL did not create.
pub fn current_lcore() -> Option<Lcore> {
    // SAFETY: reads the calling thread's per-lcore id; no preconditions.
    let id = unsafe { sys::vsd_lcore_id() };
    (id < sys::RTE_MAX_LCORE).then_some(Lcore(id))
}

/// The NUMA socket of the calling thread, or `None` when EAL does not know it.
pub fn current_socket() -> Option<u32> {
    // SAFETY: reads the calling thread's per-lcore socket id; no preconditions.
    let socket = unsafe { sys::rte_socket_id() };
    #[allow(clippy::cast_sign_loss, reason = "rte_socket_id returns SOCKET_ID_ANY (-1) as unsigned")]
    let any = sys::SOCKET_ID_ANY as u32;
    (socket != any).then_some(socket)
}

/// Worker lcores in id order, skipping the main lcore.
#[derive(Debug)]
pub struct Workers<'eal> {
    prev: u32,
    _eal: PhantomData<&'eal Eal>,
}

impl Iterator for Workers<'_> {
    type Item = Lcore;

    fn next(&mut self) -> Option<Lcore> {
        // SAFETY: EAL is initialised (a Workers exists only through &Eal); any start value is valid,
        // and u32::MAX wraps to 0 as in RTE_LCORE_FOREACH_WORKER.
        let next = unsafe { sys::rte_get_next_lcore(self.prev, 1, 0) };
        if next >= sys::RTE_MAX_LCORE {
            self.prev = sys::RTE_MAX_LCORE;
            return None;
        }
        self.prev = next;
        Some(Lcore(next))
    }
}

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// Runs on the worker: takes back the boxed closure `launch` leaked into `arg`.
unsafe extern "C" fn run_job(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Box<Job> that launch turned into a raw pointer; EAL passes it to exactly
    // one call of this function, so ownership is taken back exactly once.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    catch_unwind(AssertUnwindSafe(job)).unwrap_or(PANICKED)
}

impl Eal {
    /// The main lcore: the one running this thread.
    pub fn main_lcore(&self) -> Lcore {
        // SAFETY: EAL is initialised; reads its configuration.
        Lcore(unsafe { sys::rte_get_main_lcore() })
    }

    /// The worker lcores (all enabled lcores but the main one).
    pub fn workers(&self) -> Workers<'_> {
        Workers { prev: u32::MAX, _eal: PhantomData }
    }

    /// How many lcores EAL runs, the main one included.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL is initialised; reads its configuration.
        unsafe { sys::rte_lcore_count() }
    }

    /// The lcore `id` if EAL runs it (it was in `-l`/`--lcores`).
    pub fn lcore(&self, id: u32) -> Option<Lcore> {
        if id >= sys::RTE_MAX_LCORE {
            return None;
        }
        // SAFETY: EAL is initialised and id is below RTE_MAX_LCORE.
        (unsafe { sys::rte_lcore_is_enabled(id) } != 0).then_some(Lcore(id))
    }

    /// Starts `job` on the worker `lcore`; its return value comes back from [`Eal::wait_lcore`].
    /// Fails if `lcore` is the main lcore or is still busy with an earlier job.
    pub fn launch<F>(&self, lcore: Lcore, job: F) -> Result<()>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let call = || format!("rte_eal_remote_launch({lcore})");
        if lcore == self.main_lcore() {
            return Err(Error::invalid(call(), "the main lcore runs the caller; launch on a worker"));
        }
        let job: Box<Job> = Box::new(Box::new(job));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: called on the main lcore (Eal is not Send) for an enabled worker lcore; run_job
        // matches lcore_function_t and takes ownership of arg only if the launch succeeds.
        let ret = unsafe { sys::rte_eal_remote_launch(Some(run_job), arg, lcore.0) };
        if ret < 0 {
            // SAFETY: the launch failed, so the worker never saw arg; it is still our Box<Job>.
            drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        }
        check(ret, call).map(drop)
    }

    /// Waits for the job on `lcore` to finish and returns its value ([`PANICKED`] if it panicked);
    /// 0 at once if nothing was launched there.
    pub fn wait_lcore(&self, lcore: Lcore) -> i32 {
        // SAFETY: called on the main lcore for an enabled lcore.
        unsafe { sys::rte_eal_wait_lcore(lcore.0) }
    }

    /// Waits until every worker is idle.
    pub fn wait_all(&self) {
        // SAFETY: called on the main lcore.
        unsafe { sys::rte_eal_mp_wait_lcore() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_outside_eal_have_no_lcore() {
        assert_eq!(current_lcore(), None);
    }

    #[test]
    fn panicking_job_is_reported_not_unwound() {
        let job: Box<Job> = Box::new(Box::new(|| panic!("worker bug")));
        // SAFETY: the pointer comes from Box::into_raw of a Box<Job>, as run_job requires.
        let ret = unsafe { run_job(Box::into_raw(job).cast()) };
        assert_eq!(ret, PANICKED);
    }

    #[test]
    fn job_value_comes_back() {
        let captured = String::from("42");
        let job: Box<Job> = Box::new(Box::new(move || captured.parse().unwrap_or(-1)));
        // SAFETY: as above.
        assert_eq!(unsafe { run_job(Box::into_raw(job).cast()) }, 42);
    }
}
