//! `vsd-perf`: the perf runner's command line.
//!
//! - `run`: profiles through vsd and dpdk-testpmd (io, 5tswap), the table, and `--json`;
//! - `smoke`: a tiny vsd-only run for CI, failing if vsd forwarded nothing;
//! - `gen`: a profile's pcap and vsd config, to run by hand;
//! - `synth`: 1 M / 10 M connections from an in-process generator (`synth-case` is one case, in a
//!   child process of `synth`).

use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vsd_perf::machine::Machine;
use vsd_perf::profile::{self, Profile, Spec};
use vsd_perf::result::{Program, Report};
use vsd_perf::run::{self, Options};
use vsd_perf::setup::{self, Memory};
use vsd_perf::synth::{self, Case, Kind};

#[derive(Parser, Debug)]
#[command(version, about = "testpmd-style perf runs of vsd, side by side with dpdk-testpmd")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run profiles through vsd, then dpdk-testpmd in io and 5tswap modes, and compare.
    Run(RunArgs),
    /// A few seconds of vsd on a tiny profile; exits non-zero if vsd forwarded nothing (for CI).
    Smoke(CommonArgs),
    /// Write a profile's pcap and vsd config into a directory, to run by hand.
    Gen {
        #[command(flatten)]
        shape: Shape,
        /// Directory for `<profile>.pcap` and `<profile>-vsd.yaml`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Large flow counts from a generator lcore through net_ring into vsd's worker (docs/PERFORMANCE.md).
    Synth(SynthArgs),
    /// One synthetic case, as JSON (what `synth` starts in a child process).
    #[command(hide = true)]
    SynthCase { case: String },
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Cases, comma-separated; an `io` reference runs first unless --no-reference.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "established,syn")]
    profile: Vec<Kind>,
    /// Connection counts (and table capacities), comma-separated: 1M, 10M, 64K, ...
    #[arg(long, value_delimiter = ',', default_value = "1M", value_parser = synth::parse_count)]
    conns: Vec<u64>,
    /// Measurement window, seconds (`syn`: at most this, within the middle 90 % of the fill).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Warm-up of `established` and `io` after the fill, seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Skip the `io` reference.
    #[arg(long)]
    no_reference: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// TSC rate in MHz, if /proc/cpuinfo does not tell it.
    #[arg(long)]
    tsc_mhz: Option<f64>,
}

/// The traffic.
#[derive(Args, Debug, Clone)]
struct Shape {
    /// Profiles, comma-separated; `established6` is `established` over IPv6 (NAT66), and run
    /// beside `established` its cycles per packet are compared with those.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "established")]
    profile: Vec<Profile>,
    /// Distinct connections.
    #[arg(long, default_value_t = 65_536)]
    flows: u32,
    /// Distinct client addresses.
    #[arg(long, default_value_t = 256)]
    clients: u32,
    /// Data packets per flow and pass after its SYN.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// `mixed`: percentage of replies from the real servers.
    #[arg(long, default_value_t = 50)]
    reply_pct: u8,
    /// Real servers behind the VIP.
    #[arg(long, default_value_t = 4)]
    real_servers: u8,
    /// EAL memory in MiB (default: 1024, or what one pass of the profile needs).
    #[arg(long)]
    mem: Option<u32>,
}

impl Shape {
    fn specs(&self) -> Vec<Spec> {
        self.profile
            .iter()
            .map(|&p| Spec {
                clients: self.clients,
                rounds: self.rounds,
                reply_pct: self.reply_pct,
                real_servers: self.real_servers,
                ..Spec::new(p, self.flows)
            })
            .collect()
    }
}

