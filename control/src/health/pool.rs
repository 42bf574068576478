//! The checker: one scheduler thread that owns every check's timing, and a small pool of probe
//! threads beside it, so that a slow or dead server costs a probe thread its timeout and never
//! delays the control loop or a worker.
//!
//! The scheduler hands a due check to the pool over a channel and takes its result back over its
//! own, so a check is never in flight twice and the next probe starts one interval after the last
//! one started (or at once, if it ran late). Results go on to the control loop over a std channel.
//! A reload replaces the whole set of jobs; results of the old set, still in flight, carry the old
//! generation and are dropped. The pool grows to the number of probes that could be running at once
//! if every probe hung until its timeout (the sum of timeout / interval), capped at [`MAX_THREADS`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use vsd_dataplane::service::DestId;

use super::jobs::Job;
use super::probe;

/// Most probe threads; beyond this, checks wait for a free thread (and run late, not never).
pub const MAX_THREADS: usize = 16;
/// How long the scheduler sleeps with no job at all (it wakes at once for a message anyway).
const IDLE: Duration = Duration::from_secs(3600);

/// One probe's verdict, for the control loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub dest: DestId,
    pub label: Arc<str>,
    pub result: Result<(), String>,
}

enum Msg {
    Jobs(Vec<Job>),
    Done { generation: u64, index: usize, result: Result<(), String> },
    Stop,
}

struct Work {
    generation: u64,
    index: usize,
    job: Arc<Job>,
}

/// The running checker; dropping it stops the scheduler (probe threads end after their probe).
pub struct Checker {
    tx: Sender<Msg>,
    results: Receiver<Outcome>,
    scheduler: Option<JoinHandle<()>>,
}

impl Checker {
    pub fn start(jobs: Vec<Job>) -> std::io::Result<Checker> {
        let (tx, rx) = mpsc::channel();
        let (out_tx, results) = mpsc::channel();
        let back = tx.clone();
        let scheduler =
            thread::Builder::new().name("vsd-health".into()).spawn(move || schedule(rx, back, out_tx))?;
        let checker = Checker { tx, results, scheduler: Some(scheduler) };
        checker.replace(jobs);
        Ok(checker)
    }

    /// Replaces every job (after a reload); servers still checked start a fresh probe cycle.
    pub fn replace(&self, jobs: Vec<Job>) {
        let _ = self.tx.send(Msg::Jobs(jobs));
    }

    /// The results that have arrived, without waiting.
    pub fn results(&self) -> impl Iterator<Item = Outcome> + '_ {
        self.results.try_iter()
    }

    /// Waits up to `timeout` for one result (tests).
    pub fn next_result(&self, timeout: Duration) -> Option<Outcome> {
        self.results.recv_timeout(timeout).ok()
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(s) = self.scheduler.take() {
            let _ = s.join();
        }
    }
}

struct Entry {
    job: Arc<Job>,
    due: Instant,
    busy: bool,
}

/// Threads needed if every probe hung until its timeout.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a sum of non-negative ratios; the float cast saturates and the clamp bounds it"
)]
fn threads_needed(jobs: &[Job]) -> usize {
    let load: f64 = jobs.iter().map(|j| j.timeout.as_secs_f64() / j.interval.as_secs_f64()).sum();
    (load.ceil() as usize).clamp(1, MAX_THREADS)
}

