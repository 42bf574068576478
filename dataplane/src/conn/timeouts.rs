//! Per-state connection timeouts.
//!
//! The defaults are LVS's (`tcp_timeouts[]` in `ip_vs_proto_tcp.c`, `udp_timeouts[]` in
//! `ip_vs_proto_udp.c`). A state change re-arms the entry at `now + for_state(new_state)`, exactly as
//! LVS sets `cp->timeout` from the table on every transition. `ipvsadm --set tcp tcpfin udp` edits
//! three of them; zero there means "leave unchanged", as in ipvsadm.

use core::time::Duration;

use super::state::ConnState;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Timeouts {
    pub none: Duration,
    pub established: Duration,
    pub syn_sent: Duration,
    pub syn_recv: Duration,
    pub fin_wait: Duration,
    pub time_wait: Duration,
    pub close: Duration,
    pub close_wait: Duration,
    pub last_ack: Duration,
    pub listen: Duration,
    pub synack: Duration,
    pub udp: Duration,
}

impl Timeouts {
    /// LVS defaults.
    pub const LVS: Timeouts = Timeouts {
        none: secs(2),
        established: secs(15 * 60),
        syn_sent: secs(2 * 60),
        syn_recv: secs(60),
        fin_wait: secs(2 * 60),
        time_wait: secs(2 * 60),
        close: secs(10),
        close_wait: secs(60),
        last_ack: secs(30),
        listen: secs(2 * 60),
        synack: secs(120),
        udp: secs(5 * 60),
    };

    #[inline]
    pub fn for_state(&self, s: ConnState) -> Duration {
        match s {
            ConnState::None => self.none,
            ConnState::Established => self.established,
            ConnState::SynSent => self.syn_sent,
            ConnState::SynRecv => self.syn_recv,
            ConnState::FinWait => self.fin_wait,
            ConnState::TimeWait => self.time_wait,
            ConnState::Close => self.close,
            ConnState::CloseWait => self.close_wait,
            ConnState::LastAck => self.last_ack,
            ConnState::Listen => self.listen,
            ConnState::SynAck => self.synack,
            ConnState::Udp => self.udp,
        }
    }

    /// `ipvsadm --set tcp tcpfin udp`: ESTABLISHED, FIN_WAIT and UDP; a zero leaves that one as is.
    pub fn set_ipvsadm(&mut self, tcp: Duration, tcpfin: Duration, udp: Duration) {
        let keep = |new: Duration, old: Duration| if new.is_zero() { old } else { new };
        self.established = keep(tcp, self.established);
        self.fin_wait = keep(tcpfin, self.fin_wait);
        self.udp = keep(udp, self.udp);
    }

    /// What `ipvsadm -L --timeout` prints: "Timeout (tcp tcpfin udp): 900 120 300".
    pub fn ipvsadm(&self) -> (Duration, Duration, Duration) {
        (self.established, self.fin_wait, self.udp)
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts::LVS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_lvs() {
        let t = Timeouts::default();
        let expect = [
            (ConnState::Established, 900),
            (ConnState::SynSent, 120),
            (ConnState::SynRecv, 60),
            (ConnState::FinWait, 120),
            (ConnState::TimeWait, 120),
            (ConnState::Close, 10),
            (ConnState::CloseWait, 60),
            (ConnState::LastAck, 30),
            (ConnState::Listen, 120),
            (ConnState::SynAck, 120),
            (ConnState::Udp, 300),
            (ConnState::None, 2),
        ];
        for (s, secs) in expect {
            assert_eq!(t.for_state(s), Duration::from_secs(secs), "{}", s.name());
        }
        assert_eq!(t.ipvsadm(), (secs(900), secs(120), secs(300)));
    }

    #[test]
    fn ipvsadm_set_edits_three_and_zero_keeps() {
        let mut t = Timeouts::default();
        t.set_ipvsadm(secs(3600), Duration::ZERO, secs(30));
        assert_eq!(t.for_state(ConnState::Established), secs(3600));
        assert_eq!(t.for_state(ConnState::FinWait), secs(120));
        assert_eq!(t.for_state(ConnState::Udp), secs(30));
        assert_eq!(t.for_state(ConnState::TimeWait), secs(120), "tcpfin is FIN_WAIT only");
    }
}
