//! Byte layouts of the three encapsulations. The expected bytes were computed apart from this code
//! (a Python script following RFC 2003, RFC 2784 and the GUE draft, with its own checksum), for one
//! inner TCP SYN whose TOS byte is 0xba (DSCP EF, ECT(0)), TTL 63 and DF set; written to a pcap,
//! `tcpdump -vvv` decodes them as IPIP and GREv0 around that SYN (checksum present for GRE) and
//! says "udp sum ok" for GUE with checksum. (The test kernel has no tunnel modules to capture from.)

use super::*;

/// 198.18.0.10:40000 → 198.18.0.101:80, SYN, payload "ping", ident 0x1234.
const INNER: [u8; 44] = [
    0x45, 0xba, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06, 0x9c, 0x4a, 0xc6, 0x12, 0x00, 0x0a, 0xc6,
    0x12, 0x00, 0x65, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02,
    0xfa, 0xf0, 0xa9, 0x10, 0x00, 0x00, 0x70, 0x69, 0x6e, 0x67,
];
/// 198.19.0.1 → 198.20.0.21, ident 7: TOS, TTL and DF copied from the inner header.
const IPIP: [u8; 20] = [
    0x45, 0xba, 0x00, 0x40, 0x00, 0x07, 0x40, 0x00, 0x3f, 0x04, 0xae, 0xbb, 0xc6, 0x13, 0x00, 0x01, 0xc6,
    0x14, 0x00, 0x15,
];
/// UDP 40000 → 6080, no checksum; GUE variant 0 with protocol 4.
const GUE: [u8; 32] = [
    0x45, 0xba, 0x00, 0x4c, 0x00, 0x07, 0x40, 0x00, 0x3f, 0x11, 0xae, 0xa2, 0xc6, 0x13, 0x00, 0x01, 0xc6,
    0x14, 0x00, 0x15, 0x9c, 0x40, 0x17, 0xc0, 0x00, 0x38, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00,
];
const GUE_CSUM: [u8; 32] = [
    0x45, 0xba, 0x00, 0x4c, 0x00, 0x07, 0x40, 0x00, 0x3f, 0x11, 0xae, 0xa2, 0xc6, 0x13, 0x00, 0x01, 0xc6,
    0x14, 0x00, 0x15, 0x9c, 0x40, 0x17, 0xc0, 0x00, 0x38, 0x4b, 0xee, 0x00, 0x04, 0x00, 0x00,
];
const GRE: [u8; 24] = [
    0x45, 0xba, 0x00, 0x44, 0x00, 0x07, 0x40, 0x00, 0x3f, 0x2f, 0xae, 0x8c, 0xc6, 0x13, 0x00, 0x01, 0xc6,
    0x14, 0x00, 0x15, 0x00, 0x00, 0x08, 0x00,
];
const GRE_CSUM_HDR: [u8; 28] = [
    0x45, 0xba, 0x00, 0x48, 0x00, 0x07, 0x40, 0x00, 0x3f, 0x2f, 0xae, 0x88, 0xc6, 0x13, 0x00, 0x01, 0xc6,
    0x14, 0x00, 0x15, 0x80, 0x00, 0x08, 0x00, 0x04, 0xb2, 0x00, 0x00,
];

const OUTER: Outer = Outer {
    src: [198, 19, 0, 1],
    dst: [198, 20, 0, 21],
    ident: 7,
    // gue_source_port(7232) = 32768 + 7232 = 40000.
    flow_hash: 7232,
};

fn encapped(spec: TunnelSpec) -> Vec<u8> {
    // Poisoned room for the outer headers: every byte of it must be written.
    let mut pkt = vec![0xa5; spec.overhead()];
    pkt.extend_from_slice(&INNER);
    encap(&mut pkt, &spec, &OUTER);
    pkt
}

fn spec(kind: TunnelKind, csum: bool) -> TunnelSpec {
    TunnelSpec { kind, port: DEFAULT_GUE_PORT, csum }
}

#[test]
fn layouts_match_the_reference_bytes() {
    for (spec, head) in [
        (spec(TunnelKind::Ipip, false), &IPIP[..]),
        // The checksum flag means nothing to IPIP.
        (spec(TunnelKind::Ipip, true), &IPIP[..]),
        (spec(TunnelKind::Gue, false), &GUE[..]),
        (spec(TunnelKind::Gue, true), &GUE_CSUM[..]),
        (spec(TunnelKind::Gre, false), &GRE[..]),
        (spec(TunnelKind::Gre, true), &GRE_CSUM_HDR[..]),
    ] {
        let pkt = encapped(spec);
        assert_eq!(spec.overhead(), head.len(), "{spec:?}");
        assert_eq!(&pkt[..head.len()], head, "{spec:?}");
        assert_eq!(&pkt[head.len()..], &INNER[..], "{spec:?}: the inner packet is untouched");
        assert_eq!(
            decap(&pkt, Some(DEFAULT_GUE_PORT)),
            Some(Decapped { kind: spec.kind, inner_off: head.len() })
        );
    }
}

#[test]
fn outer_header_copies_tos_ttl_and_df_only() {
    let mut inner = INNER;
    inner[6] = 0; // DF off
    inner[1] = 0x03; // CE
    inner[8] = 9;
    Ipv4Packet::new_unchecked(&mut inner[..20]).fill_checksum();
    let s = spec(TunnelKind::Ipip, false);
    let mut pkt = vec![0; s.overhead()];
    pkt.extend_from_slice(&inner);
    encap(&mut pkt, &s, &OUTER);
    let o = Ipv4Packet::new_checked(&pkt[..]).unwrap();
    assert!(!o.dont_frag());
    assert_eq!((o.ecn(), o.dscp(), o.ttl(), o.ident()), (3, 0, 9, 7));
    assert!(o.verify_checksum());
}

#[test]
fn gue_source_port_spreads_in_the_ephemeral_range() {
    let mut seen = std::collections::HashSet::new();
    for sport in 1000..1256u16 {
        let p = gue_source_port(flow_hash([198, 18, 0, 10], [198, 18, 0, 101], sport, 80, 6));
        assert!((32768..=60999).contains(&p));
        seen.insert(p);
    }
    assert!(seen.len() > 240, "256 flows got only {} ports", seen.len());
    // Deterministic: every worker derives the same port for a flow.
    let h = flow_hash([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 17);
    assert_eq!(h, flow_hash([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 17));
}

#[test]
fn decap_refuses_what_is_not_ours() {
    // A plain TCP packet, GUE to another port, GRE with a key, a truncated quote.
    assert_eq!(decap(&INNER, Some(DEFAULT_GUE_PORT)), None);
    assert_eq!(decap(&encapped(spec(TunnelKind::Gue, false)), Some(6081)), None);
    let mut keyed = encapped(spec(TunnelKind::Gre, false));
    keyed[20] = 0x20;
    assert_eq!(decap(&keyed, Some(DEFAULT_GUE_PORT)), None);
    // An ICMP quote: outer header and 8 bytes, cut short of the inner packet's end, still decaps.
    let gre = encapped(spec(TunnelKind::Gre, false));
    assert_eq!(
        decap(&gre[..24 + 28], Some(DEFAULT_GUE_PORT)),
        Some(Decapped { kind: TunnelKind::Gre, inner_off: 24 })
    );
    assert_eq!(decap(&gre[..22], Some(DEFAULT_GUE_PORT)), None);
}