fn schedule(rx: Receiver<Msg>, back: Sender<Msg>, out: Sender<Outcome>) {
    let (work_tx, work_rx) = mpsc::channel::<Work>();
    let work_rx = Arc::new(Mutex::new(work_rx));
    let mut threads = 0;
    let mut generation = 0;
    let mut entries: Vec<Entry> = Vec::new();
    // (due, index) of idle entries, earliest first.
    let mut queue: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    loop {
        let wait =
            queue.peek().map_or(IDLE, |Reverse((due, _))| due.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(Msg::Jobs(jobs)) => {
                generation += 1;
                let want = threads_needed(&jobs);
                while threads < want {
                    let (rx, back) = (work_rx.clone(), back.clone());
                    let spawned = thread::Builder::new()
                        .name(format!("vsd-probe{threads}"))
                        .spawn(move || probe_loop(&rx, &back));
                    if let Err(e) = spawned {
                        tracing::error!("health: cannot start a probe thread: {e}");
                        break;
                    }
                    threads += 1;
                }
                // First probes spread over the shortest interval, not all in one burst.
                let now = Instant::now();
                let n = u32::try_from(jobs.len().max(1)).unwrap_or(u32::MAX);
                let spread = jobs.iter().map(|j| j.interval).min().unwrap_or_default() / n;
                entries = (0u32..)
                    .zip(jobs)
                    .map(|(i, job)| Entry { job: Arc::new(job), due: now + spread * i, busy: false })
                    .collect();
                queue = entries.iter().enumerate().map(|(i, e)| Reverse((e.due, i))).collect();
            }
            Ok(Msg::Done { generation: g, index, result }) if g == generation => {
                let e = &mut entries[index];
                e.busy = false;
                e.due = (e.due + e.job.interval).max(Instant::now());
                queue.push(Reverse((e.due, index)));
                let _ = out.send(Outcome { dest: e.job.dest, label: e.job.label.clone(), result });
            }
            Ok(Msg::Done { .. }) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while let Some(&Reverse((due, index))) = queue.peek() {
            if due > now {
                break;
            }
            queue.pop();
            let e = &mut entries[index];
            e.busy = true;
            e.due = due;
            if work_tx.send(Work { generation, index, job: e.job.clone() }).is_err() {
                return;
            }
        }
    }
}

fn probe_loop(work: &Mutex<Receiver<Work>>, back: &Sender<Msg>) {
    loop {
        // The lock is held only while waiting for work, never during a probe.
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Work { generation, index, job }) = next else { return };
        let result = probe::run(&job.probe, job.target, job.timeout);
        if back.send(Msg::Done { generation, index, result }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::jobs::Probe;
    use std::net::{SocketAddr, TcpListener};

    fn job(dest: DestId, target: SocketAddr, interval_ms: u64) -> Job {
        Job {
            dest,
            target,
            probe: Probe::Tcp,
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(interval_ms / 2),
            rise: 1,
            fall: 1,
            label: format!("{target} in t").into(),
        }
    }

    #[test]
    fn probes_repeat_at_their_interval_and_report_each_result() {
        let up = TcpListener::bind("127.0.0.1:0").unwrap();
        let down = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let checker = Checker::start(vec![job(0, up.local_addr().unwrap(), 100), job(1, down, 100)]).unwrap();
        let started = Instant::now();
        let mut seen = [0, 0];
        while seen.iter().any(|&n| n < 3) {
            let o = checker.next_result(Duration::from_secs(2)).expect("a result within 2s");
            assert_eq!(o.result.is_ok(), o.dest == 0, "{o:?}");
            seen[o.dest as usize] += 1;
        }
        // Three probes each, 100 ms apart: at least 200 ms, and not much more.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(190) && took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn replacing_the_jobs_stops_the_old_ones() {
        let up = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let checker = Checker::start(vec![job(7, up, 50)]).unwrap();
        checker.next_result(Duration::from_secs(2)).expect("a first result");
        checker.replace(vec![job(8, up, 50)]);
        // Drain what the old set still had in flight, then only the new job reports.
        thread::sleep(Duration::from_millis(120));
        let _: Vec<_> = checker.results().collect();
        for _ in 0..3 {
            let o = checker.next_result(Duration::from_secs(2)).expect("a result");
            assert_eq!(o.dest, 8);
        }
    }

    #[test]
    fn pool_size_follows_the_worst_case_load() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(threads_needed(&[]), 1);
        assert_eq!(threads_needed(&[job(0, a, 1000), job(1, a, 1000)]), 1);
        assert_eq!(threads_needed(&vec![job(0, a, 1000); 5]), 3);
        assert_eq!(threads_needed(&vec![job(0, a, 1000); 100]), MAX_THREADS);
    }
}
