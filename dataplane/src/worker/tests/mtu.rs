//! NAT and DR packets larger than the MTU of their way out: fragmentation-needed with DF (before
//! the rewrite, quoting what the client sent), fragments without.

use super::tunnel::{reassemble, segment};
use super::*;

/// The internal interface at MTU 1400, the external one at 1500.
pub(super) fn rig() -> Rig {
    let mut ifaces = ifaces();
    ifaces[1].mtu = 1400;
    let mut r = Rig::with(build_snapshot(routes(&ifaces), ifaces));
    r.neighbour(EXT, CLIENT, CLIENT_MAC);
    for n in [11, 12, 13, 21, 22, 23] {
        r.neighbour(INT, rs_ip(n), rs_mac(n));
    }
    r
}

#[test]
fn too_big_without_df_is_fragmented_after_the_rewrite() {
    let mut r = rig();
    r.tx(EXT, &segment(VIP_NAT, 41000, SYN, 0, true));
    let (out, first) = r.tx(EXT, &segment(VIP_NAT, 41000, ACK, 2000, false));
    assert_eq!((out, &first[0..6]), (INT, &rs_mac(11)[..]));
    let mut frags = vec![first];
    for a in r.outputs() {
        match a {
            Action::Tx(out, b) => {
                assert_eq!(out, INT);
                frags.push(b.as_ref().to_vec());
            }
            other => panic!("expected Tx, got {other:?}"),
        }
    }
    assert_eq!(frags.iter().map(|f| f.len() - 14).collect::<Vec<_>>(), vec![1396, 664]);
    let ip = Ipv4Packet::new_checked(&frags[0][14..]).unwrap();
    assert_eq!(ip.dst_addr(), rs_ip(11), "rewritten to the real server");
    let tcp = reassemble(&frags);
    assert_eq!(tcp.len(), 20 + 2000);
    assert!(TcpPacket::new_checked(&tcp[..]).unwrap().verify_checksum(&a4(CLIENT), &a4(rs_ip(11))));
    assert_eq!(r.drops(DropReason::TooBig), 0);
}
