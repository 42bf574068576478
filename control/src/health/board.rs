//! What each real server should look like to the workers, from two inputs kept apart: the
//! operator's wish (config, reloads, `vsadm -e/-d`: the *admin* state) and the checks' verdict.
//!
//! Keeping them apart is what makes edits and health compose: a weight set on a DOWN server is
//! remembered and applied when the server comes back UP, and a server that comes back is given the
//! weight the operator wants now, not the one it had when it failed. The effective state is a pure
//! function of both ([`Board::effective`]): the daemon stamps it into every snapshot it builds, and
//! between snapshots sends workers only the difference.
//!
//! A failed server is set to weight 0 (keepalived's `inhibit_on_failure`: it keeps its connections
//! and templates) or taken out of its service. A service's sorry server is a destination of its
//! own in the snapshot, present only while no real server of the service is both present and UP.

use vsd_dataplane::service::{DestId, Snapshot};

use super::jobs::Job;
use super::state::{Change, Counter};
use crate::config::Config;
use crate::snapshot;
use crate::state::DestState;

/// Weight of a sorry server while it takes traffic; alone in the running, any weight above 0 works.
const SORRY_WEIGHT: u32 = 1;

#[derive(Clone, Copy, Debug)]
struct Slot {
    admin: DestState,
    health: Counter,
    /// (rise, fall) while a check runs on this server.
    check: Option<(u32, u32)>,
}

#[derive(Clone, Debug)]
struct Rules {
    inhibit: bool,
    reals: Vec<DestId>,
    sorry: Option<DestId>,
    /// `198.19.0.99:8080 in web`, for logs.
    sorry_label: String,
}

/// Admin and health state of every destination of the snapshot.
#[derive(Clone, Debug)]
pub struct Board {
    slots: Vec<Slot>,
    services: Vec<Rules>,
}

impl Board {
    /// Every server present at its snapshot weight and UP, sorry servers waiting.
    pub fn new(cfg: &Config, snap: &Snapshot) -> Board {
        let mut board = Board { slots: Vec::new(), services: Vec::new() };
        board.grow(snap);
        board.set_rules(cfg, snap);
        board
    }

    /// Slots for the destinations a reload appended to the snapshot: present at their snapshot
    /// weight (a sorry server at its serving weight, for when it is let in) and UP, as at start.
    /// New destinations come from the builder, whose weight is the config's; the daemon's admin
    /// plan sets every configured server's state right after.
    pub fn grow(&mut self, snap: &Snapshot) {
        for d in &snap.dests[self.slots.len().min(snap.dests.len())..] {
            let weight = if d.sorry { SORRY_WEIGHT } else { d.weight };
            self.slots.push(Slot {
                admin: DestState { weight, present: true },
                health: Counter::default(),
                check: None,
            });
        }
    }

    /// Takes the per-service rules of `cfg` (after a reload) and the checks that now run. A server
    /// still checked keeps its state and streak; one no longer checked is UP.
    pub fn configure(&mut self, cfg: &Config, snap: &Snapshot, jobs: &[Job]) {
        self.grow(snap);
        self.set_rules(cfg, snap);
        for slot in &mut self.slots {
            slot.check = None;
        }
        for job in jobs {
            self.slots[job.dest as usize].check = Some((job.rise, job.fall));
        }
        for slot in self.slots.iter_mut().filter(|s| s.check.is_none()) {
            slot.health = Counter::default();
        }
    }

    fn set_rules(&mut self, cfg: &Config, snap: &Snapshot) {
        self.services = cfg
            .services
            .iter()
            .filter_map(|s| snapshot::place(s, snap).map(|p| (s, p)))
            .map(|(s, p)| Rules {
                inhibit: s.inhibit_on_failure,
                reals: p.reals,
                sorry: p.sorry,
                sorry_label: s.sorry_server.map_or_else(String::new, |x| {
                    format!("{} in {}", crate::listing::endpoint(&x.address.into(), x.port), s.name)
                }),
            })
            .collect();
    }

