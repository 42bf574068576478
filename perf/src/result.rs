//! What a perf run found, as JSON and as a testpmd-like table.
//!
//! The ratios come first in the table and in the JSON because they are the figures that survive a
//! shared, noisy machine: vsd and testpmd ran one after the other on the same vdevs, the same pcap
//! and the same lcore. With several repetitions each ratio is taken within one repetition (vsd
//! against the testpmd runs beside it) and the median is reported, so a slow phase of the machine
//! hits both sides of a ratio rather than one.

use crate::counters::{Rate, Rates};
use crate::machine::Machine;
use crate::profile::Spec;
use std::fmt::Write;

/// The programs a run compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Program {
    #[serde(rename = "vsd")]
    Vsd,
    #[serde(rename = "testpmd-io")]
    TestpmdIo,
    #[serde(rename = "testpmd-5tswap")]
    Testpmd5tswap,
}

impl Program {
    pub fn name(self) -> &'static str {
        match self {
            Program::Vsd => "vsd",
            Program::TestpmdIo => "testpmd io",
            Program::Testpmd5tswap => "testpmd 5tswap",
        }
    }

    /// testpmd's `--forward-mode`.
    pub fn forward_mode(self) -> Option<&'static str> {
        match self {
            Program::Vsd => None,
            Program::TestpmdIo => Some("io"),
            Program::Testpmd5tswap => Some("5tswap"),
        }
    }
}

/// One program's measurement, or why there is none.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProgramRun {
    pub program: Program,
    pub rates: Option<Rates>,
    /// The share of its CPU the forwarding thread had during the window (see [`crate::cpu`]).
    pub cpu_share: Option<f64>,
    /// TSC cycles the forwarding thread had per received packet (its CPU share counted).
    pub cycles_per_packet: Option<f64>,
    /// The process's resident memory at the end of the window.
    pub rss_bytes: Option<u64>,
    pub error: Option<String>,
}

impl ProgramRun {
    pub fn measured(program: Program, rates: Rates, cpu_share: Option<f64>, machine: &Machine) -> ProgramRun {
        let cores = rates.cores.len() as f64 * cpu_share.unwrap_or(1.0);
        let cycles_per_packet = machine.cycles_per_packet(cores, rates.received_pps());
        ProgramRun { program, rates: Some(rates), cpu_share, cycles_per_packet, rss_bytes: None, error: None }
    }

    pub fn failed(program: Program, error: String) -> ProgramRun {
        ProgramRun {
            program,
            rates: None,
            cpu_share: None,
            cycles_per_packet: None,
            rss_bytes: None,
            error: Some(error),
        }
    }

    pub fn forwarded_pps(&self) -> Option<f64> {
        self.rates.as_ref().map(Rates::forwarded_pps)
    }

    /// Forwarded packets per second of CPU the forwarding thread actually had.
    pub fn forwarded_per_cpu_second(&self) -> Option<f64> {
        Some(self.forwarded_pps()? / self.cpu_share.filter(|s| *s > 0.0).unwrap_or(1.0))
    }
}

/// vsd's forwarding rate over each testpmd mode's, median over repetitions: as measured, and per
/// second of CPU each forwarding thread really had.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Ratios {
    pub vsd_over_testpmd_io: Option<f64>,
    pub vsd_over_testpmd_5tswap: Option<f64>,
    pub per_cpu_second_io: Option<f64>,
    pub per_cpu_second_5tswap: Option<f64>,
}

/// One profile's runs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProfileRun {
    pub spec: Spec,
    pub packets_per_pass: usize,
    pub mem_mb: u32,
    pub mbufs: u32,
    pub warmup_s: u64,
    pub window_s: u64,
    pub ratios: Ratios,
    /// Every repetition: the programs in the order they ran.
    pub repetitions: Vec<Vec<ProgramRun>>,
}

/// The whole invocation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub machine: Machine,
    pub profiles: Vec<ProfileRun>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// The median over repetitions of vsd's `rate` over `other`'s.
fn ratio(reps: &[Vec<ProgramRun>], other: Program, rate: fn(&ProgramRun) -> Option<f64>) -> Option<f64> {
    let fwd = |rep: &[ProgramRun], p: Program| rep.iter().find(|r| r.program == p).and_then(rate);
    let per_rep = reps
        .iter()
        .filter_map(|rep| Some((fwd(rep, Program::Vsd)?, fwd(rep, other)?)))
        .filter(|(_, t)| *t > 0.0)
        .map(|(v, t)| v / t)
        .collect();
    median(per_rep)
}

