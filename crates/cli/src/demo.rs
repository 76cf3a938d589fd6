//! `dtlsrtp demo`: Alice calls Bob on 127.0.0.1 and shows RFC 5763 at work — DTLS on the media path, each
//! certificate checked against the other's `a=fingerprint`, SRTP both ways — as a ladder diagram. Over SIP
//! ([`crate::sipdemo`]) unless the flow needs what only the SIP-less demo does ([`crate::demonosip`]).

use std::f64::consts::TAU;

use clap::{Args, ValueEnum};
use dtlsrtp::session::{Codec, Direction, LocalMedia};
use dtlsrtp_types::SrtpProfile;

use crate::options::OutputArgs;
use crate::{Exit, Failure, KeyArg};
use dtlsrtp_audio::g711::ulaw_encode;

/// Options of `dtlsrtp demo`.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Which flow to run.
    #[arg(long, value_enum, default_value_t = Scenario::Basic)]
    pub(crate) scenario: Scenario,
    /// RTP packets each way (20 ms of PCMU each; 250 = 5 seconds).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) packets: u32,
    /// Milliseconds between packets (20 = real time, 0 = as fast as possible).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub(crate) pace_ms: u64,
    /// Certificate key type of both endpoints.
    #[arg(long, value_enum, default_value_t = KeyArg::Ecdsa)]
    pub(crate) key_type: KeyArg,
    /// SRTP profiles offered, most preferred first, comma separated (IANA or OpenSSL names). The SIP user
    /// agents offer their default list; with this option the demo runs without SIP (SDP in memory).
    #[arg(long, value_delimiter = ',')]
    pub(crate) profiles: Vec<SrtpProfile>,
    /// Run without SIP: the SDP travels in memory, only the media path is real UDP.
    #[arg(long)]
    pub(crate) no_sip: bool,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
}

/// The flows `demo` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// Bob answers a=setup:active; his ClientHello arrives before his answer (F-5.8).
    Basic,
    /// Bob answers a=setup:passive; Alice sends the ClientHello once the answer arrives (runs without SIP:
    /// the SIP user agent always answers active, RFC 5763 §5).
    Passive,
    /// A middlebox rewrites Bob's fingerprint in the answer: Alice tears the media down (F-5.15).
    Mitm,
    /// Bob answers with a 183 and SDP: DTLS and SRTP both ways before the 200 (F-6.2).
    EarlyMedia,
    /// Alice's INVITE has no SDP: Bob offers in the 200, Alice answers in the ACK (F-6.4).
    DelayedOffer,
    /// Mid-call re-INVITE that keeps the association: SRTP continues without a new handshake.
    Reinvite,
    /// Mid-call re-INVITE with a new tls-id on a new port: a new handshake, new keys (T-5.1a).
    Rekey,
    /// Alice offers RTP/AVP with RFC 5939 capability negotiation for DTLS-SRTP; Bob picks DTLS-SRTP.
    BestEffort,
    /// A forking proxy rings Bob and Carol; both send early media, each verified against its own
    /// fingerprint (F-6.3, T-8a); Bob answers, Carol's branch is cancelled.
    Forking,
}

/// The audio m-line both parties use: PCMU, 20 ms.
pub(crate) fn audio_media(port: u16) -> LocalMedia {
    LocalMedia {
        kind: "audio".into(),
        port,
        codecs: vec![Codec::new(0, "PCMU", 8000, None)],
        direction: Direction::SendRecv,
        mid: None,
    }
}

const SAMPLES: usize = 160;

/// The PCMU payload of packet `index` of a tone: both ends compute it, so the receiver checks every byte.
pub(crate) fn tone_payload(hz: f64, index: u32) -> [u8; SAMPLES] {
    let mut out = [0u8; SAMPLES];
    for (i, o) in out.iter_mut().enumerate() {
        let n = f64::from(index) * SAMPLES as f64 + i as f64;
        *o = ulaw_encode((8000.0 * (TAU * hz * n / 8000.0).sin()) as i16);
    }
    out
}

/// Runs the demo; `Ok` only when media authenticated both ways. Over SIP unless the flow needs what only the
/// SIP-less demo can do (a passive answer, a chosen profile list).
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    // The endpoint answers active, offers its default profiles and has no key-log hook yet.
    let sip = !(args.no_sip
        || args.scenario == Scenario::Passive
        || !args.profiles.is_empty()
        || args.out.keylog.is_some());
    if sip {
        return crate::sipdemo::run(args);
    }
    if !matches!(
        args.scenario,
        Scenario::Basic | Scenario::Passive | Scenario::Mitm
    ) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "--scenario {:?} needs SIP (drop --no-sip/--profiles)",
                args.scenario
            ),
        ));
    }
    crate::demonosip::run(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_payload_is_pcmu_of_the_tone() {
        assert_ne!(tone_payload(440.0, 0), tone_payload(440.0, 1));
        assert_eq!(
            tone_payload(440.0, 0)[0],
            0xFF,
            "sin(0) = 0 encodes as µ-law zero"
        );
    }
}
