//! Connection states, numbered and named as LVS numbers and names them.
//!
//! The TCP states keep LVS's order (`IP_VS_TCP_S_*` in `include/uapi/linux/ip_vs.h`) so that the
//! transition tables in [`tcp_state`](super::tcp_state) index by `state as usize`, and the names
//! are the ones `ipvsadm -L -c` prints, so listings read the same as on an LVS box. UDP has a single
//! state (`IP_VS_UDP_S_NORMAL`, printed "UDP").

/// State of a connection entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum ConnState {
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
    /// The one state of a UDP entry.
    Udp = 11,
}

impl ConnState {
    /// Number of TCP states (LVS `IP_VS_TCP_S_LAST`).
    pub const TCP_COUNT: usize = 11;

    /// Every state, in numeric order.
    pub const ALL: [ConnState; 12] = [
        ConnState::None,
        ConnState::Established,
        ConnState::SynSent,
        ConnState::SynRecv,
        ConnState::FinWait,
        ConnState::TimeWait,
        ConnState::Close,
        ConnState::CloseWait,
        ConnState::LastAck,
        ConnState::Listen,
        ConnState::SynAck,
        ConnState::Udp,
    ];

    /// The name LVS prints (`tcp_state_name_table`, `udp_state_name_table`).
    pub fn name(self) -> &'static str {
        match self {
            ConnState::None => "NONE",
            ConnState::Established => "ESTABLISHED",
            ConnState::SynSent => "SYN_SENT",
            ConnState::SynRecv => "SYN_RECV",
            ConnState::FinWait => "FIN_WAIT",
            ConnState::TimeWait => "TIME_WAIT",
            ConnState::Close => "CLOSE",
            ConnState::CloseWait => "CLOSE_WAIT",
            ConnState::LastAck => "LAST_ACK",
            ConnState::Listen => "LISTEN",
            ConnState::SynAck => "SYNACK",
            ConnState::Udp => "UDP",
        }
    }

    /// Whether the connection counts in a real server's ActiveConn rather than InActConn.
    ///
    /// Classic LVS counts only ESTABLISHED as active; UDP entries are always inactive (LVS creates
    /// every connection with `IP_VS_CONN_F_INACTIVE` and only the TCP state machine clears it).
    /// Linux ≥ 4.7 (`tcp_state_active_table`) also counts SYN_SENT, SYN_RECV and SYNACK as active;
    /// vsd keeps the classic rule.
    #[inline]
    pub fn is_active(self) -> bool {
        self == ConnState::Established
    }

    #[inline]
    pub fn is_tcp(self) -> bool {
        (self as usize) < Self::TCP_COUNT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_and_names_follow_lvs() {
        for (i, s) in ConnState::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        let names: Vec<_> = ConnState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names[3], "SYN_RECV");
        assert_eq!(names[4], "FIN_WAIT");
        assert_eq!(names[11], "UDP");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn only_established_is_active() {
        let active: Vec<_> = ConnState::ALL.into_iter().filter(|s| s.is_active()).collect();
        assert_eq!(active, vec![ConnState::Established]);
        assert!(!ConnState::Udp.is_tcp());
        assert!(ConnState::SynAck.is_tcp());
    }
}
