//! Round robin (LVS `ip_vs_rr.c`): the next usable server after the last one picked.
//!
//! The position survives `update` (LVS keeps its list cursor when servers are added or
//! reweighted); it only resets when the server it points at no longer exists.

use super::DestLoad;

#[derive(Default)]
pub(super) struct Rr {
    /// The last server picked; `None` is LVS's list head (start from the first).
    last: Option<usize>,
}

impl Rr {
    pub(super) fn update(&mut self, dests: &[DestLoad]) {
        if self.last.is_some_and(|l| l >= dests.len()) {
            self.last = None;
        }
    }

    pub(super) fn pick(&mut self, dests: &[DestLoad]) -> Option<usize> {
        let n = dests.len();
        let start = self.last.map_or(0, |l| l + 1);
        // One full turn: after `last` to the end, then from the first up to `last` itself.
        let i = (0..n).map(|k| (start + k) % n).find(|&i| dests[i].usable())?;
        self.last = Some(i);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dests;
    use super::*;

    fn run(r: &mut Rr, d: &[DestLoad], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| r.pick(d)).collect()
    }

    #[test]
    fn cycles_in_order_skipping_weight_zero_and_unavailable() {
        let mut d = dests(&[1, 0, 5, 1]);
        d[3].available = false;
        let mut r = Rr::default();
        assert_eq!(run(&mut r, &d, 5), [0, 2, 0, 2, 0].map(Some));
        // Weights do not matter to rr, only whether a server is usable.
        d[3].available = true;
        assert_eq!(run(&mut r, &d, 4), [2, 3, 0, 2].map(Some));
    }

    #[test]
    fn keeps_position_across_updates_and_survives_shrinking() {
        let d = dests(&[1, 1, 1]);
        let mut r = Rr::default();
        assert_eq!(run(&mut r, &d, 2), [0, 1].map(Some));
        r.update(&d);
        assert_eq!(r.pick(&d), Some(2));
        let fewer = dests(&[1, 1]);
        r.update(&fewer);
        assert_eq!(run(&mut r, &fewer, 3), [0, 1, 0].map(Some));
    }

    #[test]
    fn a_single_usable_server_gets_everything() {
        let d = dests(&[0, 0, 7]);
        let mut r = Rr::default();
        assert_eq!(run(&mut r, &d, 3), [2, 2, 2].map(Some));
        assert_eq!(Rr::default().pick(&dests(&[0])), None);
    }
}
