//! Fuzz `parse_frame` and the views the worker builds from its summary.
//!
//! Beyond "never panics", this checks the classifier's promise: after `Ok`, the checked views
//! over the offsets it reports accept the bytes, so later stages may use `new_unchecked`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vsd_dataplane::wire::{
    ethertype, ip_proto, parse_frame, ArpPacket, ArpRepr, IcmpPacket, IcmpRepr, Ipv4Packet, Ipv6Packet,
    TcpPacket, UdpPacket, L4,
};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = parse_frame(data) else { return };
    let l3_end = p.l3_off + p.l3_len as usize;
    assert!(p.l3_off <= p.l4_off && l3_end <= data.len());
    match p.ethertype {
        ethertype::IPV4 => {
            let ip = Ipv4Packet::new_checked(&data[p.l3_off..]).expect("classifier accepted IPv4");
            assert!(ip.verify_checksum());
            assert_eq!(ip.payload().len(), l3_end - p.l4_off);
        }
        ethertype::IPV6 => {
            Ipv6Packet::new_checked(&data[p.l3_off..]).expect("classifier accepted IPv6");
        }
        ethertype::ARP => {
            let arp = ArpPacket::new_checked(&data[p.l3_off..]).expect("classifier accepted ARP");
            let _ = ArpRepr::parse(&arp);
        }
        _ => {}
    }
    let l4 = &data[p.l4_off..l3_end];
    match p.l4 {
        L4::Tcp { sport, .. } => {
            let tcp = TcpPacket::new_checked(l4).expect("classifier accepted TCP");
            assert_eq!(tcp.src_port(), sport);
            let _ = tcp.verify_checksum(&p.src, &p.dst);
        }
        L4::Udp { dport, .. } => {
            let udp = UdpPacket::new_unchecked(l4);
            assert_eq!(udp.dst_port(), dport);
            if !p.is_fragment {
                let udp = UdpPacket::new_checked(l4).expect("classifier accepted UDP");
                let _ = udp.verify_checksum(&p.src, &p.dst);
            }
        }
        L4::Icmp { .. } if p.ip_proto == ip_proto::ICMP => {
            let icmp = IcmpPacket::new_checked(l4).expect("classifier accepted ICMP");
            let _ = IcmpRepr::parse(&icmp);
            if let Ok(q) = icmp.quoted() {
                let _ = (q.src(), q.dst(), q.protocol(), q.verify_checksum(), q.after_header().len());
            }
        }
        _ => {}
    }
});
