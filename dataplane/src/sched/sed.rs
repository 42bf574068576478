//! Shortest expected delay (LVS `ip_vs_sed.c`): the server with the least
//! `(active + 1) / weight`, the delay a new connection would see if every active connection is
//! served at the server's weighted rate. Inactive connections are ignored. Cross-multiplied like
//! wlc, first found on ties.

use super::wlc::least_ratio;
use super::DestLoad;

/// LVS `ip_vs_sed_dest_overhead`.
#[inline]
pub(super) fn expected_delay(d: &DestLoad) -> u64 {
    u64::from(d.active) + 1
}

pub(super) fn pick(dests: &[DestLoad]) -> Option<usize> {
    least_ratio(dests, expected_delay)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dests;
    use super::*;

    #[test]
    fn prefers_the_fast_server_even_when_busier() {
        let mut d = dests(&[1, 3]);
        d[1].active = 1; // (1+1)/3 < (0+1)/1
        assert_eq!(pick(&d), Some(1));
        d[1].active = 2; // 3/3 == 1/1: first wins
        assert_eq!(pick(&d), Some(0));
        d[0].inactive = 1000; // inactive does not count
        assert_eq!(pick(&d), Some(0));
    }

    #[test]
    fn lvs_sequence_from_empty() {
        // Weights 1 and 3: 1/1 vs 1/3 → B; 1/1 vs 2/3 → B; 1/1 vs 3/3 tie → A; 2/1 vs 3/3 → B ...
        let mut d = dests(&[1, 3]);
        let mut s = String::new();
        for _ in 0..8 {
            let i = pick(&d).unwrap();
            d[i].active += 1;
            s.push(char::from(b'A' + u8::try_from(i).unwrap()));
        }
        assert_eq!(s, "BBABBBAB");
    }
}
