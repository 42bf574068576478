//! Driving the programs: vsd and dpdk-testpmd, one after the other, on the same files.
//!
//! - **vsd** is asked for two stats reports (SIGUSR1) a window apart after a warm-up; the rates
//!   are the counters' growth over the time between the reports' arrival. vsd renders a report
//!   when the signal is seen and prints it at once, line-buffered, so arrival is sampling time to
//!   within a millisecond; its control thread looks for the signal every 50 ms, which moves the
//!   window but does not stretch it. vsd is stopped with SIGTERM by its pid.
//! - **testpmd** runs with `--stats-period 1` and prints per-port rates that it times itself
//!   with the TSC; the window is the blocks after the warm-up ones. Without `-i` and with a stats
//!   period testpmd never reads stdin and loops until a signal, so it is stopped with SIGINT by its
//!   pid once enough blocks arrived. `stdbuf -oL` makes its piped stdout line-buffered, so blocks
//!   arrive as printed.
//!
//! Both programs use lcore 1 for forwarding and lcore 0 for their main thread, the same EAL
//! arguments and the same pcap. Each process gets its own `--file-prefix`; its runtime directory
//! is removed after it exits.

use crate::child::Child;
use crate::counters::{parse_testpmd_samples, parse_vsd_report, testpmd_rates, vsd_rates, Rates, Totals};
use crate::cpu;
use crate::machine::Machine;
use crate::profile::{self, Spec};
use crate::result::{ProfileRun, Program, ProgramRun, Ratios};
use crate::setup::{self, Memory};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The worker lcore in every run (lcore 0 is the main thread of vsd and of testpmd).
pub const WORKER_LCORE: u32 = setup::WORKER_LCORE;
/// EAL init with `--no-huge` touches all of `-m` and net_pcap loads the whole pcap: allow for it.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stats report may take to come back.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a program may take to stop cleanly before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// testpmd's `--stats-period`, in seconds.
const STATS_PERIOD: u64 = 1;

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub vsd: PathBuf,
    pub testpmd: PathBuf,
    pub warmup_s: u64,
    pub window_s: u64,
    pub repeat: u32,
    /// `--mem`: the EAL memory, or `None` to size it from the profile.
    pub mem_mb: Option<u32>,
    /// vsd's `conn_table.capacity`, or `None` for vsd's default.
    pub conn_capacity: Option<u32>,
    pub programs: Vec<Program>,
    /// Where the pcap and configs go.
    pub dir: PathBuf,
}

/// The files one profile's runs share.
pub struct Prepared {
    pub spec: Spec,
    pub memory: Memory,
    pub pcap: PathBuf,
}

/// Write the profile's pcap into `dir`.
pub fn prepare(spec: &Spec, opts: &Options) -> Result<Prepared, String> {
    spec.check()?;
    let memory = Memory::for_spec(spec, opts.mem_mb)?;
    std::fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    let pcap = opts.dir.join(format!("{}.pcap", spec.profile.name()));
    std::fs::write(&pcap, profile::pcap(spec)).map_err(|e| format!("{}: {e}", pcap.display()))?;
    Ok(Prepared { spec: *spec, memory, pcap })
}

fn unique_prefix(program: Program, seq: u32) -> String {
    let tag = program.forward_mode().unwrap_or("vsd");
    format!("vsd-perf-{}-{tag}-{seq}", std::process::id())
}

/// DPDK's runtime directory of a file prefix (`/var/run/dpdk/PREFIX` as root).
pub fn remove_runtime_dir(prefix: &str) {
    for base in ["/var/run/dpdk", "/run/dpdk"] {
        let _ = std::fs::remove_dir_all(Path::new(base).join(prefix));
    }
}

