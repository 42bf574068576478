//! How much of its core the forwarding thread actually got during the window, and how much memory
//! the process holds.
//!
//! A polling lcore never sleeps, so on a dedicated core it gets 100 % of it. On the shared 2-vCPU
//! machines these runs happen on, other builds and tests take turns on the same vCPU, and a
//! program that got 60 % of the core forwards 60 % of what it could. Reading the thread's CPU time
//! (utime + stime in /proc/PID/task/TID/stat) at both ends of the window gives that share; the
//! table prints it, and cycles per packet count only the cycles the thread really had.
//!
//! EAL names the thread of lcore N `rte-worker-N` (vsd and testpmd alike), which is how it is
//! found without linking DPDK.

use std::path::Path;
use std::time::Instant;

/// Kernel clock ticks per second for /proc CPU times (`getconf CLK_TCK`; 100 on Linux x86-64).
const CLK_TCK: f64 = 100.0;

/// The thread of `pid` that polls `lcore`.
pub fn lcore_thread(pid: u32, lcore: u32) -> Option<u32> {
    let want = format!("-worker-{lcore}");
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.filter_map(Result::ok).find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        comm.trim().ends_with(&want).then(|| t.file_name().to_str()?.parse().ok()).flatten()
    })
}

/// utime + stime, in ticks, from the text of a /proc stat file.
fn ticks_of(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `state` (field 3) is the first after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A reading of a thread's CPU time.
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    at: Instant,
    ticks: u64,
}

/// Read thread `tid` of `pid` now.
pub fn read(pid: u32, tid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(Path::new(&format!("/proc/{pid}/task/{tid}/stat"))).ok()?;
    Some(Reading { at: Instant::now(), ticks: ticks_of(&stat)? })
}

/// The share of one CPU the thread had between two readings (0.0 ..= 1.0, with tick rounding).
pub fn share(a: Reading, b: Reading) -> Option<f64> {
    let wall = (b.at - a.at).as_secs_f64();
    (wall > 0.0).then(|| (b.ticks.saturating_sub(a.ticks) as f64 / CLK_TCK / wall).min(1.0))
}

/// Resident memory of `pid` (VmRSS of /proc/PID/status). With `--no-huge`, DPDK's memory is
/// ordinary anonymous memory and counts here once touched.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    rss_of(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Of that, anonymous memory on transparent huge pages (AnonHugePages of /proc/PID/smaps_rollup).
pub fn anon_huge_bytes(pid: u32) -> Option<u64> {
    kib_field(&std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?, "AnonHugePages:")
}

fn rss_of(status: &str) -> Option<u64> {
    kib_field(status, "VmRSS:")
}

/// A `Name:   1234 kB` line's value, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces() {
        let stat = "10604 (rte worker) 1) R 10602 10602 1054 0 -1 4194368 37 0 0 0 260 7 0 0 20 0 5 0 1 2 3";
        assert_eq!(ticks_of(stat), Some(267));
        assert_eq!(ticks_of("garbage"), None);
    }

    #[test]
    fn rss_is_read_in_kib_and_this_process_has_some() {
        assert_eq!(rss_of("Name:\tvsd\nVmRSS:\t  1234 kB\nThreads:\t5\n"), Some(1234 * 1024));
        assert_eq!(rss_of("Name:\tvsd\n"), None);
        assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 0));
    }

    #[test]
    fn share_is_cpu_time_over_wall_time() {
        let t = Instant::now();
        let a = Reading { at: t, ticks: 100 };
        let b = Reading { at: t + Duration::from_secs(5), ticks: 400 };
        assert_eq!(share(a, b), Some(0.6));
        assert_eq!(share(a, a), None);
    }

    #[test]
    fn a_busy_thread_of_this_process_shows_a_share() {
        // This test's own thread, spinning: it got some of a CPU, and never more than one.
        let pid = std::process::id();
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok());
        let Some(tid) = tid else { return };
        let a = read(pid, tid).expect("own thread readable");
        let end = Instant::now() + Duration::from_millis(500);
        let mut x = 0u64;
        while Instant::now() < end {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let b = read(pid, tid).unwrap();
        let s = share(a, b).unwrap();
        assert!(s > 0.0 && s <= 1.0, "{s} ({x})");
        assert_eq!(lcore_thread(pid, 77), None, "no EAL thread in a test process");
    }
}
