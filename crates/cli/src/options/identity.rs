//! The SIP Identity option group of `call` and `answer` (RFC 8224 PASSporT with mky, RFC 4916 connected
//! identity): the flags, the settings after merging them with the config file, and the merge.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use super::{usage, FileConfig};
use crate::Failure;

/// What happens to a call whose SIP Identity is missing or does not verify (RFC 8224).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum IdentityPolicyArg {
    /// Refuse it (428, 436, 437, 438, 403 Stale Date).
    Required,
    /// Let it proceed, shown as unverified (never as verified).
    BestEffort,
}

/// SIP Identity options of `call` and `answer` (RFC 8224 PASSporT with mky, RFC 4916 connected identity).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct IdentityArgs {
    /// Sign our INVITE (and, as answerer, the RFC 4916 UPDATE) with this EC P-256 private key (PEM).
    #[arg(long, value_name = "FILE", requires = "identity_cert")]
    pub(crate) identity_key: Option<PathBuf>,
    /// The certificate of --identity-key (PEM); verifiers fetch it from --identity-info.
    #[arg(long, value_name = "FILE", requires = "identity_key")]
    pub(crate) identity_cert: Option<PathBuf>,
    /// Where verifiers fetch --identity-cert: file:///… or http://127.0.0.1:PORT/… (default: file:// and the
    /// certificate's absolute path).
    #[arg(long, value_name = "URL")]
    pub(crate) identity_info: Option<String>,
    /// Verify the peer's Identity against this CA certificate (PEM); repeat for several.
    #[arg(long, value_name = "FILE")]
    pub(crate) trust_anchor: Vec<PathBuf>,
    /// required: refuse calls without a valid Identity; best-effort (default): mark them unverified.
    #[arg(long, value_enum)]
    pub(crate) identity_policy: Option<IdentityPolicyArg>,
    /// Remember verified peers' fingerprints in FILE and warn when a known peer's key changes.
    #[arg(long, value_name = "FILE")]
    pub(crate) peer_keys: Option<PathBuf>,
    /// A directory a peer's `file://` Identity certificate may be read from; repeat for several (default:
    /// the --trust-anchor and --identity-cert directories; never the working directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) identity_fetch_dir: Vec<PathBuf>,
    /// A loopback `HOST:PORT` a peer's `http://` Identity certificate may be fetched from; repeat for several
    /// (default: none, so no HTTP fetch at all).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) identity_fetch_http: Vec<String>,
}

/// The identity settings after merging flags and file.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct IdentitySettings {
    pub(crate) key: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) info: Option<String>,
    pub(crate) trust_anchors: Vec<PathBuf>,
    pub(crate) required: bool,
    pub(crate) peer_keys: Option<PathBuf>,
    /// Extra directories `file://` certificates may be read from (issue 12 item 7).
    pub(crate) fetch_dirs: Vec<PathBuf>,
    /// Loopback authorities `http://` certificates may be fetched from.
    pub(crate) fetch_http: Vec<String>,
    /// call: anonymous (F-6.1).
    pub(crate) anonymous: bool,
}

pub(super) fn merge_identity(
    a: &IdentityArgs,
    file: &FileConfig,
) -> Result<IdentitySettings, Failure> {
    let key = a.identity_key.clone().or(file.identity_key.clone());
    let cert = a.identity_cert.clone().or(file.identity_cert.clone());
    if key.is_some() != cert.is_some() {
        return Err(usage("--identity-key and --identity-cert go together"));
    }
    let trust_anchors = if a.trust_anchor.is_empty() {
        file.trust_anchor.clone().unwrap_or_default()
    } else {
        a.trust_anchor.clone()
    };
    Ok(IdentitySettings {
        key,
        cert,
        info: a.identity_info.clone().or(file.identity_info.clone()),
        trust_anchors,
        required: a.identity_policy.or(file.identity_policy) == Some(IdentityPolicyArg::Required),
        peer_keys: a.peer_keys.clone().or(file.peer_keys.clone()),
        fetch_dirs: a.identity_fetch_dir.clone(),
        fetch_http: a.identity_fetch_http.clone(),
        anonymous: false,
    })
}
