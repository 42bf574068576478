//! The FTP helper for NAT services: what LVS's `ip_vs_ftp` does, written for a sans-IO core.
//!
//! FTP opens its data connections on ports negotiated inside the control connection, which a
//! director that only looks at headers cannot follow. In NAT mode the director sees both
//! directions of the control connection (port 21), so it reads them:
//! - **Active mode.** The client's `PORT`/`EPRT` names where it listens. The real server will
//!   connect there from its port 20 (RFC 959 §3.2: L−1 of the control port L), so the helper
//!   creates that connection's entry in advance, controlled by the control connection (LVS
//!   `ip_vs_control_add`); the server's SYN then finds it by its out key and leaves from VIP:20.
//! - **Passive mode.** The server's `227` reply names its own address, which the client cannot
//!   reach: it is rewritten to the VIP, and because that may change the reply's length, the
//!   server's sequence numbers and the client's acknowledgments are shifted from then on
//!   ([`seq`]). `227` and `229` also create an [`expect`]ation, so that the client's data SYN to
//!   VIP:port reaches this server even on a service without persistence.
//!
//! Everything here is per core and allocation-free on the packet path: the tables are sized at
//! start, lines are parsed in place ([`parse`]), and a reply that changes length is rewritten in
//! two steps, planned on the frame's bytes and applied once the buffer can be resized ([`splice`]).
//! The helper holds connection ids but never trusts one blindly: each is checked against the key
//! of the connection it was recorded for, so an id reused by another connection is never mistaken
//! for its predecessor.
//!
//! **IPv6** (RFC 2428): the client announces its port with `EPRT |2|addr|port|` and the server its
//! passive port with `229 (|||port|)`, which names no address; so nothing is rewritten and no
//! stream is shifted over IPv6. `PORT`, `EPRT |1|` and `227` name IPv4 addresses and are left alone
//! on an IPv6 control connection, as `EPRT |2|` is on an IPv4 one (LVS `ip_vs_ftp` reads PORT and
//! 227 for IPv4, EPRT for IPv6).

pub mod expect;
pub mod parse;
pub mod seq;
pub mod splice;

use crate::addr::{Addr, FlowKey, Proto};
use crate::buf::PacketBuf;
use crate::conn::{Conn, ConnId, ConnState, ConnTable, Dir, Timeouts};
use crate::service::FIRST_UNPRIVILEGED_PORT;
use crate::time::Instant;
use crate::wire::tcp::HEADER_LEN;
use crate::wire::{Parsed, TcpFlags, TcpPacket};
use expect::{Expectation, Expectations};
use parse::{Active, Endpoint, PassiveReply, MAX_ADDR_TEXT};
use seq::SeqTable;
use splice::{Splice, SpliceError};

/// Control connections per core whose stream was shifted: one per 64 connection entries, within
/// bounds (each slot is about 56 bytes, doubled for probing).
const SEQ_SLOTS_PER_CONN: usize = 64;
const SEQ_MIN: usize = 64;
const SEQ_MAX: usize = 16 * 1024;
/// Pending passive data connections per core. They are consumed within a round trip, so a few
/// hundred cover thousands of sessions; the bound keeps the scan of a missing SYN short.
const EXPECT_CAPACITY: usize = 256;

/// A control connection, as the worker hands it to the helper with one of its packets.
#[derive(Clone, Copy, Debug)]
pub struct Control<'a> {
    pub id: ConnId,
    pub conn: &'a Conn,
    /// Whether the connection is established after this packet: LVS reads commands only then.
    pub established: bool,
}

/// A rewrite planned on a server reply, to apply in [`FtpHelper::finish`].
#[derive(Clone, Copy, Debug)]
struct Pending {
    splice: Splice,
    conn: ConnId,
    key: FlowKey,
    /// The reply's sequence number as the server sent it.
    seq: u32,
}

impl Pending {
    /// Whether `frame` is the reply this was planned on, after its NAT rewrite: from VIP:21 to the
    /// client's port. A plan never outlives its packet, but a stray one must not touch another.
    fn is_for(&self, frame: &[u8]) -> bool {
        let Some(seg) = frame.get(self.splice.l4_off..self.splice.l4_off + 4) else { return false };
        let dst = frame.get(self.splice.l3_off + 16..self.splice.l3_off + 20);
        seg[..2] == self.key.dport.to_be_bytes()
            && seg[2..] == self.key.sport.to_be_bytes()
            && dst == Some(&self.key.src.v4_octets()[..])
    }
}

/// The per-core FTP helper state.
pub struct FtpHelper {
    seqs: SeqTable,
    expected: Expectations,
    pending: Option<Pending>,
}

