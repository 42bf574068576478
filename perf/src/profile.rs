//! Traffic profiles: the frames a perf run replays, in the order `net_pcap` will deliver them.
//!
//! `net_pcap` with `infinite_rx=1` replays its file in a loop, so a profile is designed for its
//! second and later passes, which are what the measurement window sees:
//! - every flow's first packet is a SYN, so vsd creates the connection on the first pass; on the
//!   next passes the same SYN finds the connection established and only refreshes it (LVS's input
//!   table keeps ESTABLISHED on a SYN);
//! - `syn` closes each connection again with a FIN in the same pass (SYN_RECV + FIN → TIME_WAIT),
//!   so on every later pass each SYN meets a closing connection and, as LVS's `conn_reuse_mode`
//!   does, vsd replaces it with a new one: every SYN of the steady state is a new connection.
//!
//! All SYNs come first and the data packets follow in rounds over all flows, each round in its own
//! shuffled order. So consecutive packets belong to unrelated flows, and neither the index buckets
//! nor the connection entries (which vsd allocates in SYN order) are walked in an order that a
//! hardware prefetcher could follow: lookups miss the cache as real traffic makes them miss.
//! Frames are the 60-byte Ethernet minimum (64 on the wire with the FCS), as in RFC 2544 tests;
//! `established6` sends the smallest IPv6 TCP segment there is, 74 bytes (14 + 40 + 20, above the
//! minimum, so unpadded).

use crate::topology::{
    self, FIRST_PERSIST_DPORT, FIRST_SPORT, GATEWAY_MAC, RS_PORT, VIP, VIP6, VIP_PERSIST, VPORT,
};
use vsd_dataplane::craft::{self, tcp_flags};
use vsd_dataplane::wire::ethertype;

/// Shortest Ethernet frame without FCS (IEEE 802.3 minimum of 64 bytes, less the 4-byte FCS).
pub const MIN_FRAME: usize = 60;
/// IPv4 + TCP headers without options.
const TCP_HEADERS: usize = 40;
/// Simple IMIX IP packet sizes and their shares, 7:4:1 (the classic "simple IMIX"; RFC 6985 §4
/// names such mixes by their sizes). Spread out: the 12-packet pattern below has the 576 and 1500
/// packets between 64s, not in runs.
const IMIX_PATTERN: [usize; 12] = [40, 576, 40, 40, 576, 40, 1500, 40, 576, 40, 40, 576];

/// Highest port a flow may use.
const MAX_PORT: u32 = 65_535;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// N flows from M clients to a NAT VIP, 64-byte TCP ACKs after one SYN per flow.
    Established,
    /// Every SYN of the steady state opens a new connection (SYN, then FIN, per flow and pass).
    Syn,
    /// M clients × K destination ports to a port-0 persistent service.
    Persist,
    /// `established` plus a share of NAT replies from the real servers.
    Mixed,
    /// `established` with simple-IMIX sizes: IP packets of 40, 576 and 1500 bytes, 7:4:1.
    Imix,
    /// `established` over IPv6 (NAT66): clients in 2001:db8::/32 to an IPv6 VIP and real
    /// servers, 74-byte TCP ACKs after one SYN per flow.
    Established6,
}

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::Established,
        Profile::Syn,
        Profile::Persist,
        Profile::Mixed,
        Profile::Imix,
        Profile::Established6,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Established => "established",
            Profile::Syn => "syn",
            Profile::Persist => "persist",
            Profile::Mixed => "mixed",
            Profile::Imix => "imix",
            Profile::Established6 => "established6",
        }
    }

    /// Whether the profile's traffic is IPv6 (and vsd's config gets the IPv6 side).
    pub fn is_v6(self) -> bool {
        self == Profile::Established6
    }

    /// The IPv4 profile this one is the IPv6 twin of.
    pub fn v4_twin(self) -> Option<Profile> {
        match self {
            Profile::Established6 => Some(Profile::Established),
            _ => None,
        }
    }

    /// Whether vsd must be configured with the port-0 persistent service.
    pub fn needs_persistence(self) -> bool {
        self == Profile::Persist
    }
}