/// Ask vsd for a report and read it: its arrival time and totals.
fn vsd_report(vsd: &mut Child) -> Result<(Instant, Totals), String> {
    vsd.signal("USR1")?;
    let start =
        vsd.wait_for("a stats report", REPORT_TIMEOUT, |l| !l.stderr && l.text.starts_with("-- vsd stats"))?;
    let mut text = String::new();
    vsd.wait_for("the end of the stats report", REPORT_TIMEOUT, |l| {
        if !l.stderr {
            text.push_str(&l.text);
            text.push('\n');
        }
        !l.stderr && l.text.starts_with("-- end of stats")
    })?;
    Ok((start.at, parse_vsd_report(&text)?))
}

/// `vsd --check`: vsd's own verdict on the config, before DPDK starts.
fn vsd_check(vsd: &Path, config: &Path) -> Result<(), String> {
    let out = Command::new(vsd).arg("--check").arg(config).output().map_err(|e| {
        format!("cannot run {}: {e} (build it: cargo build --release -p vsd-control)", vsd.display())
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!("vsd refuses the config: {}", why.trim()));
    }
    Ok(())
}

/// A measurement: the rates, the share of its CPU the forwarding thread had meanwhile, and the
/// process's resident memory at the end of the window.
pub struct Measured {
    pub rates: Rates,
    pub cpu_share: Option<f64>,
    pub rss_bytes: Option<u64>,
}

/// Wait for vsd to run, let it warm up, and take the window between two reports.
fn measure_vsd(vsd: &mut Child, opts: &Options) -> Result<Measured, String> {
    // vsd logs "vsd: running: ..." once its workers poll (after a timestamp and level, if any, on
    // either stream).
    vsd.wait_for("vsd to start", START_TIMEOUT, |l| l.text.contains("vsd: running"))?;
    let pid = vsd.pid();
    let thread = cpu::lcore_thread(pid, WORKER_LCORE);
    vsd.drain_for(Duration::from_secs(opts.warmup_s));
    let c0 = thread.and_then(|t| cpu::read(pid, t));
    let (t0, a) = vsd_report(vsd)?;
    vsd.drain_for((t0 + Duration::from_secs(opts.window_s)).saturating_duration_since(Instant::now()));
    let c1 = thread.and_then(|t| cpu::read(pid, t));
    let (t1, b) = vsd_report(vsd)?;
    let cpu_share = c0.zip(c1).and_then(|(x, y)| cpu::share(x, y));
    let rates = vsd_rates(&a, &b, (t1 - t0).as_secs_f64(), &[WORKER_LCORE])?;
    Ok(Measured { rates, cpu_share, rss_bytes: cpu::rss_bytes(pid) })
}

/// One vsd run over the window.
pub fn run_vsd(p: &Prepared, opts: &Options, seq: u32) -> Result<Measured, String> {
    let prefix = unique_prefix(Program::Vsd, seq);
    let config = opts.dir.join(format!("{}-vsd.yaml", p.spec.profile.name()));
    let admin = opts.dir.join("vsd-admin.sock");
    let mut text = setup::vsd_config(&p.spec, p.memory, &prefix, &p.pcap, &admin);
    if let Some(capacity) = opts.conn_capacity {
        text = setup::with_conn_capacity(text, capacity);
    }
    std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
    vsd_check(&opts.vsd, &config)?;
    let mut cmd = Command::new(&opts.vsd);
    cmd.arg("--config").arg(&config);
    let mut vsd = Child::spawn("vsd", cmd)?;
    let result = measure_vsd(&mut vsd, opts);
    let stopped = vsd.stop("TERM", STOP_GRACE);
    remove_runtime_dir(&prefix);
    let rates = result?;
    match stopped {
        Ok(st) if st.success() => Ok(rates),
        Ok(st) => Err(format!("vsd exited with {st} after the window; its output ends:\n{}", vsd.tail(20))),
        Err(e) => Err(e),
    }
}

