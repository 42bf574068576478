//! LVS's TCP state machine, as data.
//!
//! LVS does not track TCP; it guesses the state of each connection from the flags it sees, to pick
//! a timeout and to count active/inactive connections per real server. The guess is a table lookup
//! (`tcp_states[]` in `ip_vs_proto_tcp.c`) by (direction, event, current state), with three
//! directions: INPUT (client → server, NAT), OUTPUT (server → client, NAT), and INPUT_ONLY for DR and
//! tunnel, where the director never sees replies. The event of a segment is its most significant
//! flag in the order RST > SYN > FIN > ACK (`tcp_state_idx`); a segment with none of them leaves the
//! state alone.
//!
//! The tables below hold LVS's default (non-`secure_tcp`) transitions, written one row per current
//! state so that each row reads as "what can happen from here".

use super::entry::{Dir, Fwd};
use super::state::ConnState;

/// Which LVS table a segment is looked up in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StateDir {
    /// Client → server, on a connection whose replies we also see.
    Input,
    /// Server → client (NAT and full NAT).
    Output,
    /// Client → server on DR/tunnel connections.
    InputOnly,
}

impl StateDir {
    /// The table for a packet in direction `dir` of a connection forwarded by `fwd`.
    #[inline]
    pub fn of(fwd: Fwd, dir: Dir) -> StateDir {
        match (dir, fwd.sees_replies()) {
            (Dir::Out, _) => StateDir::Output,
            (Dir::In, true) => StateDir::Input,
            (Dir::In, false) => StateDir::InputOnly,
        }
    }
}

/// The raw TCP flag bits (RFC 9293 §3.1), without depending on a header parser.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpFlagsLite(pub u8);

impl TcpFlagsLite {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    pub fn new(syn: bool, fin: bool, ack: bool, rst: bool) -> TcpFlagsLite {
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        TcpFlagsLite(bit(syn, Self::SYN) | bit(fin, Self::FIN) | bit(ack, Self::ACK) | bit(rst, Self::RST))
    }

    /// The event LVS derives from the flags (`tcp_state_idx`): RST wins over SYN over FIN over ACK.
    #[inline]
    fn event(self) -> Option<usize> {
        let f = self.0;
        if f & Self::RST != 0 {
            Some(RST)
        } else if f & Self::SYN != 0 {
            Some(SYN)
        } else if f & Self::FIN != 0 {
            Some(FIN)
        } else if f & Self::ACK != 0 {
            Some(ACK)
        } else {
            None
        }
    }
}

// Event columns of the rows below.
const SYN: usize = 0;
const FIN: usize = 1;
const ACK: usize = 2;
const RST: usize = 3;

use ConnState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynRecv as SR, SynSent as SS, TimeWait as TW,
};

type Table = [[ConnState; 4]; ConnState::TCP_COUNT];

/// Client → server with replies visible. Rows by current state; columns SYN, FIN, ACK, RST.
#[rustfmt::skip]
const INPUT: Table = [
    /* NONE        */ [SR, CL, ES, CL],
    /* ESTABLISHED */ [ES, CW, ES, CL],
    /* SYN_SENT    */ [ES, SS, SS, CL],
    /* SYN_RECV    */ [SR, TW, ES, SR],
    /* FIN_WAIT    */ [SR, TW, FW, CL],
    /* TIME_WAIT   */ [SR, TW, TW, CL],
    /* CLOSE       */ [SR, CL, CL, CL],
    /* CLOSE_WAIT  */ [SR, CW, CW, CL],
    /* LAST_ACK    */ [SR, LA, CL, LA],
    /* LISTEN      */ [SR, LI, LI, LI],
    /* SYNACK      */ [SR, TW, ES, SR],
];

/// Server → client.
#[rustfmt::skip]
const OUTPUT: Table = [
    /* NONE        */ [SS, TW, ES, CL],
    /* ESTABLISHED */ [ES, FW, ES, CL],
    /* SYN_SENT    */ [SS, SS, SS, SS],
    /* SYN_RECV    */ [SR, TW, ES, CL],
    /* FIN_WAIT    */ [SS, FW, FW, CL],
    /* TIME_WAIT   */ [SS, TW, TW, TW],
    /* CLOSE       */ [SS, CL, CL, CL],
    /* CLOSE_WAIT  */ [SS, TW, CW, CL],
    /* LAST_ACK    */ [SS, LA, LA, CL],
    /* LISTEN      */ [LI, LI, ES, CL],
    /* SYNACK      */ [SR, TW, ES, CL],
];

/// Client → server when replies are never seen (DR, tunnel): a client FIN means the connection is
/// closing (FIN_WAIT), not that the server half-closed.
#[rustfmt::skip]
const INPUT_ONLY: Table = [
    /* NONE        */ [SR, CL, ES, CL],
    /* ESTABLISHED */ [ES, FW, ES, CL],
    /* SYN_SENT    */ [ES, SS, SS, CL],
    /* SYN_RECV    */ [SR, TW, ES, SR],
    /* FIN_WAIT    */ [SR, FW, FW, CL],
    /* TIME_WAIT   */ [SR, TW, TW, CL],
    /* CLOSE       */ [SR, CL, CL, CL],
    /* CLOSE_WAIT  */ [SR, CW, CW, CL],
    /* LAST_ACK    */ [SR, LA, CL, LA],
    /* LISTEN      */ [SR, LI, LI, LI],
    /* SYNACK      */ [SR, TW, ES, CL],
];