impl Ratios {
    pub fn of(reps: &[Vec<ProgramRun>]) -> Ratios {
        let per_cpu = ProgramRun::forwarded_per_cpu_second;
        Ratios {
            vsd_over_testpmd_io: ratio(reps, Program::TestpmdIo, ProgramRun::forwarded_pps),
            vsd_over_testpmd_5tswap: ratio(reps, Program::Testpmd5tswap, ProgramRun::forwarded_pps),
            per_cpu_second_io: ratio(reps, Program::TestpmdIo, per_cpu),
            per_cpu_second_5tswap: ratio(reps, Program::Testpmd5tswap, per_cpu),
        }
    }
}

/// `12,345,678`: packet rates are read by their magnitude.
fn grouped(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn row(o: &mut String, program: &str, r: &Rate, cpu: Option<f64>, cycles: Option<f64>) {
    let cpu = cpu.map_or(String::new(), |s| format!("{:.0}%", s * 100.0));
    let cyc = cycles.map_or(String::new(), |c| format!("{c:.1}"));
    let _ = writeln!(
        o,
        "  {program:<16} {:<9} {:>13} {:>13} {:>11} {cpu:>5} {cyc:>11}",
        r.name,
        grouped(r.rx_pps),
        grouped(r.tx_pps),
        grouped(r.drops_ps)
    );
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".to_string(), |r| format!("{r:.2}"))
}

impl ProfileRun {
    /// The testpmd-like table of this profile.
    pub fn table(&self, machine: &Machine) -> String {
        let s = &self.spec;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "== {}: {} flows from {} clients, {} frames per pass; {} s window after {} s warm-up",
            s.profile.name(),
            s.flows,
            s.clients,
            self.packets_per_pass,
            self.window_s,
            self.warmup_s
        );
        let r = &self.ratios;
        let compared = self.repetitions.iter().flatten().any(|run| run.program != Program::Vsd);
        if compared {
            let _ = writeln!(
                o,
                "   ratios  vsd/testpmd-io {}  vsd/testpmd-5tswap {}   (forwarded packets per second{})",
                fmt_ratio(r.vsd_over_testpmd_io),
                fmt_ratio(r.vsd_over_testpmd_5tswap),
                if self.repetitions.len() > 1 { ", median of the repetitions" } else { "" }
            );
            let _ = writeln!(
                o,
                "           vsd/testpmd-io {}  vsd/testpmd-5tswap {}   (the same per second of CPU the thread had)",
                fmt_ratio(r.per_cpu_second_io),
                fmt_ratio(r.per_cpu_second_5tswap),
            );
        }
        let _ = writeln!(
            o,
            "   machine {}, {} CPUs, TSC {:.0} MHz, load {}",
            machine.model,
            machine.cpus,
            machine.tsc_hz / 1e6,
            machine.load_avg
        );
        let _ = writeln!(
            o,
            "  {:<16} {:<9} {:>13} {:>13} {:>11} {:>5} {:>11}",
            "program", "port/core", "Rx-pps", "Tx-pps", "drops/s", "cpu", "cycles/pkt"
        );
        for (i, rep) in self.repetitions.iter().enumerate() {
            if self.repetitions.len() > 1 {
                let _ = writeln!(o, "  -- repetition {}", i + 1);
            }
            for run in rep {
                match &run.rates {
                    Some(r) => {
                        for p in &r.ports {
                            row(&mut o, run.program.name(), p, None, None);
                        }
                        for c in &r.cores {
                            row(&mut o, run.program.name(), c, run.cpu_share, run.cycles_per_packet);
                        }
                        let mut extra = Vec::new();
                        if let Some(n) = r.new_conns_ps {
                            extra.push(format!("new connections/s {}", grouped(n)));
                        }
                        if let Some(b) = run.rss_bytes {
                            extra.push(format!("RSS {} MiB", b >> 20));
                        }
                        if !extra.is_empty() {
                            let _ = writeln!(o, "  {:<16} {}", run.program.name(), extra.join(", "));
                        }
                        if !r.drop_reasons.is_empty() {
                            let reasons: Vec<String> =
                                r.drop_reasons.iter().map(|(k, v)| format!("{k}={}", grouped(*v))).collect();
                            let _ = writeln!(
                                o,
                                "  {:<16} drops/s by reason: {}",
                                run.program.name(),
                                reasons.join(" ")
                            );
                        }
                    }
                    None => {
                        let e = run.error.as_deref().unwrap_or("no result");
                        let first = e.lines().next().unwrap_or(e);
                        let _ = writeln!(o, "  {:<16} not measured: {first}", run.program.name());
                    }
                }
            }
        }
        o
    }
}

