//! Synthetic traffic for flow counts a pcap cannot hold: 1 M and 10 M live connections, and `syn`
//! with a fresh client address and port on every packet.
//!
//! A generator on lcore 0 writes 64-byte TCP frames into mbufs ([`frames`]) and transmits them into
//! a `net_ring` port that vsd's worker, on lcore 1, polls like any other ([`case`]); vsd's output
//! goes to `net_null`. Each case runs in its own process (EAL starts once per process, and each
//! case's RSS is then its own), which is this same binary started with `synth-case`; the parent
//! collects the results ([`run_cases`]), prints the table and writes the JSON.
//!
//! Cases:
//! - `io`: the worker lcore only moves frames from ext to int, as testpmd's io mode would: the
//!   ceiling of the generator and rings, the reference of every ratio here;
//! - `established`: N SYNs first (the fill rate is reported too), then ACKs over all N connections
//!   in one shuffled order, over and over;
//! - `syn`: every frame a new flow, into a table sized for N; the window is the middle 90 % of the
//!   fill (or `--seconds`, if shorter).
//!
//! Memory: the table's own accounting (`ConnTable::memory_bytes`) over its capacity, and the
//! process's RSS before the worker is built, after, and at the end with the connections live.

pub mod case;
pub mod frames;

use crate::child::Child;
use crate::machine::Machine;
use std::fmt::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Line prefix of a case's result on the child's stdout.
pub const RESULT_PREFIX: &str = "vsd-perf-synth-result: ";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Reference: ext → int without vsd.
    Io,
    /// N live connections, ACKs in shuffled order.
    Established,
    /// Every packet a new connection.
    Syn,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Io => "io",
            Kind::Established => "established",
            Kind::Syn => "syn",
        }
    }
}

/// One case: what a child process runs.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Case {
    pub kind: Kind,
    /// Connections (and table capacity).
    pub conns: u64,
    pub warmup_s: f64,
    pub seconds: f64,
}

/// What a case measured. Rates are over the window; RSS values in bytes.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseResult {
    pub case: Case,
    pub capacity: u64,
    pub window_s: f64,
    /// Received by the worker from the generator's ring.
    pub rx_pps: f64,
    /// Sent to the int port (forwarded).
    pub tx_pps: f64,
    pub new_conns_per_s: f64,
    pub drops_per_s: f64,
    /// Share of its CPU the worker thread had in the window.
    pub cpu_share: Option<f64>,
    /// TSC cycles of the worker's passes that received packets, per packet: its cost without the
    /// passes that found the ring empty (the generator shares the machine and may fall behind).
    pub busy_cycles_per_packet: Option<f64>,
    pub tsc_hz: f64,
    /// `established`: new connections per second while the N SYNs filled the table.
    pub fill_conns_per_s: Option<f64>,
    pub live_conns: u64,
    /// The connection table's bytes (entries, index, wheel).
    pub table_bytes: u64,
    pub rss_before_table: Option<u64>,
    pub rss_with_table: Option<u64>,
    pub rss_end: Option<u64>,
    /// Of `rss_end`, anonymous memory on transparent huge pages.
    pub anon_huge_end: Option<u64>,
}

impl CaseResult {
    /// The table's bytes per entry of capacity, overhead included.
    pub fn table_bytes_per_conn(&self) -> f64 {
        self.table_bytes as f64 / self.capacity.max(1) as f64
    }

    /// RSS growth from before the worker was built to the end of the window, per entry of
    /// capacity (the table is allocated and touched whole when the worker is built).
    pub fn rss_bytes_per_conn(&self) -> Option<f64> {
        let (a, b) = (self.rss_before_table?, self.rss_end?);
        Some(b.saturating_sub(a) as f64 / self.capacity.max(1) as f64)
    }

    /// Cycles the worker spent per received packet (TSC rate × CPU share / rate).
    pub fn cycles_per_packet(&self) -> Option<f64> {
        (self.rx_pps > 0.0).then(|| self.tsc_hz * self.cpu_share.unwrap_or(1.0) / self.rx_pps)
    }

    /// Forwarded packets per second of worker CPU.
    pub fn per_cpu_second(&self) -> f64 {
        self.tx_pps / self.cpu_share.filter(|s| *s > 0.0).unwrap_or(1.0)
    }
}

/// `1M`, `10M`, `64K`, `1000`: decimal multiples.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("{text:?} is not a count (like 1M, 64K, 1000)"))?;
    let v = (n * f64::from(mult)).round();
    if !(1.0..=f64::from(u32::MAX >> 1)).contains(&v) {
        return Err(format!("{text}: out of range"));
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked to be within 1..=2^31 - 1 just above"
    )]
    let count = v as u64;
    Ok(count)
}

/// The report of a synthetic run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SynthReport {
    pub tool: &'static str,
    pub machine: Machine,
    pub cases: Vec<CaseResult>,
    /// Per case, in order: why it was not measured.
    pub errors: Vec<Option<String>>,
}

/// How long a case may take: the fill at a pessimistic 300 K connections/s, the table's
/// initialisation, the windows, and EAL's start.
fn case_timeout(c: &Case) -> Duration {
    Duration::from_secs_f64(30.0 + c.conns as f64 / 300_000.0 + c.warmup_s + c.seconds)
}