/// The state after a segment with `flags` travelling in `dir`. Non-TCP states (UDP) and segments
/// with no SYN/FIN/ACK/RST keep the current state.
#[inline]
pub fn next(state: ConnState, dir: StateDir, flags: TcpFlagsLite) -> ConnState {
    let Some(ev) = flags.event() else { return state };
    if !state.is_tcp() {
        return state;
    }
    let table = match dir {
        StateDir::Input => &INPUT,
        StateDir::Output => &OUTPUT,
        StateDir::InputOnly => &INPUT_ONLY,
    };
    table[state as usize][ev]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnState::None as NO;

    const S: TcpFlagsLite = TcpFlagsLite(TcpFlagsLite::SYN);
    const SA_: TcpFlagsLite = TcpFlagsLite(TcpFlagsLite::SYN | TcpFlagsLite::ACK);
    const A: TcpFlagsLite = TcpFlagsLite(TcpFlagsLite::ACK);
    const FA: TcpFlagsLite = TcpFlagsLite(TcpFlagsLite::FIN | TcpFlagsLite::ACK);
    const R: TcpFlagsLite = TcpFlagsLite(TcpFlagsLite::RST);

    /// Run a sequence of (direction, flags) from NONE and return every state reached.
    fn run(steps: &[(StateDir, TcpFlagsLite)]) -> Vec<ConnState> {
        let mut s = NO;
        steps
            .iter()
            .map(|&(d, f)| {
                s = next(s, d, f);
                s
            })
            .collect()
    }

    use StateDir::{Input as I, InputOnly as IO, Output as O};

    #[test]
    fn nat_handshake_and_client_close() {
        // SYN, SYN+ACK from the server (a SYN event on OUTPUT), ACK; client closes first.
        let got = run(&[(I, S), (O, SA_), (I, A), (I, FA), (O, A), (O, FA), (I, A)]);
        assert_eq!(got, vec![SR, SR, ES, CW, CW, TW, TW]);
    }

    #[test]
    fn nat_server_closes_first() {
        let got = run(&[(I, S), (O, SA_), (I, A), (O, FA), (I, A), (I, FA), (O, A)]);
        assert_eq!(got, vec![SR, SR, ES, FW, FW, TW, TW]);
    }

    #[test]
    fn dr_sees_only_the_client() {
        let got = run(&[(IO, S), (IO, A), (IO, A), (IO, FA), (IO, A)]);
        assert_eq!(got, vec![SR, ES, ES, FW, FW]);
        // INPUT would have called that client FIN CLOSE_WAIT (waiting for the server's FIN).
        assert_eq!(next(ES, I, FA), CW);
    }

    #[test]
    fn resets() {
        assert_eq!(next(ES, I, R), CL);
        assert_eq!(next(ES, O, R), CL);
        assert_eq!(next(ES, IO, R), CL);
        // A client RST during the handshake does not close the entry (LVS keeps SYN_RECV).
        assert_eq!(next(SR, I, R), SR);
        // RST wins over every other flag.
        assert_eq!(next(ES, I, TcpFlagsLite(0xff)), CL);
    }

    #[test]
    fn event_priority_and_no_event() {
        // SYN beats FIN and ACK; FIN beats ACK.
        assert_eq!(next(NO, I, TcpFlagsLite::new(true, true, true, false)), SR);
        assert_eq!(next(ES, I, TcpFlagsLite::new(false, true, true, false)), CW);
        // No SYN/FIN/ACK/RST (e.g. a bare PSH): unchanged.
        for s in ConnState::ALL {
            assert_eq!(next(s, I, TcpFlagsLite(0x08)), s);
        }
        // UDP entries never move.
        assert_eq!(next(ConnState::Udp, I, S), ConnState::Udp);
    }

    #[test]
    fn time_wait_and_close_absorb_acks_and_fins() {
        for d in [I, O, IO] {
            assert_eq!(next(TW, d, A), TW);
            assert_eq!(next(TW, d, FA), TW);
            assert_eq!(next(CL, d, A), CL);
        }
        // A new SYN from the client on a closed entry reopens it (port reuse).
        assert_eq!(next(TW, I, S), SR);
        assert_eq!(next(CL, IO, S), SR);
    }

    #[test]
    fn direction_follows_forwarding() {
        assert_eq!(StateDir::of(Fwd::Nat, Dir::In), I);
        assert_eq!(StateDir::of(Fwd::FullNat, Dir::Out), O);
        assert_eq!(StateDir::of(Fwd::Dr, Dir::In), IO);
        assert_eq!(StateDir::of(Fwd::Tunnel, Dir::In), IO);
    }
}
