//! Counters read from the programs' own output, and rates over a measurement window.
//!
//! Neither vsd nor testpmd is linked in: the runner reads what they print, the way an operator
//! would, so a perf run measures the shipped binaries unchanged. Both formats are parsed by the
//! same rule: a line is a sequence of `Key: value` or `key value` pairs, and the parser picks the
//! numbers that follow the words it knows. A field the program stops printing makes the parse
//! fail loudly, never read as zero.

/// The numbers that follow `key` in `line`: `key N`, `key: N`, `key=N`.
fn after<'a>(line: &'a str, key: &'a str) -> impl Iterator<Item = u64> + 'a {
    line.match_indices(key).filter_map(move |(at, _)| {
        // A whole word: not the tail of a longer one (`rx` inside `prefix`).
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            return None;
        }
        let rest = line[at + key.len()..].trim_start_matches([':', '=', ' ']);
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}

/// The first number after `key`, or an error naming the key and the line.
fn field(line: &str, key: &str) -> Result<u64, String> {
    after(line, key).next().ok_or_else(|| format!("no number after {key:?} in {line:?}"))
}

/// One port's totals since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortTotals {
    pub name: String,
    pub rx: u64,
    pub tx: u64,
    /// Everything the port lost: missed, RX errors, TX errors, no mbuf.
    pub drops: u64,
}

/// One forwarding core's totals since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreTotals {
    pub id: u32,
    pub rx: u64,
    pub tx: u64,
    pub drops: u64,
    pub conns_created: u64,
}

/// Totals at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub ports: Vec<PortTotals>,
    pub cores: Vec<CoreTotals>,
    /// vsd's drop reasons (`worker N drops: reason=count ...`), summed over workers.
    pub reasons: Vec<(String, u64)>,
}

/// One stats report of vsd (the text between `-- vsd stats` and `-- end of stats`, as printed on
/// SIGUSR1 by control/src/report.rs).
pub fn parse_vsd_report(text: &str) -> Result<Totals, String> {
    let mut t = Totals::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("port ") {
            let Some((name, stats)) = rest.split_once(": ") else { continue };
            if stats.starts_with("stats unavailable") {
                return Err(format!("vsd could not read port {name}: {stats}"));
            }
            t.ports.push(PortTotals {
                name: name.to_string(),
                rx: field(stats, "rx")?,
                tx: field(stats, "tx")?,
                drops: field(stats, "drops")?,
            });
        } else if let Some(rest) = line.strip_prefix("worker ") {
            let Some((id, stats)) = rest.split_once(':') else { continue };
            if id.ends_with(" drops") {
                for pair in stats.split_whitespace() {
                    if let Some((reason, n)) = pair.split_once('=') {
                        let n: u64 = n.parse().map_err(|_| format!("bad drop count in {line:?}"))?;
                        match t.reasons.iter_mut().find(|(r, _)| r == reason) {
                            Some((_, sum)) => *sum += n,
                            None => t.reasons.push((reason.to_string(), n)),
                        }
                    }
                }
                continue;
            }
            t.cores.push(CoreTotals {
                id: id.trim().parse().map_err(|_| format!("bad worker id in {line:?}"))?,
                rx: field(stats, "rx")?,
                tx: field(stats, "tx")?,
                drops: field(stats, "drops")?,
                conns_created: field(stats, "conns created")?,
            });
        }
    }
    if t.ports.is_empty() || t.cores.is_empty() {
        return Err(format!("not a vsd stats report (no port or worker lines):\n{text}"));
    }
    Ok(t)
}

/// One `--stats-period` block of dpdk-testpmd: per-port totals and testpmd's own rates since the
/// previous block (which testpmd times with the TSC).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestpmdSample {
    pub ports: Vec<TestpmdPort>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestpmdPort {
    pub port: u32,
    pub totals: PortTotals,
    pub rx_pps: u64,
    pub tx_pps: u64,
}

