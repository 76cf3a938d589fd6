//! Media direction (RFC 3264 §6.1, §8.4): what we want (from the hold state) × what the peer wrote → whether we
//! may send and receive. The one place hold turns into an SDP direction attribute.

use dtlsrtp_sdp::attr::Direction;

/// Whether the direction lets its writer send.
pub const fn can_send(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

/// Whether the direction lets its writer receive.
pub const fn can_recv(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

/// The direction with the given send/receive abilities.
pub const fn from_flags(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// What a leg may do after an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permits {
    /// RTP may leave (otherwise a send is dropped and counted).
    pub send: bool,
    /// RTP is expected (and delivered).
    pub recv: bool,
}

impl Permits {
    /// Both ways (before any exchange says otherwise).
    pub const BOTH: Self = Self {
        send: true,
        recv: true,
    };

    /// From our written direction and the peer's (RFC 3264 §6.1: each side's attribute is from its own point of
    /// view).
    pub const fn of(ours: Direction, peer: Direction) -> Self {
        Self {
            send: can_send(ours) && can_recv(peer),
            recv: can_recv(ours) && can_send(peer),
        }
    }

    /// No packet at all (`inactive`).
    pub const fn inactive(self) -> bool {
        !self.send && !self.recv
    }
}

/// The direction state of one call or WHIP session: our hold flag and the directions of the last completed
/// exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DirectionState {
    /// We hold (RFC 3264 §8.4).
    pub hold: bool,
    /// What we wrote in the last completed exchange (`sendrecv` before any).
    pub ours: Direction,
    /// What the peer wrote in the last completed exchange (`sendrecv` before any).
    pub peer: Direction,
    /// A one-way session (WHIP publishes: `sendonly`; WHEP plays: `recvonly`), `None`: both ways.
    pub fixed: Option<Direction>,
}

impl DirectionState {
    /// The peer holds us: its last direction does not receive (it wrote `sendonly` or `inactive`).
    pub const fn peer_holds(&self) -> bool {
        !can_recv(self.peer)
    }

    /// The direction to write in an offer: `sendrecv`; on hold `sendonly`, or `inactive` when the peer holds
    /// too (RFC 3264 §8.4).
    pub fn for_offer(&self) -> Direction {
        if let Some(d) = self.fixed {
            return d;
        }
        match (self.hold, self.peer_holds()) {
            (false, _) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (true, true) => Direction::Inactive,
        }
    }

    /// What we want when answering (the negotiator intersects it with the offer, RFC 3264 §6.1): on hold
    /// `sendonly`, whatever the peer offers — a peer's re-offer during our hold keeps our direction.
    pub fn for_answer(&self) -> Direction {
        if let Some(d) = self.fixed {
            return d;
        }
        if self.hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        }
    }

    /// An exchange completed with these directions.
    pub fn completed(&mut self, ours: Direction, peer: Direction) {
        self.ours = ours;
        self.peer = peer;
    }

    /// What the legs may do now.
    pub const fn permits(&self) -> Permits {
        Permits::of(self.ours, self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    #[test]
    fn rfc3264_8_4_offer_directions() {
        let mut s = DirectionState::default();
        assert_eq!(s.for_offer(), SendRecv);
        s.hold = true;
        assert_eq!(s.for_offer(), SendOnly);
        s.completed(SendOnly, SendOnly); // the peer answered our hold, then held us too
        assert_eq!(s.for_offer(), Inactive);
        s.hold = false;
        assert_eq!(s.for_offer(), SendRecv);
        assert_eq!(s.for_answer(), SendRecv);
    }

    #[test]
    fn permits_follow_both_sides() {
        assert_eq!(
            Permits::of(SendOnly, RecvOnly),
            Permits {
                send: true,
                recv: false
            }
        );
        assert_eq!(
            Permits::of(RecvOnly, SendOnly),
            Permits {
                send: false,
                recv: true
            }
        );
        assert!(Permits::of(Inactive, SendRecv).inactive());
        assert!(Permits::of(SendRecv, Inactive).inactive());
        assert_eq!(Permits::of(SendRecv, SendRecv), Permits::BOTH);
    }
}