    pub fn admin(&self, d: DestId) -> DestState {
        self.slots[d as usize].admin
    }

    pub fn admin_states(&self) -> Vec<DestState> {
        self.slots.iter().map(|s| s.admin).collect()
    }

    /// The operator's state for `d`. A server put back into its service starts UP again, as at
    /// start: its old verdict is about a server that was gone.
    pub fn set_admin(&mut self, d: DestId, state: DestState) {
        let slot = &mut self.slots[d as usize];
        if state.present && !slot.admin.present {
            slot.health = Counter::default();
        }
        slot.admin = state;
    }

    pub fn is_up(&self, d: DestId) -> bool {
        self.slots[d as usize].health.is_up()
    }

    /// Counts one probe result of `d`; results for servers without a check (a reload removed it
    /// while the probe ran) are ignored.
    pub fn observe(&mut self, d: DestId, ok: bool) -> Option<Change> {
        let slot = &mut self.slots[d as usize];
        let (rise, fall) = slot.check?;
        slot.health.observe(ok, rise, fall)
    }

    /// Whether `d` is a sorry server taking its service's traffic.
    pub fn sorry_active(&self, d: DestId) -> bool {
        self.services.iter().any(|r| r.sorry == Some(d) && !self.any_serving(r))
    }

    /// Every sorry server: whether it serves, and its label.
    pub fn sorry_states(&self) -> Vec<(bool, &str)> {
        self.services
            .iter()
            .filter(|r| r.sorry.is_some())
            .map(|r| (!self.any_serving(r), r.sorry_label.as_str()))
            .collect()
    }

    fn any_serving(&self, r: &Rules) -> bool {
        r.reals.iter().any(|&d| {
            let s = &self.slots[d as usize];
            s.admin.present && s.health.is_up()
        })
    }