/// Every complete stats block in testpmd's output, in order. A block is complete once every port
/// in it has its Tx-pps line; a block cut off (by a kill, or by reading a pipe mid-block) is left
/// out.
pub fn parse_testpmd_samples(text: &str) -> Result<Vec<TestpmdSample>, String> {
    let mut samples = Vec::new();
    let mut cur: Option<TestpmdSample> = None;
    // Ports of the current block whose Tx-pps line, the block's last, has been read.
    let mut done = 0;
    fn close(cur: &mut Option<TestpmdSample>, done: usize, samples: &mut Vec<TestpmdSample>) {
        if let Some(s) = cur.take().filter(|s| !s.ports.is_empty() && done == s.ports.len()) {
            samples.push(s);
        }
    }
    for line in text.lines().map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\u{1b}')) {
        if line.contains("Port statistics ====") {
            close(&mut cur, done, &mut samples);
            cur = Some(TestpmdSample::default());
            done = 0;
            continue;
        }
        if line.contains("Forward statistics") {
            close(&mut cur, done, &mut samples);
            continue;
        }
        let Some(s) = cur.as_mut() else { continue };
        if line.contains("NIC statistics for port") {
            let port = u32::try_from(field(line, "port")?).map_err(|e| format!("port in {line:?}: {e}"))?;
            s.ports.push(TestpmdPort {
                port,
                totals: PortTotals { name: port.to_string(), ..Default::default() },
                ..Default::default()
            });
            continue;
        }
        let Some(p) = s.ports.last_mut() else { continue };
        if line.starts_with("RX-packets:") {
            p.totals.rx = field(line, "RX-packets")?;
            p.totals.drops += field(line, "RX-missed")?;
        } else if line.starts_with("RX-errors:") {
            p.totals.drops += field(line, "RX-errors")?;
        } else if line.starts_with("RX-nombuf:") {
            p.totals.drops += field(line, "RX-nombuf")?;
        } else if line.starts_with("TX-packets:") {
            p.totals.tx = field(line, "TX-packets")?;
            p.totals.drops += field(line, "TX-errors")?;
        } else if line.starts_with("Rx-pps:") {
            p.rx_pps = field(line, "Rx-pps")?;
        } else if line.starts_with("Tx-pps:") {
            p.tx_pps = field(line, "Tx-pps")?;
            done += 1;
        }
    }
    close(&mut cur, done, &mut samples);
    Ok(samples)
}

/// Packets per second of one port or core over a window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rate {
    /// `ext`, `int`, a testpmd port number, or `lcore N`.
    pub name: String,
    pub rx_pps: f64,
    pub tx_pps: f64,
    pub drops_ps: f64,
}

/// Rates of one program over the measurement window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rates {
    pub seconds: f64,
    pub ports: Vec<Rate>,
    pub cores: Vec<Rate>,
    /// New connections per second, summed over cores (vsd only).
    pub new_conns_ps: Option<f64>,
    /// vsd's drop reasons over the window, per second.
    pub drop_reasons: Vec<(String, f64)>,
}

impl Rates {
    /// Packets forwarded per second: everything sent, on every port.
    pub fn forwarded_pps(&self) -> f64 {
        self.ports.iter().map(|p| p.tx_pps).sum()
    }

    /// Packets received per second on every port.
    pub fn received_pps(&self) -> f64 {
        self.ports.iter().map(|p| p.rx_pps).sum()
    }
}

fn per_sec(a: u64, b: u64, secs: f64) -> f64 {
    b.saturating_sub(a) as f64 / secs
}

/// vsd's rates between two reports taken `seconds` apart. `lcores` names the workers' lcores.
pub fn vsd_rates(a: &Totals, b: &Totals, seconds: f64, lcores: &[u32]) -> Result<Rates, String> {
    if a.ports.len() != b.ports.len() || a.cores.len() != b.cores.len() || seconds <= 0.0 {
        return Err("the two vsd reports do not match".into());
    }
    let ports = a
        .ports
        .iter()
        .zip(&b.ports)
        .map(|(x, y)| Rate {
            name: y.name.clone(),
            rx_pps: per_sec(x.rx, y.rx, seconds),
            tx_pps: per_sec(x.tx, y.tx, seconds),
            drops_ps: per_sec(x.drops, y.drops, seconds),
        })
        .collect();
    let cores: Vec<Rate> = a
        .cores
        .iter()
        .zip(&b.cores)
        .map(|(x, y)| Rate {
            name: format!("lcore {}", lcores.get(y.id as usize).copied().unwrap_or(y.id)),
            rx_pps: per_sec(x.rx, y.rx, seconds),
            tx_pps: per_sec(x.tx, y.tx, seconds),
            drops_ps: per_sec(x.drops, y.drops, seconds),
        })
        .collect();
    let created = |t: &Totals| t.cores.iter().map(|c| c.conns_created).sum::<u64>();
    let drop_reasons = b
        .reasons
        .iter()
        .map(|(r, n)| {
            let before = a.reasons.iter().find(|(x, _)| x == r).map_or(0, |(_, m)| *m);
            (r.clone(), per_sec(before, *n, seconds))
        })
        .filter(|(_, ps)| *ps > 0.0)
        .collect();
    Ok(Rates {
        seconds,
        ports,
        cores,
        new_conns_ps: Some(per_sec(created(a), created(b), seconds)),
        drop_reasons,
    })
}