/// One testpmd run in `program`'s forwarding mode over the window.
pub fn run_testpmd(p: &Prepared, opts: &Options, program: Program, seq: u32) -> Result<Measured, String> {
    let mode = program.forward_mode().ok_or("not a testpmd mode")?;
    let prefix = unique_prefix(program, seq);
    let mut cmd = Command::new("stdbuf");
    cmd.arg("-oL").arg(&opts.testpmd);
    cmd.args(setup::testpmd_args(p.memory, &prefix, &p.pcap, mode, STATS_PERIOD));
    let mut tp = Child::spawn(&format!("testpmd {mode}"), cmd)?;
    // Blocks: the one printed at start, the warm-up ones, the window's, and one more whose header
    // shows that the last window block is complete.
    let skip = 1 + usize::try_from(opts.warmup_s / STATS_PERIOD).map_err(|e| e.to_string())?;
    let take = usize::try_from((opts.window_s / STATS_PERIOD).max(1)).map_err(|e| e.to_string())?;
    // Block k's rates cover the time from header k - 1 to header k: the window runs from the
    // header before its first block to its last block's header. stdbuf's pid is testpmd's (exec).
    let pid = tp.pid();
    let (mut headers, mut c0, mut c1, mut rss_bytes) = (0, None, None, None);
    let waited = tp.wait_for(
        "statistics blocks",
        START_TIMEOUT + Duration::from_secs(opts.warmup_s + opts.window_s + 2 * STATS_PERIOD),
        |l| {
            if l.text.contains("Port statistics ====") {
                headers += 1;
                let reading = || cpu::lcore_thread(pid, WORKER_LCORE).and_then(|t| cpu::read(pid, t));
                if headers == skip {
                    c0 = reading();
                } else if headers == skip + take {
                    c1 = reading();
                    rss_bytes = cpu::rss_bytes(pid);
                }
            }
            headers > skip + take
        },
    );
    let stopped = tp.stop("INT", STOP_GRACE);
    remove_runtime_dir(&prefix);
    waited?;
    let st = stopped?;
    if !st.success() {
        return Err(format!("testpmd exited with {st}; its output ends:\n{}", tp.tail(20)));
    }
    let samples = parse_testpmd_samples(&tp.output())?;
    let window = samples.get(skip..skip + take).ok_or_else(|| {
        format!("testpmd printed {} statistics blocks, fewer than {}", samples.len(), skip + take)
    })?;
    let cpu_share = c0.zip(c1).and_then(|(x, y)| cpu::share(x, y));
    Ok(Measured { rates: testpmd_rates(window, STATS_PERIOD as f64, WORKER_LCORE)?, cpu_share, rss_bytes })
}

/// One program, measured or failed.
pub fn run_program(
    p: &Prepared,
    opts: &Options,
    program: Program,
    seq: u32,
    machine: &Machine,
) -> ProgramRun {
    let r = match program {
        Program::Vsd => run_vsd(p, opts, seq),
        _ => run_testpmd(p, opts, program, seq),
    };
    match r {
        Ok(m) => ProgramRun {
            rss_bytes: m.rss_bytes,
            ..ProgramRun::measured(program, m.rates, m.cpu_share, machine)
        },
        Err(e) => {
            // The table shows the first line; the whole story goes to stderr and the JSON.
            eprintln!("vsd-perf: {} not measured: {e}", program.name());
            ProgramRun::failed(program, e)
        }
    }
}

/// Every program of `opts`, `opts.repeat` times, interleaved.
pub fn run_profile(
    spec: &Spec,
    opts: &Options,
    machine: &Machine,
    seq: &mut u32,
) -> Result<ProfileRun, String> {
    let p = prepare(spec, opts)?;
    let mut repetitions = Vec::new();
    for _ in 0..opts.repeat.max(1) {
        let mut rep = Vec::new();
        for &program in &opts.programs {
            *seq += 1;
            rep.push(run_program(&p, opts, program, *seq, machine));
        }
        repetitions.push(rep);
    }
    Ok(ProfileRun {
        spec: *spec,
        packets_per_pass: spec.packets(),
        mem_mb: p.memory.mem_mb,
        mbufs: p.memory.mbufs,
        warmup_s: opts.warmup_s,
        window_s: opts.window_s,
        ratios: Ratios::of(&repetitions),
        repetitions,
    })
}
