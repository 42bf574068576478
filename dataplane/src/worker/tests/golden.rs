//! Golden tables of the worker (Katran's shape): each row is {name, prior steps, time, input,
//! expected action}, and the expected action of a transmitting row is the whole frame that must
//! leave, built by [`crate::craft`] from what the packet means (never by patching the output).
//!
//! A row runs on a fresh [`Rig`] set up by the row (the common one knows the client and the real
//! servers as neighbours), after its prior frames (the SYN before an ACK, the tunnel packet an
//! ICMP error quotes) and a move of the virtual clock. The runner checks the action, the whole
//! frame, and the drop counters: a `Drop` row's reason went up by exactly one and nothing else did;
//! every other row counts no drop (but [`Row::counting`], vsd's own "fragmentation needed", which
//! counts the packet it replaces as `too_big`).
//!
//! The rows are in sibling files by area: `golden_host.rs` (ARP, ICMP echo, forwarding, drops) and
//! `golden_tunnel.rs` (tunnels, ICMP errors, MTUs, and a check that every drop reason has a row or
//! is listed below).
//!
//! Multi-step scenarios (ARP hold and release, template lifetimes, fragment queues, two workers
//! sharing neighbours) are ordinary tests in the sibling files.
//!
//! Drop reasons no row produces, because the worker does not produce them from a received packet
//! of a [`Rig`]:
//! - `TxFull`, `Segmented`, `RedirectFull`: counted by the driver (TX queue, multi-segment mbuf,
//!   redirect ring).
//! - `NoMbuf`: counted by the driver when it has no buffer for what vsd generates; the worker also
//!   uses it when an FTP 227 rewrite finds no tailroom, which a [`VecBuf`] always has.
//! - `NoHeadroom`: a [`VecBuf`] always has 128 bytes of headroom, more than any encapsulation or
//!   ICMP error needs (DPDK's default headroom too).
//! - `NeighUnresolved`: counted when a held packet is given up, by the timers (`poll_output`), not by
//!   a packet: `unresolved_next_hop_gives_up_and_counts` in `mod.rs`.

use super::*;
use crate::stats::WorkerStats;
use crate::wire::ParseError;
use core::time::Duration;

/// What a row expects the worker to do with its input.
#[derive(Debug)]
pub(super) enum Expect {
    /// Transmit on this interface exactly this frame.
    Tx(u16, Vec<u8>),
    /// Free it, with exactly this drop counted.
    Drop(DropReason),
    /// Free it without counting a drop (an ARP reply learned from, an error absorbed).
    Consumed,
    /// Keep it while the next hop resolves.
    Held,
    /// Hand it to this worker.
    Redirect(u16),
}

pub(super) struct Row {
    pub name: String,
    /// The rig the row runs on, fresh.
    pub rig: fn() -> Rig,
    /// Frames received first, in order, whatever becomes of them.
    pub prior: Vec<(u16, Vec<u8>)>,
    /// A control-plane change after the prior frames (a server removed, a weight set).
    pub then: Option<fn(&mut Rig)>,
    /// How far the virtual clock moves before the input.
    pub after: Duration,
    pub input: (u16, Vec<u8>),
    pub expect: Expect,
    /// A drop counted along with a transmission.
    pub counts: Option<DropReason>,
}

/// A row on the common rig ([`learned`]), with no prior steps.
pub(super) fn row(name: impl Into<String>, iface: u16, frame: Vec<u8>, expect: Expect) -> Row {
    Row {
        name: name.into(),
        rig: learned,
        prior: Vec::new(),
        then: None,
        after: Duration::ZERO,
        input: (iface, frame),
        expect,
        counts: None,
    }
}

impl Row {
    pub fn on(self, rig: fn() -> Rig) -> Row {
        Row { rig, ..self }
    }

    pub fn prior(mut self, iface: u16, frame: Vec<u8>) -> Row {
        self.prior.push((iface, frame));
        self
    }

    pub fn prior_n(mut self, n: usize, iface: u16, frame: Vec<u8>) -> Row {
        self.prior.extend((0..n).map(|_| (iface, frame.clone())));
        self
    }

    pub fn then(self, f: fn(&mut Rig)) -> Row {
        Row { then: Some(f), ..self }
    }

    pub fn after(self, d: Duration) -> Row {
        Row { after: d, ..self }
    }

    pub fn counting(self, r: DropReason) -> Row {
        Row { counts: Some(r), ..self }
    }
}

/// Every drop and parse-error counter, by name.
fn drop_counters(s: &WorkerStats) -> Vec<(&'static str, u64)> {
    let drops = DropReason::ALL.iter().map(|r| (r.name(), s.drops[*r as usize].get()));
    let parse = ParseError::ALL.iter().map(|e| (e.name(), s.parse_errors[*e as usize].get()));
    drops.chain(parse).collect()
}