/// testpmd's rates over `samples` (consecutive one-period blocks): the mean of testpmd's own
/// per-period rates, drops from its counters. One forwarding lcore polls every port, so the
/// core's figures are the ports' sums; what it received and did not send, it dropped.
pub fn testpmd_rates(samples: &[TestpmdSample], period: f64, lcore: u32) -> Result<Rates, String> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Err("testpmd printed no statistics inside the window".into());
    };
    let n = samples.len() as f64;
    let seconds = n * period;
    let mut ports = Vec::new();
    for (i, p) in last.ports.iter().enumerate() {
        let mean = |f: fn(&TestpmdPort) -> u64| {
            samples.iter().map(|s| s.ports.get(i).map_or(0, f) as f64).sum::<f64>() / n
        };
        // Drops: the counters' growth from the first block to the last, n - 1 periods later.
        let before = first.ports.get(i).map_or(0, |q| q.totals.drops);
        ports.push(Rate {
            name: format!("port {}", p.port),
            rx_pps: mean(|q| q.rx_pps),
            tx_pps: mean(|q| q.tx_pps),
            drops_ps: per_sec(before, p.totals.drops, (n - 1.0).max(1.0) * period),
        });
    }
    let rx: f64 = ports.iter().map(|p| p.rx_pps).sum();
    let tx: f64 = ports.iter().map(|p| p.tx_pps).sum();
    let cores =
        vec![Rate { name: format!("lcore {lcore}"), rx_pps: rx, tx_pps: tx, drops_ps: (rx - tx).max(0.0) }];
    Ok(Rates { seconds, ports, cores, new_conns_ps: None, drop_reasons: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as control/src/report.rs renders it.
    const VSD: &str = "-- vsd stats, uptime 4.1s
Prot LocalAddress:Port Scheduler
  -> RemoteAddress:Port      Forward Weight ActiveConn InActConn Conns   InPkts  OutPkts  InBytes OutBytes
tcp  198.18.0.100:80 rr
  -> 198.19.0.11:8080          Masq    1      16384      0         16384   90000    0        3600000  0
port ext: rx 1000000 pkts 60000000 bytes, tx 5 pkts 300 bytes, drops 7 (missed 7, rx errors 0, tx errors 0, no mbuf 0)
port int: rx 0 pkts 0 bytes, tx 999990 pkts 59999400 bytes, drops 0 (missed 0, rx errors 0, tx errors 0, no mbuf 0)
worker 0: rx 1000000 pkts, tx 999995 pkts, conns created 65536 expired 0, arp replies 0 requests 0, echo replies 0, drops 5
worker 0 drops: no_conn=3 parse_ipv4_truncated=2
-- end of stats";

    #[test]
    fn reads_vsd_ports_workers_and_drop_reasons() {
        let t = parse_vsd_report(VSD).unwrap();
        assert_eq!(
            t.ports,
            [
                PortTotals { name: "ext".into(), rx: 1_000_000, tx: 5, drops: 7 },
                PortTotals { name: "int".into(), rx: 0, tx: 999_990, drops: 0 },
            ]
        );
        assert_eq!(
            t.cores,
            [CoreTotals { id: 0, rx: 1_000_000, tx: 999_995, drops: 5, conns_created: 65_536 }]
        );
        assert_eq!(t.reasons, [("no_conn".to_string(), 3), ("parse_ipv4_truncated".to_string(), 2)]);
    }

    #[test]
    fn vsd_rates_are_deltas_over_the_window() {
        let a = parse_vsd_report(VSD).unwrap();
        let b_text = VSD
            .replace("port ext: rx 1000000", "port ext: rx 3000000")
            .replace("tx 999990 pkts", "tx 2999990 pkts")
            .replace(
                "worker 0: rx 1000000 pkts, tx 999995 pkts, conns created 65536",
                "worker 0: rx 3000000 pkts, tx 2999995 pkts, conns created 75536",
            )
            .replace("no_conn=3", "no_conn=13");
        let b = parse_vsd_report(&b_text).unwrap();
        let r = vsd_rates(&a, &b, 2.0, &[1]).unwrap();
        assert_eq!(r.ports[0].rx_pps, 1_000_000.0);
        assert_eq!(r.ports[1].tx_pps, 1_000_000.0);
        assert_eq!(r.forwarded_pps(), 1_000_000.0);
        assert_eq!(r.cores[0].name, "lcore 1");
        assert_eq!(r.cores[0].rx_pps, 1_000_000.0);
        assert_eq!(r.new_conns_ps, Some(5_000.0));
        assert_eq!(r.drop_reasons, [("no_conn".to_string(), 5.0)]);
    }

    #[test]
    fn refuses_what_is_not_a_vsd_report() {
        assert!(parse_vsd_report("hello\nworld").is_err());
        let missing = VSD.replace("conns created 65536", "conns made 65536");
        assert!(parse_vsd_report(&missing).unwrap_err().contains("conns created"));
        let down = VSD.replace("port int: rx 0 pkts", "port int: stats unavailable: gone\nport x: rx 0 pkts");
        assert!(parse_vsd_report(&down).unwrap_err().contains("could not read port int"));
    }

    /// Two blocks as dpdk-testpmd 22.11 prints them with `--stats-period 1` (escape codes included).
    fn testpmd_block(rx: u64, pps: u64, missed: u64) -> String {
        format!(
            "\u{1b}[2J\u{1b}[1;1H
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: {rx}   RX-missed: {missed}          RX-bytes:  8983680
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:      {pps}          Rx-bps:   3527769200
  Tx-pps:            0          Tx-bps:            0
  ############################################################################

  ######################## NIC statistics for port 1  ########################
  RX-packets: 0          RX-missed: 0          RX-bytes:  0
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: {rx}  TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:      {pps}          Tx-bps:            0
  ############################################################################
"
        )
    }

    #[test]
    fn reads_testpmd_blocks_and_averages_its_rates() {
        let mut out = String::from("io packet forwarding - ports=2 - cores=1\n");
        out += &testpmd_block(149_728, 0, 0);
        out += &testpmd_block(7_000_000, 7_000_000, 0);
        out += &testpmd_block(16_000_000, 9_000_000, 10);
        out += "Telling cores to stop...\n  ---------------------- Forward statistics for port 0  ----------------------\n";
        let s = parse_testpmd_samples(&out).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].ports[0].totals.rx, 7_000_000);
        assert_eq!(s[2].ports[1].tx_pps, 9_000_000);
        assert_eq!(s[2].ports[0].totals.drops, 10);
        let r = testpmd_rates(&s[1..], 1.0, 1).unwrap();
        assert_eq!(r.ports[0].rx_pps, 8_000_000.0);
        assert_eq!(r.ports[1].tx_pps, 8_000_000.0);
        assert_eq!(r.ports[0].drops_ps, 10.0);
        assert_eq!(r.cores[0].rx_pps, 8_000_000.0);
        assert_eq!(r.cores[0].drops_ps, 0.0);
        assert_eq!(r.forwarded_pps(), 8_000_000.0);
    }

    #[test]
    fn a_testpmd_block_cut_off_by_a_kill_is_left_out() {
        let mut out = testpmd_block(1, 0, 0);
        out += &testpmd_block(2, 5, 0)[..200];
        assert_eq!(parse_testpmd_samples(&out).unwrap().len(), 1);
        assert!(testpmd_rates(&[], 1.0, 1).is_err());
    }

    #[test]
    fn keys_match_whole_words_only() {
        assert_eq!(after("prefix 5 rx 7", "rx").collect::<Vec<_>>(), [7]);
        assert_eq!(after("tx 1 pkts 2 bytes, tx 3", "tx").collect::<Vec<_>>(), [1, 3]);
        assert!(field("rx: none", "rx").is_err());
    }
}
