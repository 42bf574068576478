//! Destination hashing (LVS `ip_vs_dh.c`): a destination address always maps to the same server
//! (cache clusters). The 256-bucket table is filled one bucket per server in turn, without regard
//! to weight, exactly as LVS does (`ip_vs_dh_reassign`); weights only gate, and a destination
//! whose server is unusable is refused unless the fallback flag is set, in which case the table
//! is probed onward as for sh.

use super::keyhash::{fold, hash_32};
use super::sh::{lookup, NONE, TAB_BITS, TAB_SIZE};
use super::DestLoad;
use crate::addr::Addr;

pub(super) struct DestHash {
    bucket: [u16; TAB_SIZE],
}

impl Default for DestHash {
    fn default() -> DestHash {
        DestHash { bucket: [NONE; TAB_SIZE] }
    }
}

/// LVS `ip_vs_dh_hashkey`, with an offset for fallback probing.
#[inline]
fn bucket_of(addr: &Addr, offset: usize) -> usize {
    (offset + hash_32(fold(addr), TAB_BITS) as usize) % TAB_SIZE
}

impl DestHash {
    pub(super) fn update(&mut self, dests: &[DestLoad]) {
        let present: Vec<u16> =
            (0..dests.len()).filter(|&i| dests[i].available).filter_map(super::table_pos).collect();
        self.bucket = [NONE; TAB_SIZE];
        if !present.is_empty() {
            for (b, d) in self.bucket.iter_mut().zip(present.iter().cycle()) {
                *b = *d;
            }
        }
    }

    #[inline]
    pub(super) fn pick(&self, dests: &[DestLoad], addr: &Addr, fallback: bool) -> Option<usize> {
        lookup(&self.bucket, dests, bucket_of(addr, 0), fallback, |roff| bucket_of(addr, roff))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_shares, dests, Rng};
    use super::super::{SchedFlags, SchedKind, Scheduler};
    use super::*;

    #[test]
    fn same_destination_same_server_whatever_the_client() {
        let d = dests(&[1, 1, 1]);
        let mut s = Scheduler::new(SchedKind::Dh);
        let mut rng = Rng(8);
        let mut seen = [false; 3];
        for _ in 0..200 {
            let mut k = rng.key();
            k.dst = rng.key().src; // a cache cluster: the destination varies
            let i = s.pick(&d, &k).unwrap();
            seen[i] = true;
            let other_client = rng.key().src;
            assert_eq!(s.pick(&d, &crate::addr::FlowKey { src: other_client, ..k }), Some(i));
        }
        assert_eq!(seen, [true; 3]);
    }

    #[test]
    fn buckets_are_shared_evenly_regardless_of_weight() {
        let d = dests(&[1, 4, 2]);
        let mut t = DestHash::default();
        t.update(&d);
        assert_eq!(&t.bucket[..6], &[0, 1, 2, 0, 1, 2]);
        let mut counts = [0u32; 3];
        let mut rng = Rng(21);
        for _ in 0..30_000 {
            counts[t.pick(&d, &rng.key().src, false).unwrap()] += 1;
        }
        assert_shares(&counts, &[1, 1, 1], 0.03);
    }

    #[test]
    fn quiesced_server_refuses_unless_fallback() {
        let mut d = dests(&[1, 1]);
        let mut plain = Scheduler::new(SchedKind::Dh);
        let mut fb = Scheduler::with_flags(SchedKind::Dh, SchedFlags { fallback: true, port: false });
        plain.update(&d);
        fb.update(&d);
        d[0].weight = 0;
        let mut rng = Rng(2);
        let mut refused = 0;
        for _ in 0..1000 {
            let mut k = rng.key();
            k.dst = k.src; // dh hashes the destination
            match plain.pick(&d, &k) {
                None => {
                    refused += 1;
                    assert_eq!(fb.pick(&d, &k), Some(1));
                }
                Some(i) => assert_eq!(i, 1),
            }
        }
        assert!(refused > 300, "half the destinations belong to the quiesced server: {refused}");
    }
}