impl ProfileRun {
    /// vsd's cycles per packet, median over the repetitions that measured it.
    pub fn vsd_cycles_per_packet(&self) -> Option<f64> {
        let runs = self.repetitions.iter().flatten().filter(|r| r.program == Program::Vsd);
        median(runs.filter_map(|r| r.cycles_per_packet).collect())
    }
}

/// A line per IPv6 profile whose IPv4 twin ran in the same invocation: vsd's cycles per packet on
/// both and their ratio, and both ratios to testpmd 5tswap (per second of CPU).
pub fn twin_comparisons(profiles: &[ProfileRun]) -> String {
    let mut o = String::new();
    for six in profiles {
        let Some(twin) = six.spec.profile.v4_twin() else { continue };
        let Some(four) = profiles.iter().find(|p| p.spec.profile == twin) else { continue };
        let (Some(c6), Some(c4)) = (six.vsd_cycles_per_packet(), four.vsd_cycles_per_packet()) else {
            continue;
        };
        let _ = writeln!(
            o,
            "== {} / {}: vsd {c6:.1} / {c4:.1} cycles/packet = {:.2}; vsd/testpmd-5tswap {} and {} (per second of CPU)",
            six.spec.profile.name(),
            four.spec.profile.name(),
            c6 / c4,
            fmt_ratio(six.ratios.per_cpu_second_5tswap),
            fmt_ratio(four.ratios.per_cpu_second_5tswap),
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn rate(name: &str, rx: f64, tx: f64) -> Rate {
        Rate { name: name.into(), rx_pps: rx, tx_pps: tx, drops_ps: 0.0 }
    }

    fn rates(rx: f64, tx: f64) -> Rates {
        Rates {
            seconds: 5.0,
            ports: vec![rate("ext", rx, 0.0), rate("int", 0.0, tx)],
            cores: vec![rate("lcore 1", rx, tx)],
            new_conns_ps: None,
            drop_reasons: vec![],
        }
    }

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            model: "test cpu".into(),
            tsc_hz: 2.6e9,
            tsc_source: "test".into(),
            load_avg: "0 0 0".into(),
        }
    }

    fn run(p: Program, fwd: f64) -> ProgramRun {
        ProgramRun::measured(p, rates(fwd, fwd), None, &machine())
    }

    #[test]
    fn ratios_are_medians_of_per_repetition_ratios() {
        let reps = vec![
            vec![run(Program::Vsd, 6e6), run(Program::TestpmdIo, 10e6), run(Program::Testpmd5tswap, 8e6)],
            vec![run(Program::Vsd, 3e6), run(Program::TestpmdIo, 6e6), run(Program::Testpmd5tswap, 4e6)],
            vec![run(Program::Vsd, 7e6), run(Program::TestpmdIo, 10e6), run(Program::Testpmd5tswap, 10e6)],
        ];
        let r = Ratios::of(&reps);
        // io: 0.6, 0.5, 0.7 → 0.6; 5tswap: 0.75, 0.75, 0.7 → 0.75.
        assert!((r.vsd_over_testpmd_io.unwrap() - 0.6).abs() < 1e-9);
        assert!((r.vsd_over_testpmd_5tswap.unwrap() - 0.75).abs() < 1e-9);
        // A repetition whose testpmd failed does not count.
        let partial = vec![vec![run(Program::Vsd, 1e6), ProgramRun::failed(Program::TestpmdIo, "x".into())]];
        assert_eq!(Ratios::of(&partial), Ratios::default());
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn cycles_per_packet_count_the_cpu_the_thread_had() {
        let r = run(Program::Vsd, 10e6);
        assert_eq!(r.cycles_per_packet, Some(260.0));
        let half = ProgramRun::measured(Program::Vsd, rates(5e6, 5e6), Some(0.5), &machine());
        assert_eq!(half.cycles_per_packet, Some(260.0));
        assert_eq!(half.forwarded_per_cpu_second(), Some(10e6));
    }

    #[test]
    fn per_cpu_ratios_correct_for_a_shared_core() {
        // vsd had 60 % of its core, testpmd all of it: 3 Mpps against 10 is 0.5 per CPU-second.
        let reps = vec![vec![
            ProgramRun::measured(Program::Vsd, rates(3e6, 3e6), Some(0.6), &machine()),
            ProgramRun::measured(Program::TestpmdIo, rates(10e6, 10e6), Some(1.0), &machine()),
        ]];
        let r = Ratios::of(&reps);
        assert!((r.vsd_over_testpmd_io.unwrap() - 0.3).abs() < 1e-9);
        assert!((r.per_cpu_second_io.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(r.per_cpu_second_5tswap, None);
    }

    #[test]
    fn table_puts_ratios_first_and_shows_every_port_and_core() {
        let reps = vec![vec![
            run(Program::Vsd, 6_500_000.0),
            run(Program::TestpmdIo, 10e6),
            run(Program::Testpmd5tswap, 8e6),
        ]];
        let pr = ProfileRun {
            spec: Spec::new(Profile::Established, 65_536),
            packets_per_pass: 262_144,
            mem_mb: 1280,
            mbufs: 278_527,
            warmup_s: 2,
            window_s: 5,
            ratios: Ratios::of(&reps),
            repetitions: reps,
        };
        let t = pr.table(&machine());
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[1].contains("vsd/testpmd-io 0.65") && lines[1].contains("vsd/testpmd-5tswap 0.81"),
            "{t}"
        );
        assert!(t.contains("TSC 2600 MHz"), "{t}");
        let vsd_core = lines.iter().find(|l| l.contains("vsd") && l.contains("lcore 1")).unwrap();
        assert!(vsd_core.contains("6,500,000") && vsd_core.contains("400.0"), "{vsd_core}");
        assert_eq!(lines.iter().filter(|l| l.contains("testpmd 5tswap")).count(), 3, "two ports and a core");
        let json = serde_json::to_value(&pr).unwrap();
        assert_eq!(json["ratios"]["vsd_over_testpmd_io"], 0.65);
        assert_eq!(json["repetitions"][0][1]["program"], "testpmd-io");
        assert_eq!(json["spec"]["profile"], "established");
    }

    #[test]
    fn a_failed_program_says_why_in_one_line() {
        let reps = vec![vec![
            ProgramRun::failed(Program::Vsd, "vsd refuses the config: persistence\nmore".into()),
            ProgramRun::failed(Program::TestpmdIo, "no testpmd".into()),
        ]];
        let pr = ProfileRun {
            spec: Spec::new(Profile::Persist, 1024),
            packets_per_pass: 4096,
            mem_mb: 1024,
            mbufs: 20_479,
            warmup_s: 1,
            window_s: 1,
            ratios: Ratios::of(&reps),
            repetitions: reps,
        };
        let t = pr.table(&machine());
        assert!(t.contains("vsd              not measured: vsd refuses the config: persistence\n"), "{t}");
        assert!(t.contains("vsd/testpmd-io n/a"));
        assert!(t.contains("testpmd io       not measured: no testpmd"));
    }

    #[test]
    fn a_vsd_only_run_prints_no_ratios_but_its_memory() {
        let mut vsd = run(Program::Vsd, 1e6);
        vsd.rss_bytes = Some(222 << 20);
        let reps = vec![vec![vsd]];
        let pr = ProfileRun {
            spec: Spec::new(Profile::Established, 256),
            packets_per_pass: 1024,
            mem_mb: 256,
            mbufs: 17_407,
            warmup_s: 1,
            window_s: 1,
            ratios: Ratios::of(&reps),
            repetitions: reps,
        };
        let t = pr.table(&machine());
        assert!(!t.contains("ratios"), "{t}");
        assert!(t.contains("RSS 222 MiB"), "{t}");
    }

    #[test]
    fn an_ipv6_profile_is_compared_with_its_ipv4_twin() {
        let profile = |p, vsd_fwd: &[f64]| {
            let reps: Vec<_> = vsd_fwd
                .iter()
                .map(|&f| vec![run(Program::Vsd, f), run(Program::Testpmd5tswap, 13e6)])
                .collect();
            ProfileRun {
                spec: Spec::new(p, 1024),
                packets_per_pass: 4096,
                mem_mb: 1024,
                mbufs: 20_479,
                warmup_s: 1,
                window_s: 1,
                ratios: Ratios::of(&reps),
                repetitions: reps,
            }
        };
        // 2.6 GHz: 8 Mpps is 325 cycles per packet, 6.5 Mpps 400.
        let four = profile(Profile::Established, &[8e6, 7e6, 8.125e6]);
        let six = profile(Profile::Established6, &[6.5e6, 6.5e6, 6e6]);
        assert_eq!(four.vsd_cycles_per_packet(), Some(2.6e9 / 8e6));
        let t = twin_comparisons(&[four.clone(), six.clone()]);
        assert_eq!(
            t,
            "== established6 / established: vsd 400.0 / 325.0 cycles/packet = 1.23; \
             vsd/testpmd-5tswap 0.50 and 0.62 (per second of CPU)\n"
        );
        assert_eq!(twin_comparisons(&[six]), "", "no twin, no line");
        assert_eq!(twin_comparisons(&[four]), "");
    }

    #[test]
    fn rates_group_by_thousands() {
        assert_eq!(grouped(0.0), "0");
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(1000.0), "1,000");
        assert_eq!(grouped(17_500_000.0), "17,500,000");
    }
}