impl FtpHelper {
    /// Tables sized for a connection table of `conn_capacity`. All memory is allocated here.
    pub fn new(conn_capacity: usize) -> FtpHelper {
        FtpHelper {
            seqs: SeqTable::new((conn_capacity / SEQ_SLOTS_PER_CONN).clamp(SEQ_MIN, SEQ_MAX)),
            expected: Expectations::new(EXPECT_CAPACITY),
            pending: None,
        }
    }

    /// A client→server packet of a NAT control connection, before its NAT rewrite: shift its
    /// acknowledgment and SACK blocks by what the server's stream was shifted, and read `PORT` or
    /// `EPRT`. Returns the entry of the active data connection to create, if it announced one.
    pub fn from_client(
        &mut self,
        now: Instant,
        ctl: &Control,
        p: &Parsed,
        buf: &mut [u8],
        timeouts: &Timeouts,
    ) -> Option<Conn> {
        let c = ctl.conn;
        let seg = segment(p, buf)?;
        if let Some(adj) = self.seqs.get(ctl.id, &c.in_key()).filter(|a| !a.is_identity()) {
            let mut tcp = TcpPacket::new_unchecked(&mut *seg);
            if tcp.flags().contains(TcpFlags::ACK) {
                tcp.rewrite_ack_number(adj.ack(tcp.ack_number()));
            }
            if tcp.header_len() > HEADER_LEN {
                let csum = tcp.checksum();
                let csum = seq::adjust_sack(tcp.options_mut(), HEADER_LEN, &adj, csum);
                tcp.set_checksum(csum);
            }
        }
        let tcp = TcpPacket::new_unchecked(&*seg);
        if !ctl.established || tcp.payload().is_empty() || !tcp.verify_checksum(&p.src, &p.dst) {
            return None;
        }
        let active = parse::lines(tcp.payload()).find_map(|(_, line)| parse::client_command(line))?;
        // Only in the control connection's family: PORT and EPRT |1| over IPv4, EPRT |2| over
        // IPv6 (RFC 2428; LVS reads PORT for IPv4 and EPRT for IPv6). A v4-mapped address in
        // EPRT |2| is IPv4 to `Addr`, so it names no IPv6 client either.
        let (addr, port) = match active {
            Active::V4(ep) if c.client.is_v4() => (Addr::from_v4(ep.addr), ep.port),
            Active::V6 { addr, port } if !c.client.is_v4() => (Addr::from_v6(addr), port),
            _ => return None,
        };
        // Only the client's own address: the data connection's replies must come back to this
        // core (its owner is the client address), and the director must not open connections to
        // third parties for it (the FTP bounce attack, RFC 2577 §3).
        if addr != c.client {
            return None;
        }
        Some(Conn {
            proto: Proto::Tcp,
            fwd: c.fwd,
            // LVS `ip_vs_tcp_conn_listen`: waiting for the server's SYN.
            state: ConnState::Listen,
            client: c.client,
            cport: port,
            vip: c.vip,
            vport: c.vport.checked_sub(1)?,
            rs: c.rs,
            rport: c.rport.checked_sub(1)?,
            service: c.service,
            dest: c.dest,
            expires: now + timeouts.listen,
            controller: Some(ctl.id),
            ..Conn::EMPTY
        })
    }

