//! Source hashing (LVS `ip_vs_sh.c`): a client address always maps to the same server.
//!
//! A 256-bucket table maps `hash_32(port + fold(client))` to a server. It is filled in list order,
//! each server taking `weight` consecutive buckets per round until the table is full, so bucket
//! shares follow the weights. As in LVS a weight-0 server still holds one bucket per round (its
//! clients are refused, not moved, while it is quiesced), and a client whose server is unusable is
//! refused unless the fallback flag is set; then the table is probed onward from the client's
//! bucket (`ip_vs_sh_get_fallback`).

use super::keyhash::{fold, hash_32};
use super::DestLoad;
use crate::addr::Addr;

/// LVS `IP_VS_SH_TAB_BITS` default.
pub(super) const TAB_BITS: u32 = 8;
pub(super) const TAB_SIZE: usize = 1 << TAB_BITS;
pub(super) const NONE: u16 = u16::MAX;

pub(super) struct SourceHash {
    bucket: [u16; TAB_SIZE],
}

impl Default for SourceHash {
    fn default() -> SourceHash {
        SourceHash { bucket: [NONE; TAB_SIZE] }
    }
}

/// LVS `ip_vs_sh_hashkey`: bucket of `addr` (and `port`, 0 unless sh-port) shifted by `offset`.
#[inline]
fn bucket_of(addr: &Addr, port: u16, offset: usize) -> usize {
    (offset + hash_32(u32::from(port).wrapping_add(fold(addr)), TAB_BITS) as usize) % TAB_SIZE
}

/// Pick from a 256-bucket table: the client's bucket, or with `fallback` the first usable one
/// probing onward. Shared with dh.
#[inline]
pub(super) fn lookup(
    table: &[u16; TAB_SIZE],
    dests: &[DestLoad],
    first: usize,
    fallback: bool,
    probe: impl Fn(usize) -> usize,
) -> Option<usize> {
    let usable = |b: usize| {
        let d = table[b] as usize;
        (table[b] != NONE && dests.get(d).is_some_and(DestLoad::usable)).then_some(d)
    };
    if table[first] == NONE {
        return None;
    }
    if let Some(d) = usable(first) {
        return Some(d);
    }
    if !fallback {
        return None;
    }
    (0..TAB_SIZE)
        .map(|off| probe((off + first) % TAB_SIZE))
        .take_while(|&b| table[b] != NONE)
        .find_map(usable)
}

impl SourceHash {
    pub(super) fn update(&mut self, dests: &[DestLoad]) {
        let present: Vec<u16> =
            (0..dests.len()).filter(|&i| dests[i].available).filter_map(super::table_pos).collect();
        self.bucket = [NONE; TAB_SIZE];
        if present.is_empty() {
            return;
        }
        let (mut p, mut filled) = (0, 0u32);
        for b in self.bucket.iter_mut() {
            let d = present[p];
            *b = d;
            filled += 1;
            // Move on after `weight` buckets (one for weight 0, as LVS's `++count >= weight`).
            if filled >= dests[usize::from(d)].weight {
                p = (p + 1) % present.len();
                filled = 0;
            }
        }
    }

    #[inline]
    pub(super) fn pick(&self, dests: &[DestLoad], addr: &Addr, port: u16, fallback: bool) -> Option<usize> {
        let first = bucket_of(addr, port, 0);
        lookup(&self.bucket, dests, first, fallback, |roff| bucket_of(addr, port, roff))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{assert_shares, dests, Rng};
    use super::super::{SchedFlags, SchedKind, Scheduler};
    use super::*;
    use crate::addr::FlowKey;

    fn table(d: &[DestLoad]) -> SourceHash {
        let mut s = SourceHash::default();
        s.update(d);
        s
    }

    #[test]
    fn table_fill_follows_weights_in_runs() {
        let t = table(&dests(&[1, 3, 0]));
        assert_eq!(&t.bucket[..10], &[0, 1, 1, 1, 2, 0, 1, 1, 1, 2]);
        let counts: Vec<usize> = (0..3).map(|d| t.bucket.iter().filter(|&&b| b == d).count()).collect();
        assert_eq!(counts, vec![52, 153, 51]);
    }

    #[test]
    fn same_client_same_server_unless_the_port_is_hashed() {
        let d = dests(&[2, 1, 1]);
        let mut plain = Scheduler::new(SchedKind::Sh);
        let mut by_port = Scheduler::with_flags(SchedKind::Sh, SchedFlags { fallback: false, port: true });
        let mut rng = Rng(5);
        let mut port_mattered = 0;
        for _ in 0..500 {
            let k = rng.key();
            let other_port = FlowKey { sport: k.sport ^ 0x5a5a, ..k };
            let first = plain.pick(&d, &k);
            assert!(first.is_some());
            assert_eq!(plain.pick(&d, &k), first);
            assert_eq!(plain.pick(&d, &other_port), first, "sh ignores the port by default");
            assert_eq!(by_port.pick(&d, &k), by_port.pick(&d, &k));
            port_mattered += usize::from(by_port.pick(&d, &k) != by_port.pick(&d, &other_port));
        }
        assert!(port_mattered > 100, "sh-port spreads one client's ports: {port_mattered}");
    }

    #[test]
    fn shares_follow_weights_over_many_clients() {
        let weights = [1, 2, 5];
        let d = dests(&weights);
        let t = table(&d);
        let mut counts = [0u32; 3];
        let mut rng = Rng(11);
        for _ in 0..40_000 {
            counts[t.pick(&d, &rng.key().src, 0, false).unwrap()] += 1;
        }
        assert_shares(&counts, &weights, 0.03);
    }

    #[test]
    fn unusable_server_refuses_or_falls_back() {
        let mut d = dests(&[1, 1, 1]);
        let t = table(&d);
        d[1].weight = 0; // quiesced after the table was built
        let mut rng = Rng(3);
        let (mut refused, mut moved) = (0, 0);
        for _ in 0..3000 {
            let a = rng.key().src;
            match t.pick(&d, &a, 0, false) {
                None => {
                    refused += 1;
                    let fb = t.pick(&d, &a, 0, true).expect("fallback finds another server");
                    assert_ne!(fb, 1);
                    moved += 1;
                }
                Some(i) => {
                    assert_ne!(i, 1);
                    assert_eq!(t.pick(&d, &a, 0, true), Some(i), "fallback keeps usable mappings");
                }
            }
        }
        assert!(refused > 700 && refused < 1300, "about a third refused: {refused}");
        assert_eq!(refused, moved);
    }
}