/// What both `run` and `smoke` take.
#[derive(Args, Debug, Clone)]
struct CommonArgs {
    /// The vsd binary (build it with `cargo build --release -p vsd-control`).
    #[arg(long, default_value = "target/release/vsd")]
    vsd: PathBuf,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the pcap and configs in this directory (default: a temporary one, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// TSC rate in MHz, if /proc/cpuinfo does not tell it.
    #[arg(long)]
    tsc_mhz: Option<f64>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    shape: Shape,
    #[command(flatten)]
    common: CommonArgs,
    /// Measurement window, seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Warm-up before the window, seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Run vsd and testpmd this many times, interleaved; ratios are the median.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// The dpdk-testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: PathBuf,
    /// Skip testpmd (no ratios).
    #[arg(long)]
    no_testpmd: bool,
    /// vsd's connection table capacity per worker (default: vsd's own, 2^20).
    #[arg(long)]
    conn_capacity: Option<u32>,
}

/// Where the vsd binary is: as given, or, for the default relative path, the workspace's own
/// `target/release/vsd` when run from elsewhere.
fn vsd_path(given: &Path) -> PathBuf {
    if given.is_relative() && !given.exists() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(given);
        if ws.exists() {
            return ws;
        }
    }
    given.to_path_buf()
}

/// A directory for the run's files, removed on drop unless the user chose it.
struct RunDir {
    path: PathBuf,
    remove: bool,
}