    /// What the workers should have for each destination.
    pub fn effective(&self) -> Vec<DestState> {
        let mut out: Vec<DestState> = self.slots.iter().map(|s| s.admin).collect();
        for r in &self.services {
            for &d in &r.reals {
                let slot = &self.slots[d as usize];
                if slot.admin.present && !slot.health.is_up() {
                    out[d as usize] = if r.inhibit {
                        DestState { weight: 0, present: true }
                    } else {
                        DestState { weight: slot.admin.weight, present: false }
                    };
                }
            }
            if let Some(sorry) = r.sorry {
                let admin = self.slots[sorry as usize].admin;
                out[sorry as usize].present = admin.present && !self.any_serving(r);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::jobs;

    const CFG: &str = r#"dpdk: { eal: ["-l", "0-1", "--no-pci", "--vdev", "net_null0", "--vdev", "net_null1"] }
workers: { lcores: [1] }
interfaces:
  - { name: ext, port: net_null0, addresses: [198.18.0.2/24] }
  - { name: int, port: net_null1, addresses: [198.19.0.1/24] }
services:
  - name: web
    vips: [198.18.0.100]
    protocol: tcp
    ports: [80]
    forwarding: nat
    health_check: { type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
    sorry_server: { address: 198.19.0.99, port: 8080 }
    real_servers:
      - { address: 198.19.0.11, port: 8080, weight: 3 }
      - { address: 198.19.0.12, port: 8080 }
  - name: dns
    vips: [198.18.0.101]
    protocol: udp
    ports: [53]
    forwarding: nat
    inhibit_on_failure: false
    real_servers:
      - { address: 198.19.0.21, health_check: { type: exec, command: "true", rise: 1, fall: 1 } }
"#;

    fn setup(text: &str) -> (Config, Board) {
        let cfg = crate::config::parse(text, "t.yaml").unwrap();
        let snap = snapshot::build(&cfg, &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]], 1, None).unwrap();
        let mut board = Board::new(&cfg, &snap);
        board.configure(&cfg, &snap, &jobs::jobs(&cfg, &snap));
        (cfg, board)
    }

    const UP: fn(u32) -> DestState = |weight| DestState { weight, present: true };
    const GONE: fn(u32) -> DestState = |weight| DestState { weight, present: false };

    #[test]
    fn starts_with_every_server_up_and_the_sorry_server_waiting() {
        let (_, board) = setup(CFG);
        // web: 0, 1 real, 2 sorry; dns: 3.
        assert_eq!(board.effective(), [UP(3), UP(1), GONE(SORRY_WEIGHT), UP(1)]);
    }

    #[test]
    fn inhibit_sets_weight_zero_and_restores_the_admin_weight() {
        let (_, mut board) = setup(CFG);
        assert_eq!(board.observe(0, false), None);
        assert_eq!(board.observe(0, false), Some(Change::Down { failures: 2 }));
        assert_eq!(board.effective()[0], UP(0));
        // An edit while DOWN is remembered, not applied.
        board.set_admin(0, UP(7));
        assert_eq!(board.effective()[0], UP(0));
        board.observe(0, true);
        assert_eq!(board.observe(0, true), Some(Change::Up { successes: 2 }));
        assert_eq!(board.effective()[0], UP(7));
    }

    #[test]
    fn without_inhibit_a_failed_server_is_removed_then_put_back() {
        let (_, mut board) = setup(CFG);
        assert_eq!(board.observe(3, false), Some(Change::Down { failures: 1 }));
        assert_eq!(board.effective()[3], GONE(1));
        assert_eq!(board.observe(3, true), Some(Change::Up { successes: 1 }));
        assert_eq!(board.effective()[3], UP(1));
    }

    #[test]
    fn sorry_server_serves_only_while_every_real_server_is_down() {
        let (_, mut board) = setup(CFG);
        for _ in 0..2 {
            board.observe(0, false);
        }
        assert!(!board.sorry_active(2), "one real server is still up");
        assert_eq!(board.effective()[2], GONE(SORRY_WEIGHT));
        for _ in 0..2 {
            board.observe(1, false);
        }
        assert!(board.sorry_active(2));
        assert_eq!(board.effective(), [UP(0), UP(0), UP(SORRY_WEIGHT), UP(1)]);
        board.observe(1, true);
        board.observe(1, true);
        assert_eq!(board.effective(), [UP(0), UP(1), GONE(SORRY_WEIGHT), UP(1)]);
    }

    #[test]
    fn an_admin_removal_counts_as_not_serving_and_a_return_starts_up() {
        let (_, mut board) = setup(CFG);
        board.set_admin(0, GONE(3));
        for _ in 0..2 {
            board.observe(1, false);
        }
        assert!(board.sorry_active(2));
        board.set_admin(0, UP(3));
        assert!(board.is_up(0));
        assert!(!board.sorry_active(2));
        assert_eq!(board.effective()[..3], [UP(3), UP(0), GONE(SORRY_WEIGHT)]);
    }

    #[test]
    fn reconfigure_keeps_the_state_of_servers_still_checked() {
        let (cfg, mut board) = setup(CFG);
        let snap = snapshot::build(&cfg, &[[0; 6], [0; 6]], 1, None).unwrap();
        for _ in 0..2 {
            board.observe(0, false);
        }
        board.configure(&cfg, &snap, &jobs::jobs(&cfg, &snap));
        assert!(!board.is_up(0), "still checked: still DOWN");
        // Without the service-level check, web's servers are no longer checked: UP.
        let text = CFG.replacen(
            "    health_check: { type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }\n",
            "",
            1,
        );
        let cfg = crate::config::parse(&text, "t.yaml").unwrap();
        board.configure(&cfg, &snap, &jobs::jobs(&cfg, &snap));
        assert!(board.is_up(0));
        assert_eq!(board.observe(0, false), None, "no check: results are ignored");
        assert_eq!(board.effective()[0], UP(3));
    }
}
