//! One connection entry and its two lookup keys.
//!
//! An entry is plain data (`Copy`, public fields): what the table takes on insert and hands out on
//! reads. The table stores it packed, one cache line with its timer links (`slot`).
//!
//! An entry is reachable by up to two keys, as in LVS (`ip_vs_conn_in_get` / `ip_vs_conn_out_get`):
//! the client→VIP tuple for packets from the client, and, when the director sees replies (NAT and
//! full NAT), the real server→client tuple. A persistence template is an entry too (LVS
//! `IP_VS_CONN_F_TEMPLATE`): it has only the in key, and is looked up by kind, so a template and a
//! connection with the same tuple never shadow each other.

use core::num::NonZeroU32;

use super::state::ConnState;
use crate::addr::{Addr, FlowKey, Proto};
use crate::time::Instant;

/// How packets of a connection reach the real server (LVS `IP_VS_CONN_F_FWD_MASK` values, plus
/// DPVS's full NAT).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Fwd {
    /// Destination NAT ("masquerading"); replies come back through the director.
    Nat = 0,
    /// Direct routing: the frame is re-addressed to the real server's MAC; replies bypass us.
    Dr = 1,
    /// IP-in-IP tunnel to the real server; replies bypass us.
    Tunnel = 2,
    /// Source and destination NAT; replies come back through the director.
    FullNat = 3,
}

impl Fwd {
    /// Whether replies from the real server pass through the director, which is when the entry
    /// needs an out key and the TCP state machine sees both directions.
    #[inline]
    pub fn sees_replies(self) -> bool {
        matches!(self, Fwd::Nat | Fwd::FullNat)
    }

    /// The "Forward" column of `ipvsadm -L` (and DPVS's name for full NAT).
    pub fn name(self) -> &'static str {
        match self {
            Fwd::Nat => "Masq",
            Fwd::Dr => "Route",
            Fwd::Tunnel => "Tunnel",
            Fwd::FullNat => "FullNat",
        }
    }
}

/// An entry index as the table's links and index items store it (32 bits).
#[inline(always)]
#[allow(
    clippy::cast_possible_truncation,
    reason = "an entry index is below the table's capacity, which ConnTable::new caps below 2^31"
)]
pub(crate) fn index_u32(i: usize) -> u32 {
    i as u32
}

/// Handle of a live entry in a [`ConnTable`](super::ConnTable). Valid until the entry is removed
/// or expires; the slot is then reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ConnId(NonZeroU32);

impl ConnId {
    #[inline]
    pub(crate) fn from_index(i: usize) -> ConnId {
        // The table caps its capacity below u32::MAX, so i + 1 neither overflows nor is zero.
        ConnId(NonZeroU32::MIN.saturating_add(index_u32(i)))
    }

    /// [`ConnId::index`] as the table's links and index items store it.
    #[inline]
    pub(crate) fn index_u32(self) -> u32 {
        self.0.get() - 1
    }

    /// Position of the entry in the table, for per-connection side arrays sized to the capacity.
    #[inline]
    pub fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

/// Which of an entry's keys matched a lookup.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Dir {
    /// Client → VIP.
    In,
    /// Real server → client (NAT and full NAT only).
    Out,
}

/// The entry is a persistence template (LVS `IP_VS_CONN_F_TEMPLATE`), not a connection. The other
/// bits of [`Conn::flags`] are free for later use.
pub const F_TEMPLATE: u8 = 1 << 0;

/// The entry's keys were taken out of the index ([`ConnTable::unhash`](super::ConnTable::unhash)):
/// lookups no longer find it, but it lives on until it expires. LVS does the same to an invalid
/// template (`ip_vs_check_template` rehashes it under an impossible port) so that a new template
/// can take its key while the connections it still controls run out.
pub const F_UNHASHED: u8 = 1 << 1;