impl RunDir {
    fn new(given: Option<PathBuf>) -> RunDir {
        match given {
            Some(path) => RunDir { path, remove: false },
            None => RunDir {
                path: std::env::temp_dir().join(format!("vsd-perf-{}", std::process::id())),
                remove: true,
            },
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn write_json(path: &Path, report: &Report) -> Result<(), String> {
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

fn run(specs: Vec<Spec>, common: CommonArgs, opts: Options) -> Result<Report, String> {
    let machine = Machine::detect(common.tsc_mhz);
    let mut report =
        Report { tool: "vsd-perf", version: env!("CARGO_PKG_VERSION"), machine, profiles: Vec::new() };
    let mut seq = 0;
    for spec in specs {
        eprintln!(
            "vsd-perf: {}: {} flows, {} frames per pass, programs {}",
            spec.profile.name(),
            spec.flows,
            spec.packets(),
            opts.programs.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        );
        let pr = run::run_profile(&spec, &opts, &report.machine, &mut seq)?;
        print!("{}", pr.table(&report.machine));
        report.profiles.push(pr);
    }
    print!("{}", vsd_perf::result::twin_comparisons(&report.profiles));
    if let Some(path) = &common.json {
        write_json(path, &report)?;
    }
    let runs: Vec<_> = report.profiles.iter().flat_map(|p| p.repetitions.iter().flatten()).collect();
    let failed = runs.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        return Err(format!("{failed} of {} program runs were not measured (see the table)", runs.len()));
    }
    Ok(report)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.cmd {
        Cmd::Run(a) => {
            let dir = RunDir::new(a.common.dir.clone());
            let mut programs = vec![Program::Vsd];
            if !a.no_testpmd {
                programs.extend([Program::TestpmdIo, Program::Testpmd5tswap]);
            }
            let opts = Options {
                vsd: vsd_path(&a.common.vsd),
                testpmd: a.testpmd,
                warmup_s: a.warmup,
                window_s: a.seconds.max(1),
                repeat: a.repeat,
                mem_mb: a.shape.mem,
                conn_capacity: a.conn_capacity,
                programs,
                dir: dir.path.clone(),
            };
            run(a.shape.specs(), a.common, opts).map(|_| ())
        }
        Cmd::Smoke(common) => {
            let dir = RunDir::new(common.dir.clone());
            let spec = Spec { clients: 16, ..Spec::new(Profile::Established, 256) };
            let opts = Options {
                vsd: vsd_path(&common.vsd),
                testpmd: PathBuf::new(),
                warmup_s: 1,
                window_s: 1,
                repeat: 1,
                mem_mb: Some(256),
                // A small table: the smoke run must not spend CI's memory on 2^20 entries.
                conn_capacity: Some(4096),
                programs: vec![Program::Vsd],
                dir: dir.path.clone(),
            };
            run(vec![spec], common, opts).and_then(|r| smoke_verdict(&r)).and_then(|()| synth_smoke())
        }
        Cmd::Gen { shape, dir } => gen(&shape, &dir),
        Cmd::Synth(a) => run_synth(&a),
        Cmd::SynthCase { case } => synth_case(&case),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vsd-perf: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A second of the synthetic path: 4096 connections through the generator, vsd's worker forwarding.
fn synth_smoke() -> Result<(), String> {
    let case = Case { kind: Kind::Established, conns: 4096, warmup_s: 0.2, seconds: 0.5 };
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let r = synth::run_child(&exe, &case)?;
    if r.tx_pps <= 0.0 || r.live_conns != case.conns {
        return Err(format!(
            "smoke: synth forwarded {:.0} packets/s with {} of {} connections live",
            r.tx_pps, r.live_conns, case.conns
        ));
    }
    eprintln!("vsd-perf: smoke: synth ok, {:.0} packets/s over {} connections", r.tx_pps, r.live_conns);
    Ok(())
}

/// The smoke test passes if vsd forwarded packets out of its int port during the window.
fn smoke_verdict(r: &Report) -> Result<(), String> {
    let run = &r.profiles[0].repetitions[0][0];
    let rates = run
        .rates
        .as_ref()
        .ok_or_else(|| format!("vsd was not measured: {}", run.error.as_deref().unwrap_or("?")))?;
    let int_tx = rates.ports.iter().find(|p| p.name == "int").map_or(0.0, |p| p.tx_pps);
    if int_tx <= 0.0 {
        return Err("smoke: vsd forwarded nothing to the real servers".into());
    }
    eprintln!("vsd-perf: smoke: ok, vsd forwarded {int_tx:.0} packets/s");
    Ok(())
}

fn gen(shape: &Shape, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for spec in shape.specs() {
        spec.check()?;
        let mem = Memory::for_spec(&spec, shape.mem)?;
        let name = spec.profile.name();
        let pcap = dir.join(format!("{name}.pcap"));
        std::fs::write(&pcap, profile::pcap(&spec)).map_err(|e| format!("{}: {e}", pcap.display()))?;
        let cfg = dir.join(format!("{name}-vsd.yaml"));
        let text = setup::example_config(&spec, dir);
        std::fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
        println!("# {name}: {} frames per pass, -m {} with {} mbufs", spec.packets(), mem.mem_mb, mem.mbufs);
        println!("vsd --config {}", cfg.display());
        for mode in ["io", "5tswap"] {
            let args = setup::testpmd_args(mem, &format!("vsd-perf-testpmd-{name}"), &pcap, mode, 1);
            println!("dpdk-testpmd {}", args.join(" "));
        }
    }
    Ok(())
}

fn run_synth(a: &SynthArgs) -> Result<(), String> {
    let mut cases = Vec::new();
    let case = |kind, conns| Case { kind, conns, warmup_s: a.warmup, seconds: a.seconds };
    if !a.no_reference && !a.profile.contains(&Kind::Io) {
        cases.push(case(Kind::Io, 65_536));
    }
    for &kind in &a.profile {
        for &conns in &a.conns {
            cases.push(case(kind, if kind == Kind::Io { 65_536 } else { conns }));
        }
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let report = synth::run_cases(&exe, &cases, Machine::detect(a.tsc_mhz));
    print!("{}", report.table());
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let failed = report.errors.iter().flatten().count();
    if failed > 0 {
        return Err(format!("{failed} of {} synthetic cases were not measured", cases.len()));
    }
    Ok(())
}

/// The child side of `synth`: run one case and print its result as one JSON line.
fn synth_case(json: &str) -> Result<(), String> {
    let case: Case = serde_json::from_str(json).map_err(|e| format!("case {json}: {e}"))?;
    match synth::case::run(&case) {
        Ok(r) => {
            let line = serde_json::to_string(&r).map_err(|e| e.to_string())?;
            println!("{}{line}", synth::RESULT_PREFIX);
            Ok(())
        }
        Err(e) => {
            println!("vsd-perf: synth-case failed: {}", e.replace('\n', " | "));
            Err(e)
        }
    }
}