/// Run every row of `table`; fail naming each row that did not hold.
pub(super) fn run(table: Vec<Row>) {
    let failures: Vec<String> = table
        .iter()
        .filter_map(|row| run_row(row).err().map(|e| format!("row {:?}: {e}", row.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n\n")
    );
}

fn run_row(row: &Row) -> Result<(), String> {
    let mut r = (row.rig)();
    for (iface, frame) in &row.prior {
        let _ = r.rx(*iface, frame);
    }
    if let Some(f) = row.then {
        f(&mut r);
    }
    r.now = r.now + row.after;
    let before = drop_counters(&r.w.stats());
    let (iface, frame) = &row.input;
    let act = r.rx(*iface, frame);
    let counted: Vec<(&str, u64)> = drop_counters(&r.w.stats())
        .into_iter()
        .zip(before)
        .filter(|(after, before)| after.1 != before.1)
        .map(|(after, before)| (after.0, after.1.wrapping_sub(before.1)))
        .collect();
    let want_counted: Vec<(&str, u64)> = match (&row.expect, row.counts) {
        (&Expect::Drop(r), _) | (_, Some(r)) => vec![(r.name(), 1)],
        _ => vec![],
    };
    match (&row.expect, act) {
        (Expect::Tx(want_if, want), Action::Tx(got_if, b)) => {
            if *want_if != got_if {
                return Err(format!("sent on interface {got_if}, expected {want_if}"));
            }
            frame_diff(want, b.as_ref())?;
        }
        (Expect::Drop(_) | Expect::Consumed, Action::Free(_)) | (Expect::Held, Action::Held) => {}
        (Expect::Redirect(want), Action::Redirect(got, _)) if *want == got => {}
        (want, got) => return Err(format!("expected {}, got {}", describe(want), describe_action(&got))),
    }
    if counted != want_counted {
        return Err(format!("drop counters changed by {counted:?}, expected {want_counted:?}"));
    }
    Ok(())
}

fn describe(e: &Expect) -> String {
    match e {
        Expect::Tx(i, f) => format!("Tx on {i} ({} bytes)", f.len()),
        other => format!("{other:?}"),
    }
}

fn describe_action(a: &Action<VecBuf>) -> String {
    match a {
        Action::Tx(i, b) => format!("Tx on {i}:\n{}", hex(b.as_ref())),
        Action::Free(_) => "Free".into(),
        Action::Held => "Held".into(),
        Action::Redirect(w, _) => format!("Redirect({w})"),
    }
}

/// Compare two frames; on a difference, say where it starts and show both.
pub(super) fn frame_diff(want: &[u8], got: &[u8]) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let at = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
    Err(format!(
        "frames differ at offset {at} (expected {} bytes, got {}):\nexpected:\n{}got:\n{}",
        want.len(),
        got.len(),
        hex(want),
        hex(got)
    ))
}

fn hex(f: &[u8]) -> String {
    f.chunks(16)
        .enumerate()
        .map(|(i, line)| {
            let bytes: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            format!("  {:04x}  {}\n", i * 16, bytes.join(" "))
        })
        .collect()
}

// ---- Rigs ----------------------------------------------------------------------------------

/// The common snapshot, with the client and every real server known as neighbours.
pub(super) fn learned() -> Rig {
    teach(Rig::new())
}

pub(super) fn teach(mut r: Rig) -> Rig {
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    for n in [11, 12, 13, 21, 22, 23, 31, 32] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    r
}

/// The common snapshot changed by `edit` before any worker sees it.
pub(super) fn edited(edit: impl FnOnce(&mut Snapshot)) -> Arc<Snapshot> {
    let mut s = Arc::try_unwrap(snapshot()).expect("a fresh snapshot");
    edit(&mut s);
    Arc::new(s)
}

// ---- Frames --------------------------------------------------------------------------------

pub(super) const PAYLOAD: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

/// A TCP segment with the common payload, as an IPv4 packet.
pub(super) fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    craft::tcp_v4(src, dst, sport, dport, flags, PAYLOAD)
}

/// An IPv4 packet as a router forwards it: one hop less.
pub(super) fn hop(ip: Vec<u8>) -> Vec<u8> {
    craft::edit_ipv4(ip, |h| h.set_ttl(h.ttl() - 1))
}

pub(super) fn from_client(ip: &[u8]) -> Vec<u8> {
    eth(EXT_MAC, CLIENT_MAC, 0x0800, ip)
}

pub(super) fn to_client(ip: &[u8]) -> Vec<u8> {
    eth(CLIENT_MAC, EXT_MAC, 0x0800, ip)
}

pub(super) fn from_rs(n: u8, ip: &[u8]) -> Vec<u8> {
    eth(INT_MAC, rs_mac(n), 0x0800, ip)
}

pub(super) fn to_rs(n: u8, ip: &[u8]) -> Vec<u8> {
    eth(rs_mac(n), INT_MAC, 0x0800, ip)
}

/// An ICMP error (type `ty`, code `code`, next-hop MTU `mtu`) quoting `quote`, as an IPv4 packet
/// from a host (craft's header: DF, TTL 64).
pub(super) fn icmp_err(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8, mtu: u16, quote: &[u8]) -> Vec<u8> {
    let [m0, m1] = mtu.to_be_bytes();
    craft::icmp_v4(src, dst, ty, code, [0, 0, m0, m1], quote)
}

/// An ICMP error as vsd builds it (Linux `icmp_send`): TOS 0xc0, no DF, TTL 64, ident `ident`.
pub(super) fn vsd_err(dst: [u8; 4], ty: u8, code: u8, mtu: u16, ident: u16, quote: &[u8]) -> Vec<u8> {
    craft::edit_ipv4(icmp_err(EXT_IP, dst, ty, code, mtu, quote), |h| {
        h.set_dscp(0xc0 >> 2);
        h.set_dont_frag(false);
        h.set_ident(ident);
    })
}
