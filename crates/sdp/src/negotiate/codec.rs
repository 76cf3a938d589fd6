//! Codecs: what we offer, and the intersection an answer carries (RFC 3264 §6.1).

use crate::attr::Attribute;
use crate::model::Media;

/// An RTP payload format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Codec {
    /// Payload type (the offerer's number in an answer).
    pub pt: u8,
    /// Encoding name (`PCMU`, `opus`, `telephone-event`).
    pub name: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (audio; None = 1).
    pub channels: Option<u8>,
    /// `a=fmtp` parameters.
    pub fmtp: Option<String>,
}

impl Codec {
    /// A codec without fmtp.
    pub fn new(pt: u8, name: &str, clock_rate: u32, channels: Option<u8>) -> Self {
        Self {
            pt,
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    /// With `a=fmtp` parameters.
    pub fn with_fmtp(mut self, fmtp: &str) -> Self {
        self.fmtp = Some(fmtp.to_owned());
        self
    }

    /// RFC 4733 `telephone-event`: key presses, not an audio codec on its own (W-3).
    pub fn is_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// Same encoding, clock rate and channel count.
    pub fn same_format(&self, other: &Self) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels.unwrap_or(1) == other.channels.unwrap_or(1)
    }

    /// The rtpmap value (`PT NAME/RATE[/CH]`).
    pub(crate) fn rtpmap(&self) -> String {
        match self.channels {
            Some(ch) => format!(
                "rtpmap:{} {}/{}/{}",
                self.pt, self.name, self.clock_rate, ch
            ),
            None => format!("rtpmap:{} {}/{}", self.pt, self.name, self.clock_rate),
        }
    }
}

/// RFC 3551 static payload types that may appear without `a=rtpmap`.
fn static_codec(pt: u8) -> Option<Codec> {
    let (name, rate) = match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some(Codec::new(pt, name, rate, None))
}

/// The codecs a remote m-line describes, in its format order (formats we cannot map are skipped).
pub(crate) fn remote_codecs(m: &Media) -> Vec<Codec> {
    m.media_line()
        .formats
        .iter()
        .filter_map(|f| {
            let pt: u8 = f.parse().ok()?;
            let mut codec = m
                .attributes()
                .find_map(|a| match a {
                    Attribute::Rtpmap(r) if r.pt == pt => Some(Codec {
                        pt,
                        name: r.encoding.clone(),
                        clock_rate: r.clock_rate,
                        channels: r.params.as_deref().and_then(|p| p.parse().ok()),
                        fmtp: None,
                    }),
                    _ => None,
                })
                .or_else(|| static_codec(pt))?;
            codec.fmtp = m.attributes().find_map(|a| match a {
                Attribute::Fmtp(x) if x.format == *f => Some(x.params.clone()),
                _ => None,
            });
            Some(codec)
        })
        .collect()
}

/// Answerer side: the offered codecs we support, in the offer's order, with the offer's payload types and our
/// fmtp parameters.
pub(crate) fn intersect(offered: &[Codec], ours: &[Codec]) -> Vec<Codec> {
    offered
        .iter()
        .filter_map(|o| {
            ours.iter().find(|c| c.same_format(o)).map(|c| Codec {
                pt: o.pt,
                fmtp: c.fmtp.clone().or_else(|| o.fmtp.clone()),
                ..c.clone()
            })
        })
        .collect()
}