    /// A server→client packet of a NAT control connection, before its NAT rewrite: shift its
    /// sequence number, and read `227`/`229`. A 227 naming the real server is planned for rewriting
    /// to the VIP (applied by [`FtpHelper::finish`]); either reply creates the expectation of the
    /// passive data connection.
    pub fn from_server(
        &mut self,
        now: Instant,
        ctl: &Control,
        p: &Parsed,
        buf: &mut [u8],
        timeouts: &Timeouts,
        conns: &ConnTable,
    ) {
        let c = ctl.conn;
        let key = c.in_key();
        let Some(seg) = segment(p, buf) else { return };
        let seq = TcpPacket::new_unchecked(&*seg).seq_number();
        if let Some(adj) = self.seqs.get(ctl.id, &key).filter(|a| !a.is_identity()) {
            TcpPacket::new_unchecked(&mut *seg).rewrite_seq_number(adj.seq(seq));
        }
        let tcp = TcpPacket::new_unchecked(&*seg);
        if !ctl.established || tcp.payload().is_empty() || !tcp.verify_checksum(&p.src, &p.dst) {
            return;
        }
        let payload_off = p.l4_off + tcp.header_len();
        let Some((off, reply)) =
            parse::lines(tcp.payload()).find_map(|(off, line)| Some((off, parse::server_reply(line)?)))
        else {
            return;
        };
        let (port, rewrite) = match reply {
            PassiveReply::Epsv { port } => (port, None),
            // 227 carries IPv4 only: over IPv6 it names nothing this connection reaches (LVS
            // reads 227 for IPv4 only), and is left alone.
            PassiveReply::Pasv { .. } if !c.vip.is_v4() => return,
            PassiveReply::Pasv { endpoint: Endpoint { addr, port }, addr_text } => {
                let announced = Addr::from_v4(addr);
                if announced == c.vip {
                    (port, None)
                } else if announced == c.rs {
                    let at = payload_off + off + addr_text.start;
                    (port, Some((at, addr_text.len())))
                } else {
                    // Another address: the data connection does not involve this director.
                    return;
                }
            }
        };
        // Expectations bypass the service lookup; privileged ports stay with their services.
        if port < FIRST_UNPRIVILEGED_PORT {
            return;
        }
        self.expected.insert(
            now,
            Expectation {
                client: c.client,
                vip: c.vip,
                port,
                rs: c.rs,
                fwd: c.fwd,
                service: c.service,
                dest: c.dest,
                controller: ctl.id,
                control_key: key,
                expires: now + timeouts.listen,
            },
        );
        let Some((at, len)) = rewrite else { return };
        let mut text = [0u8; MAX_ADDR_TEXT];
        let n = parse::format_pasv_addr(c.vip.v4_octets(), &mut text);
        let Some(splice) = Splice::new(p.l3_off, p.l4_off, at, len, &text[..n]) else { return };
        // A length change needs a slot for the shift; without one, leave the reply alone rather
        // than desynchronise the stream.
        if splice.diff() != 0 && !self.seqs.reserve(ctl.id, &key, |id, k| alive(conns, id, k)) {
            return;
        }
        self.pending = Some(Pending { splice, conn: ctl.id, key, seq });
    }

    /// Whether [`FtpHelper::finish`] has work for the current packet.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Apply the rewrite planned on the current packet, now that its buffer can be resized (and
    /// its NAT rewrite is done), and record the shift it causes. `forwarded`: whether the packet
    /// leaves at all; if not, the plan is dropped.
    pub fn finish<B: PacketBuf>(&mut self, pkt: &mut B, forwarded: bool) -> Result<(), SpliceError> {
        let Some(pd) = self.pending.take() else { return Ok(()) };
        if !forwarded {
            return Ok(());
        }
        if !pd.is_for(pkt.as_ref()) {
            return Err(SpliceError::Mismatch);
        }
        pd.splice.apply(pkt)?;
        let diff = pd.splice.diff();
        if diff != 0 {
            self.seqs.record(pd.conn, &pd.key, pd.seq, diff);
        }
        Ok(())
    }

    /// The entry of a data connection that a SYN missing the connection table (`key`, client →
    /// VIP) was expected to open, if a live control connection announced it. The entry keeps the
    /// port on the real server and is controlled by the control connection.
    #[inline]
    pub fn expected(
        &mut self,
        now: Instant,
        key: &FlowKey,
        conns: &ConnTable,
        timeouts: &Timeouts,
    ) -> Option<Conn> {
        if self.expected.is_empty() || key.proto != Proto::Tcp {
            return None;
        }
        let e = self.expected.take(now, &key.src, &key.dst, key.dport)?;
        if !alive(conns, e.controller, &e.control_key) {
            return None;
        }
        Some(Conn {
            proto: Proto::Tcp,
            fwd: e.fwd,
            state: ConnState::None,
            client: key.src,
            cport: key.sport,
            vip: key.dst,
            vport: key.dport,
            rs: e.rs,
            rport: key.dport,
            service: e.service,
            dest: e.dest,
            expires: now + timeouts.none,
            controller: Some(e.controller),
            ..Conn::EMPTY
        })
    }

    /// Forget what was recorded for connection `id`: it was removed, or the id now names a new
    /// connection.
    pub fn forget(&mut self, id: ConnId) {
        self.seqs.remove(id);
        if !self.expected.is_empty() {
            self.expected.forget(id);
        }
    }

    /// How many expectations are pending (for tests and listings).
    pub fn expectations(&self) -> usize {
        self.expected.len()
    }
}

/// The bytes of a parsed frame's TCP segment, once checked to hold a whole TCP header (after
/// which no view accessor panics).
fn segment<'a>(p: &Parsed, buf: &'a mut [u8]) -> Option<&'a mut [u8]> {
    let end = p.l3_off + p.l3_len as usize;
    let seg = buf.get_mut(p.l4_off..end)?;
    TcpPacket::new_checked(&*seg).ok()?;
    Some(seg)
}

/// Whether connection `id` is still the connection whose in key is `key`.
fn alive(conns: &ConnTable, id: ConnId, key: &FlowKey) -> bool {
    conns.lookup(key) == Some((id, Dir::In))
}

#[cfg(test)]
mod tests;