/// Run one case in a child process of `exe` (this program).
pub fn run_child(exe: &Path, c: &Case) -> Result<CaseResult, String> {
    let mut cmd = Command::new(exe);
    cmd.arg("synth-case").arg(serde_json::to_string(c).map_err(|e| e.to_string())?);
    let mut child = Child::spawn(&format!("synth {} {}", c.kind.name(), c.conns), cmd)?;
    let line = child.wait_for("the case's result", case_timeout(c), |l| {
        !l.stderr && (l.text.starts_with(RESULT_PREFIX) || l.text.starts_with("vsd-perf: synth-case failed"))
    });
    // The child exits by itself after its result: let it, then make sure.
    child.drain_for(Duration::from_secs(10));
    let st = child.stop("TERM", Duration::from_secs(5));
    let line = line?;
    let json =
        line.text.strip_prefix(RESULT_PREFIX).ok_or_else(|| format!("{}\n{}", line.text, child.tail(20)))?;
    let r: CaseResult = serde_json::from_str(json).map_err(|e| format!("result: {e}"))?;
    match st? {
        st if st.success() => Ok(r),
        st => Err(format!("the case exited with {st} after its result:\n{}", child.tail(10))),
    }
}

/// Run every case, one process each, in order.
pub fn run_cases(exe: &Path, cases: &[Case], machine: Machine) -> SynthReport {
    let mut report = SynthReport { tool: "vsd-perf synth", machine, cases: Vec::new(), errors: Vec::new() };
    for c in cases {
        eprintln!("vsd-perf: synth {} with {} connections ...", c.kind.name(), c.conns);
        match run_child(exe, c) {
            Ok(r) => {
                report.cases.push(r);
                report.errors.push(None);
            }
            Err(e) => {
                eprintln!("vsd-perf: synth {} {} not measured: {e}", c.kind.name(), c.conns);
                report.errors.push(Some(e));
            }
        }
    }
    report
}

fn mib(b: Option<u64>) -> String {
    b.map_or("?".into(), |b| format!("{:.0}", b as f64 / f64::from(1 << 20)))
}

impl SynthReport {
    /// The `io` case's busy cycles per packet, the reference of the ratios.
    pub fn reference(&self) -> Option<f64> {
        self.cases.iter().find(|r| r.case.kind == Kind::Io).and_then(|r| r.busy_cycles_per_packet)
    }

    /// A case's rate relative to `io`'s, both on busy cycles: io's cycles per packet over the case's.
    pub fn ratio(&self, r: &CaseResult) -> Option<f64> {
        let (io, c) = (self.reference()?, r.busy_cycles_per_packet?);
        (r.case.kind != Kind::Io && c > 0.0).then(|| io / c)
    }

    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "== synth: generator on lcore 0 -> net_ring -> worker on lcore 1 -> net_null; machine: {} CPUs, load {}",
            self.machine.cpus, self.machine.load_avg
        );
        let _ = writeln!(
            o,
            "  {:<12} {:>9} {:>8} {:>8} {:>5} {:>8} {:>7} {:>11} {:>9} {:>8} {:>8} {:>8} {:>9}",
            "case",
            "conns",
            "Mpps",
            "busy c/p",
            "cpu",
            "/io",
            "drops/s",
            "new conn/s",
            "fill /s",
            "table B",
            "RSS MiB",
            "THP MiB",
            "RSS B/c"
        );
        for r in &self.cases {
            let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
            let _ = writeln!(
                o,
                "  {:<12} {:>9} {:>8.2} {:>8} {:>5} {:>8} {:>7.0} {:>11.0} {:>9} {:>8.1} {:>8} {:>8} {:>9}",
                r.case.kind.name(),
                r.case.conns,
                r.tx_pps / 1e6,
                opt(r.busy_cycles_per_packet, &|c| format!("{c:.0}")),
                opt(r.cpu_share, &|s| format!("{:.0}%", s * 100.0)),
                opt(self.ratio(r), &|v| format!("{v:.2}")),
                r.drops_per_s,
                r.new_conns_per_s,
                opt(r.fill_conns_per_s, &|v| format!("{v:.0}")),
                r.table_bytes_per_conn(),
                mib(r.rss_end),
                mib(r.anon_huge_end),
                opt(r.rss_bytes_per_conn(), &|v| format!("{v:.0}")),
            );
        }
        for (i, e) in self.errors.iter().enumerate() {
            if let Some(e) = e {
                let _ = writeln!(o, "  case {i}: not measured: {}", e.lines().next().unwrap_or(""));
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_decimal_suffixes() {
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("10m"), Ok(10_000_000));
        assert_eq!(parse_count("64K"), Ok(64_000));
        assert_eq!(parse_count("1.5M"), Ok(1_500_000));
        assert_eq!(parse_count("4096"), Ok(4096));
        assert!(parse_count("0").is_err());
        assert!(parse_count("lots").is_err());
        assert!(parse_count("5000M").is_err());
    }

    #[test]
    fn derived_figures() {
        let r = CaseResult {
            case: Case { kind: Kind::Established, conns: 1000, warmup_s: 1.0, seconds: 1.0 },
            capacity: 1000,
            window_s: 1.0,
            rx_pps: 2e6,
            tx_pps: 2e6,
            new_conns_per_s: 0.0,
            drops_per_s: 0.0,
            cpu_share: Some(0.5),
            busy_cycles_per_packet: Some(600.0),
            tsc_hz: 2.6e9,
            fill_conns_per_s: None,
            live_conns: 1000,
            table_bytes: 116_000,
            rss_before_table: Some(1 << 20),
            rss_with_table: Some(2 << 20),
            rss_end: Some((1 << 20) + 128_000),
            anon_huge_end: None,
        };
        assert_eq!(r.table_bytes_per_conn(), 116.0);
        assert_eq!(r.rss_bytes_per_conn(), Some(128.0));
        assert_eq!(r.cycles_per_packet(), Some(650.0));
        assert_eq!(r.per_cpu_second(), 4e6);
    }
}
