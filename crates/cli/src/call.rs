//! `dtlsrtp call` and `dtlsrtp answer`: settings, identity, key log and audio are prepared here; the call itself
//! runs on the `dtlsrtp` endpoint crate (SIP user agent + SDP + media port) through its tokio driver.

use crate::audio::g711::Law;
use crate::audio::tone::ToneGenerator;
use crate::audio::{wav, RATE};
use crate::identity;
use crate::keylog::FileKeyLog;
use crate::options::{AnswerArgs, CallArgs, CodecArg, Settings, Source};
use crate::output;
use crate::{Exit, Failure};

/// What a call or an answer runs with, once everything local is ready.
#[allow(dead_code)] // certificate and keylog go to the endpoint when it is merged
pub(crate) struct Prepared {
    pub(crate) settings: Settings,
    pub(crate) certificate: dtlsrtp_dtls::Certificate,
    pub(crate) keylog: Option<std::sync::Arc<FileKeyLog>>,
    pub(crate) law: Law,
    /// The audio to send, 8 kHz mono; looped for the call's length.
    pub(crate) audio: Vec<i16>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("settings", &self.settings)
            .field("law", &self.law)
            .field("audio_samples", &self.audio.len())
            .finish_non_exhaustive()
    }
}

/// Loads everything local (exit 1 on a local problem, 2 on bad usage) before any packet is sent.
pub(crate) fn prepare(settings: Settings) -> Result<Prepared, Failure> {
    output::init(settings.json, settings.verbosity);
    let (certificate, origin) = identity::load_or_create(
        settings.cert.as_deref(),
        settings.key.as_deref(),
        settings.config_dir.as_deref(),
    )?;
    if let identity::Origin::Created(p) = &origin {
        tracing::warn!("new identity saved to {}", p.display());
    }
    let keylog = settings
        .keylog
        .as_deref()
        .map(FileKeyLog::open)
        .transpose()?
        .map(std::sync::Arc::new);
    let audio = match &settings.source {
        Source::Wav(path) => {
            let samples = wav::read(path)
                .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?;
            if samples.is_empty() {
                return Err(Failure::new(
                    Exit::Local,
                    format!("{}: no audio in the file", path.display()),
                ));
            }
            samples
        }
        // One second of tone, looped: 440 Hz and every whole-Hz tone repeat exactly every second.
        Source::Tone(hz) => ToneGenerator::new(*hz, 0.3).samples(RATE as usize),
    };
    if let Some(record) = &settings.record {
        // Fail before the call, not after it, when the recording cannot be written.
        wav::write(record, &[])
            .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", record.display())))?;
    }
    let law = match settings.codec {
        CodecArg::Pcmu => Law::Pcmu,
        CodecArg::Pcma => Law::Pcma,
    };
    Ok(Prepared {
        settings,
        certificate,
        keylog,
        law,
        audio,
    })
}

/// `dtlsrtp call`.
pub(crate) fn call(args: &CallArgs) -> Result<(), Failure> {
    let prepared = prepare(Settings::for_call(args)?)?;
    run(prepared, Role::Caller)
}

/// `dtlsrtp answer`.
pub(crate) fn answer(args: &AnswerArgs) -> Result<(), Failure> {
    let prepared = prepare(Settings::for_answer(args)?)?;
    run(prepared, Role::Callee)
}

/// Which side of the call we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `call`.
    Caller,
    /// `answer`.
    Callee,
}

fn run(prepared: Prepared, role: Role) -> Result<(), Failure> {
    tracing::debug!(?prepared, ?role, "prepared");
    Err(Failure::new(
        Exit::Local,
        "calls need the dtlsrtp endpoint crate, which this build does not include yet",
    ))
}
