//! A leg's payload-type table: the codecs an exchange agreed on (PCMU 0, PCMA 8, telephone-event on a dynamic
//! number, whatever was negotiated), looked up by number or by name.

use dtlsrtp_sdp::Codec;

/// PCMU (0) then PCMA (8), 8 kHz G.711: the default audio codecs.
pub fn g711() -> Vec<Codec> {
    vec![
        Codec::new(0, "PCMU", 8000, None),
        Codec::new(8, "PCMA", 8000, None),
    ]
}

/// The negotiated payload types of one leg, in the answer's preference order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayloadTable {
    codecs: Vec<Codec>,
}

impl PayloadTable {
    /// The table of an exchange's common codecs.
    pub fn new(codecs: Vec<Codec>) -> Self {
        Self { codecs }
    }

    /// The codec a payload type stands for.
    pub fn get(&self, pt: u8) -> Option<&Codec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }

    /// The payload type of an encoding (`PCMU`, `telephone-event`, ...; case-insensitive) at `clock_rate`.
    pub fn pt_of(&self, name: &str, clock_rate: u32) -> Option<u8> {
        self.codecs
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name) && c.clock_rate == clock_rate)
            .map(|c| c.pt)
    }

    /// The first (preferred) audio codec that is not telephone-event: what a sender should use.
    pub fn preferred(&self) -> Option<&Codec> {
        self.codecs
            .iter()
            .find(|c| !c.name.eq_ignore_ascii_case("telephone-event"))
    }

    /// RFC 4733 telephone-event's payload type, when negotiated.
    pub fn telephone_event(&self) -> Option<u8> {
        self.codecs
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case("telephone-event"))
            .map(|c| c.pt)
    }

    /// Whether a payload type was negotiated.
    pub fn contains(&self, pt: u8) -> bool {
        self.get(pt).is_some()
    }

    /// All codecs.
    pub fn codecs(&self) -> &[Codec] {
        &self.codecs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_by_number_and_name() {
        let t = PayloadTable::new(vec![
            Codec::new(101, "telephone-event", 8000, None),
            Codec::new(8, "PCMA", 8000, None),
            Codec::new(0, "PCMU", 8000, None),
        ]);
        assert_eq!(t.pt_of("pcma", 8000), Some(8));
        assert_eq!(t.telephone_event(), Some(101));
        assert_eq!(t.preferred().map(|c| c.pt), Some(8));
        assert_eq!(t.get(0).map(|c| c.name.as_str()), Some("PCMU"));
        assert!(!t.contains(9));
    }
}