/// The size and shape of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Spec {
    pub profile: Profile,
    /// Distinct connections (client address, client port, destination port).
    pub flows: u32,
    /// Distinct client addresses; flow *i* comes from client *i mod clients*.
    pub clients: u32,
    /// Data packets per flow and pass after its SYN (ACKs, or IMIX segments, or replies).
    pub rounds: u32,
    /// Percentage of the data packets of `mixed` that are replies from the real servers.
    pub reply_pct: u8,
    /// Real servers behind the NAT VIP, scheduled round robin.
    pub real_servers: u8,
}

impl Spec {
    /// The defaults of a profile at a given flow count.
    pub fn new(profile: Profile, flows: u32) -> Spec {
        Spec { profile, flows, clients: 256, rounds: 3, reply_pct: 50, real_servers: 4 }
    }

    /// Why this spec cannot be generated, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.flows == 0 {
            return Err("flows must be at least 1".into());
        }
        if self.clients == 0 || self.clients > topology::MAX_CLIENTS {
            return Err(format!("clients must be 1..={}", topology::MAX_CLIENTS));
        }
        let per_client = self.flows.div_ceil(self.clients);
        let first = if self.profile == Profile::Persist { FIRST_PERSIST_DPORT } else { FIRST_SPORT };
        if u32::from(first) + per_client - 1 > MAX_PORT {
            return Err(format!(
                "{} flows over {} clients need {per_client} ports per client; at most {} fit: add clients",
                self.flows,
                self.clients,
                MAX_PORT + 1 - u32::from(first)
            ));
        }
        if self.real_servers == 0 || self.real_servers > topology::MAX_REAL_SERVERS {
            return Err(format!("real servers must be 1..={}", topology::MAX_REAL_SERVERS));
        }
        if self.reply_pct > 100 {
            return Err("reply share is a percentage, 0..=100".into());
        }
        if self.profile != Profile::Syn && self.rounds == 0 {
            return Err("rounds must be at least 1".into());
        }
        Ok(())
    }

    /// Destination ports per client of `persist` (K in "M clients × K ports").
    pub fn ports_per_client(&self) -> u32 {
        self.flows.div_ceil(self.clients)
    }

    /// Frames in one pass of the file.
    pub fn packets(&self) -> usize {
        let per_flow = match self.profile {
            Profile::Syn => 2,
            _ => 1 + self.rounds as usize,
        };
        self.flows as usize * per_flow
    }
}

/// The client side of flow `i`: (client address, source port, destination address, destination port).
#[allow(clippy::cast_possible_truncation, reason = "Spec::check keeps the ports a client needs within u16")]
pub fn flow(spec: &Spec, i: u32) -> ([u8; 4], u16, [u8; 4], u16) {
    let (c, k) = (i % spec.clients, i / spec.clients);
    let client = topology::client(c);
    match spec.profile {
        // One source port per connection, and the destination port names the connection.
        Profile::Persist => {
            (client, 32_768 + (k % 28_000) as u16, VIP_PERSIST, FIRST_PERSIST_DPORT + k as u16)
        }
        _ => (client, FIRST_SPORT + k as u16, VIP, VPORT),
    }
}

/// The client side of flow `i` of an IPv6 profile: [`flow`]'s ports, client `c`'s IPv6 address
/// and the IPv6 VIP.
pub fn flow6(spec: &Spec, i: u32) -> ([u8; 16], u16, [u8; 16], u16) {
    let (_, sport, _, dport) = flow(spec, i);
    (topology::client6(i % spec.clients), sport, VIP6, dport)
}

/// The real server that round robin gives flow `i` (0-based): vsd's `rr` starts at the first
/// server and the SYNs come in flow order on one worker.
#[allow(clippy::cast_possible_truncation, reason = "below real_servers, a u8")]
pub fn real_server_of(spec: &Spec, i: u32) -> u8 {
    (i % u32::from(spec.real_servers)) as u8
}

/// Whether data packet `j` (counted over all rounds) of `mixed` is a reply: spread evenly, so that
/// any window of 100 packets holds `reply_pct` replies (give or take one).
pub fn is_reply(reply_pct: u8, j: u64) -> bool {
    let pct = u64::from(reply_pct);
    (j + 1) * pct / 100 > j * pct / 100
}