/// One connection (or persistence template).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Conn {
    pub proto: Proto,
    pub fwd: Fwd,
    pub state: ConnState,
    /// [`F_TEMPLATE`] and spare bits.
    pub flags: u8,
    pub client: Addr,
    pub cport: u16,
    pub vip: Addr,
    pub vport: u16,
    pub rs: Addr,
    pub rport: u16,
    /// Index of the service in the config snapshot.
    pub service: u16,
    /// Stable real-server id.
    pub dest: u32,
    /// When the entry expires. Change it through [`ConnTable::set_expires`](super::ConnTable::set_expires)
    /// so that the timer follows.
    pub expires: Instant,
    /// The template that controls this connection (LVS `cp->control`). The table counts it in the
    /// template's `controlled` on insert and uncounts it on removal or expiry.
    pub controller: Option<ConnId>,
    /// How many live entries name this one as their controller (LVS `n_control`).
    pub controlled: u32,
}

impl Conn {
    /// An unused entry, also a convenient base for struct-update syntax in tests.
    pub const EMPTY: Conn = Conn {
        proto: Proto::Tcp,
        fwd: Fwd::Nat,
        state: ConnState::None,
        flags: 0,
        client: Addr::UNSPECIFIED,
        cport: 0,
        vip: Addr::UNSPECIFIED,
        vport: 0,
        rs: Addr::UNSPECIFIED,
        rport: 0,
        service: 0,
        dest: 0,
        expires: Instant::ZERO,
        controller: None,
        controlled: 0,
    };

    #[inline]
    pub fn is_template(&self) -> bool {
        self.flags & F_TEMPLATE != 0
    }

    /// The client → VIP tuple.
    #[inline]
    pub fn in_key(&self) -> FlowKey {
        FlowKey { src: self.client, dst: self.vip, sport: self.cport, dport: self.vport, proto: self.proto }
    }

    /// The real server → client tuple, for entries whose replies pass through the director.
    #[inline]
    pub fn out_key(&self) -> Option<FlowKey> {
        if self.fwd.sees_replies() && !self.is_template() {
            Some(FlowKey {
                src: self.rs,
                dst: self.client,
                sport: self.rport,
                dport: self.cport,
                proto: self.proto,
            })
        } else {
            None
        }
    }

    /// The key of one direction (`Out` falls back to `In` for entries without an out key).
    #[inline]
    pub fn key(&self, dir: Dir) -> FlowKey {
        match dir {
            Dir::In => self.in_key(),
            Dir::Out => self.out_key().unwrap_or_else(|| self.in_key()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_stays_small() {
        // Three 16-byte addresses, the deadline, and small fields: 80 bytes.
        assert_eq!(core::mem::size_of::<Conn>(), 80);
        assert_eq!(core::mem::size_of::<Option<ConnId>>(), 4);
    }

    #[test]
    fn keys_follow_forwarding_method() {
        let c = Conn {
            client: Addr::from_v4([198, 18, 0, 1]),
            cport: 40000,
            vip: Addr::from_v4([198, 18, 0, 100]),
            vport: 80,
            rs: Addr::from_v4([198, 19, 0, 11]),
            rport: 8080,
            ..Conn::EMPTY
        };
        let ik = c.in_key();
        assert_eq!((ik.src, ik.dst, ik.sport, ik.dport), (c.client, c.vip, 40000, 80));
        let ok = c.out_key().expect("NAT sees replies");
        assert_eq!((ok.src, ok.dst, ok.sport, ok.dport), (c.rs, c.client, 8080, 40000));
        for fwd in [Fwd::Dr, Fwd::Tunnel] {
            assert_eq!(Conn { fwd, ..c }.out_key(), None);
        }
        assert!(Conn { fwd: Fwd::FullNat, ..c }.out_key().is_some());
        assert_eq!(Conn { flags: F_TEMPLATE, ..c }.out_key(), None, "templates have only an in key");
    }

    #[test]
    fn conn_id_round_trips_index() {
        for i in [0usize, 1, 77, (u32::MAX - 2) as usize] {
            assert_eq!(ConnId::from_index(i).index(), i);
        }
    }
}