/// The order of the flows in data round `round`: a permutation of `0..flows`, the same on every
/// run (Fisher–Yates driven by splitmix64, seeded by the round).
pub fn round_order(flows: u32, round: u32) -> Vec<u32> {
    let mut state = 0x5eed_0000_u64 + u64::from(round);
    let mut next = || {
        // splitmix64 (Steele, Lea, Flood, 2014).
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut v: Vec<u32> = (0..flows).collect();
    for i in (1..v.len()).rev() {
        #[allow(clippy::cast_possible_truncation, reason = "below i + 1, a usize")]
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Pad a frame to the Ethernet minimum; the IPv4 total length keeps the padding out of the packet.
fn pad(mut frame: Vec<u8>) -> Vec<u8> {
    if frame.len() < MIN_FRAME {
        frame.resize(MIN_FRAME, 0);
    }
    frame
}

fn from_client(spec: &Spec, i: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    if spec.profile.is_v6() {
        let (src, sport, dst, dport) = flow6(spec, i);
        let ip = craft::tcp_v6(src, dst, sport, dport, flags, payload);
        return pad(craft::ethernet(topology::EXT_MAC, GATEWAY_MAC, ethertype::IPV6, &ip));
    }
    let (src, sport, dst, dport) = flow(spec, i);
    let ip = craft::tcp_v4(src, dst, sport, dport, flags, payload);
    pad(craft::ethernet(topology::EXT_MAC, GATEWAY_MAC, ethertype::IPV4, &ip))
}

/// A reply of flow `i`'s real server to its client, as it reaches vsd. It arrives on the ext port
/// (the int port is `net_null`, which receives nothing); vsd matches replies by their out key
/// whatever the port, so only the cost of the lookup and rewrite is measured.
fn from_server(spec: &Spec, i: u32) -> Vec<u8> {
    let (client, sport, _, _) = flow(spec, i);
    let (rs, rs_mac) = topology::real_server(real_server_of(spec, i));
    let ip = craft::tcp_v4(rs, client, RS_PORT, sport, tcp_flags::ACK, b"");
    pad(craft::ethernet(topology::EXT_MAC, rs_mac, ethertype::IPV4, &ip))
}

/// Every frame of one pass of the profile.
pub fn frames(spec: &Spec) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(spec.packets());
    for i in 0..spec.flows {
        out.push(from_client(spec, i, tcp_flags::SYN, b""));
    }
    if spec.profile == Profile::Syn {
        for i in 0..spec.flows {
            out.push(from_client(spec, i, tcp_flags::FIN | tcp_flags::ACK, b""));
        }
        return out;
    }
    let payload = [0x5a_u8; 1500];
    let mut j = 0u64;
    for round in 0..spec.rounds {
        for i in round_order(spec.flows, round) {
            let frame = match spec.profile {
                Profile::Mixed if is_reply(spec.reply_pct, j) => from_server(spec, i),
                Profile::Imix => {
                    #[allow(clippy::cast_possible_truncation, reason = "below the pattern's length")]
                    let ip_len = IMIX_PATTERN[(j % IMIX_PATTERN.len() as u64) as usize];
                    from_client(spec, i, tcp_flags::ACK | tcp_flags::PSH, &payload[..ip_len - TCP_HEADERS])
                }
                _ => from_client(spec, i, tcp_flags::ACK, b""),
            };
            out.push(frame);
            j += 1;
        }
    }
    out
}

/// The profile as a pcap file.
pub fn pcap(spec: &Spec) -> Vec<u8> {
    let frames = frames(spec);
    vsd_dataplane::pcap::write(frames.iter().map(|f| f.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use vsd_dataplane::wire::{parse_frame, Ipv4Packet, TcpPacket, L4};
    use vsd_dataplane::Addr;

    struct Seen {
        src: Addr,
        dst: Addr,
        sport: u16,
        dport: u16,
        flags: u8,
        len: usize,
    }

    fn decode(f: &[u8]) -> Seen {
        let p = parse_frame(f).expect("a valid frame");
        let L4::Tcp { sport, dport, flags } = p.l4 else { panic!("not TCP: {:?}", p.l4) };
        let ip_len = p.l3_len as usize;
        let tcp = if u16::from_be_bytes([f[12], f[13]]) == ethertype::IPV6 {
            assert_eq!(f[14] >> 4, 6);
            assert_eq!(usize::from(u16::from_be_bytes([f[18], f[19]])) + 40, f.len() - 14, "payload length");
            TcpPacket::new_checked(&f[54..]).unwrap()
        } else {
            assert!(Ipv4Packet::new_checked(&f[14..]).unwrap().verify_checksum());
            TcpPacket::new_checked(&f[34..14 + ip_len]).unwrap()
        };
        assert!(tcp.verify_checksum(&p.src, &p.dst), "TCP checksum");
        Seen { src: p.src, dst: p.dst, sport, dport, flags: flags.0, len: f.len() }
    }

    fn spec(profile: Profile, flows: u32, clients: u32) -> Spec {
        Spec { clients, ..Spec::new(profile, flows) }
    }

    #[test]
    fn established_opens_every_flow_with_a_syn_then_acks_it_in_rounds() {
        let s = spec(Profile::Established, 1000, 16);
        let f = frames(&s);
        assert_eq!(f.len(), 1000 * 4);
        assert_eq!(f.len(), s.packets());
        let mut syns = HashSet::new();
        for fr in &f[..1000] {
            assert_eq!(fr.len(), MIN_FRAME);
            assert_eq!(fr[..6], topology::EXT_MAC, "addressed to vsd's ext port");
            let d = decode(fr);
            assert_eq!(d.flags, tcp_flags::SYN);
            assert_eq!((d.dst, d.dport), (Addr::from_v4(VIP), VPORT));
            assert!(syns.insert((d.src, d.sport)), "each SYN is a distinct flow");
        }
        assert_eq!(syns.iter().map(|(a, _)| *a).collect::<HashSet<_>>().len(), 16, "16 clients");
        // Each later round holds every flow once, all ACKs of flows already opened.
        for round in f[1000..].chunks(1000) {
            let acks: HashSet<_> = round
                .iter()
                .map(|fr| {
                    let d = decode(fr);
                    assert_eq!((d.flags, d.len), (tcp_flags::ACK, MIN_FRAME));
                    (d.src, d.sport)
                })
                .collect();
            assert_eq!(acks, syns);
        }
    }

    #[test]
    fn established6_is_established_over_ipv6_in_74_byte_frames() {
        let s = spec(Profile::Established6, 1000, 16);
        let v4 = frames(&spec(Profile::Established, 1000, 16));
        let f = frames(&s);
        assert_eq!((f.len(), s.packets()), (v4.len(), v4.len()));
        let vip6 = Addr::from_v6(VIP6);
        let mut syns = HashSet::new();
        for (j, (fr, fr4)) in f.iter().zip(&v4).enumerate() {
            assert_eq!(fr.len(), 74, "14 + 40 + 20 bytes, no padding");
            assert_eq!(fr[..6], topology::EXT_MAC);
            assert_eq!(fr[12..14], ethertype::IPV6.to_be_bytes());
            let (d, d4) = (decode(fr), decode(fr4));
            // The same flow, flags and order as `established`, over IPv6.
            assert_eq!((d.flags, d.sport, d.dport), (d4.flags, d4.sport, d4.dport), "frame {j}");
            assert_eq!(d.dst, vip6);
            let c = (0..16).find(|&c| Addr::from_v4(topology::client(c)) == d4.src).unwrap();
            assert_eq!(d.src, Addr::from_v6(topology::client6(c)));
            if j < 1000 {
                assert!(syns.insert((d.src, d.sport)), "each SYN is a distinct flow");
            } else {
                assert!(syns.contains(&(d.src, d.sport)));
            }
        }
    }

    #[test]
    fn syn_closes_every_flow_so_the_next_pass_opens_it_anew() {
        let s = spec(Profile::Syn, 500, 7);
        let f = frames(&s);
        assert_eq!(f.len(), 1000);
        let syn: Vec<_> = f[..500].iter().map(|fr| decode(fr)).collect();
        let fin: Vec<_> = f[500..].iter().map(|fr| decode(fr)).collect();
        for (a, b) in syn.iter().zip(&fin) {
            assert_eq!(a.flags, tcp_flags::SYN);
            assert_eq!(b.flags, tcp_flags::FIN | tcp_flags::ACK);
            assert_eq!((a.src, a.sport, a.dst, a.dport), (b.src, b.sport, b.dst, b.dport));
        }
        let distinct: HashSet<_> = syn.iter().map(|d| (d.src, d.sport)).collect();
        assert_eq!(distinct.len(), 500);
    }

    #[test]
    fn persist_is_clients_times_ports_to_the_port0_vip() {
        let s = spec(Profile::Persist, 64 * 10, 64);
        assert_eq!(s.ports_per_client(), 10);
        let f = frames(&s);
        let mut ports: HashMap<Addr, HashSet<u16>> = HashMap::new();
        for fr in &f[..640] {
            let d = decode(fr);
            assert_eq!(d.dst, Addr::from_v4(VIP_PERSIST));
            ports.entry(d.src).or_default().insert(d.dport);
        }
        assert_eq!(ports.len(), 64);
        let want: HashSet<u16> = (0..10).map(|k| FIRST_PERSIST_DPORT + k).collect();
        assert!(ports.values().all(|p| *p == want), "every client uses the same K ports");
    }

    #[test]
    fn mixed_replies_come_from_the_real_server_round_robin_gave_the_flow() {
        let s = Spec { reply_pct: 25, real_servers: 3, ..spec(Profile::Mixed, 300, 10) };
        let f = frames(&s);
        let mut replies = 0;
        let order: Vec<u32> = (0..s.rounds).flat_map(|r| round_order(300, r)).collect();
        for (j, fr) in f[300..].iter().enumerate() {
            let i = order[j];
            let d = decode(fr);
            let (client, sport, _, _) = flow(&s, i);
            if is_reply(25, j as u64) {
                replies += 1;
                let (rs, rs_mac) = topology::real_server((i % 3) as u8);
                assert_eq!((d.src, d.sport), (Addr::from_v4(rs), RS_PORT));
                assert_eq!((d.dst, d.dport), (Addr::from_v4(client), sport));
                assert_eq!(fr[6..12], rs_mac);
            } else {
                assert_eq!((d.src, d.sport, d.dst), (Addr::from_v4(client), sport, Addr::from_v4(VIP)));
            }
        }
        assert_eq!(replies, 900 / 4);
    }

    #[test]
    fn rounds_are_fixed_permutations_that_differ_from_each_other_and_from_syn_order() {
        let a = round_order(1000, 0);
        assert_eq!(a, round_order(1000, 0), "reproducible");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "a permutation");
        assert_ne!(a, round_order(1000, 1));
        // Hardly any flow follows its creation-order neighbour.
        let in_order = a.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(in_order < 10, "{in_order} consecutive pairs");
    }

    #[test]
    fn reply_share_is_spread_evenly() {
        for pct in [0u8, 1, 25, 50, 99, 100] {
            let n = (0..1000).filter(|&j| is_reply(pct, j)).count();
            assert_eq!(n, pct as usize * 10, "{pct}%");
            // No window of 100 strays from the share by more than one.
            for start in (0..900).step_by(37) {
                let w = i64::try_from((start..start + 100).filter(|&j| is_reply(pct, j)).count()).unwrap();
                assert!((w - i64::from(pct)).abs() <= 1, "{pct}% window at {start}: {w}");
            }
        }
    }

    #[test]
    fn imix_sizes_are_seven_four_one() {
        let s = spec(Profile::Imix, 120, 4);
        let f = frames(&s);
        let mut sizes: HashMap<usize, usize> = HashMap::new();
        for fr in &f[120..] {
            let d = decode(fr);
            *sizes.entry(d.len).or_default() += 1;
        }
        // 360 data packets: 7/12 at 40-byte IP (60-byte frame), 4/12 at 576, 1/12 at 1500.
        assert_eq!(sizes.get(&60), Some(&210));
        assert_eq!(sizes.get(&(576 + 14)), Some(&120));
        assert_eq!(sizes.get(&(1500 + 14)), Some(&30));
    }

    #[test]
    fn pcap_holds_the_frames_in_order() {
        let s = spec(Profile::Established, 50, 5);
        let back = vsd_dataplane::pcap::read(&pcap(&s)).unwrap();
        assert_eq!(back, frames(&s));
    }

    #[test]
    fn refuses_what_cannot_be_generated() {
        assert!(spec(Profile::Established, 0, 1).check().is_err());
        assert!(spec(Profile::Established, 10, 0).check().is_err());
        assert!(spec(Profile::Established, 10, topology::MAX_CLIENTS + 1).check().is_err());
        let too_many = spec(Profile::Established, 70_000, 1).check().unwrap_err();
        assert!(too_many.contains("add clients"), "{too_many}");
        assert!(spec(Profile::Established, 64_512, 1).check().is_ok());
        assert!(Spec { real_servers: 0, ..spec(Profile::Mixed, 10, 1) }.check().is_err());
        assert!(Spec { reply_pct: 101, ..spec(Profile::Mixed, 10, 1) }.check().is_err());
        assert!(spec(Profile::Established, 1 << 20, 256).check().is_ok());
    }
}
