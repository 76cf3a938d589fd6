//! Read-only views of the port: addresses, SSRCs, counters, association snapshots, keys for interop checks.

use std::net::SocketAddr;

use dtlsrtp_srtp::SrtpKeyingMaterial;

use super::{AssocId, AssocInfo, MediaPort, PortCounters};
use crate::ice::IceAgent;

impl MediaPort {
    // ---- getters -----------------------------------------------------------------------------------------

    /// The local transport address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The SSRC we send with.
    #[must_use]
    pub fn local_ssrc(&self) -> u32 {
        self.local_ssrc
    }

    /// Port-wide counters.
    #[must_use]
    pub fn counters(&self) -> PortCounters {
        PortCounters {
            demux: self.demux.dropped(),
            ..self.counters
        }
    }

    /// Snapshots of the live associations.
    #[must_use]
    pub fn associations(&self) -> Vec<AssocInfo> {
        self.assocs
            .iter()
            .map(|a| AssocInfo {
                id: a.id,
                fork: a.fork,
                remote: a.remote,
                role: a.role,
                dtls: a.dtls.state(),
                gate: a.gate.state(),
                ssrcs: {
                    let mut v: Vec<u32> = self
                        .ssrc_map
                        .iter()
                        .filter(|(_, id)| **id == a.id)
                        .map(|(s, _)| *s)
                        .collect();
                    v.sort_unstable();
                    v
                },
                counters: a.counters,
            })
            .collect()
    }

    /// The association a remote SSRC is mapped to.
    #[must_use]
    pub fn ssrc_owner(&self, ssrc: u32) -> Option<AssocId> {
        self.ssrc_map.get(&ssrc).copied()
    }

    /// The SRTP keying material of a verified association (for interop checks; `Debug` of it is redacted).
    #[must_use]
    pub fn keying_material(&self, id: AssocId) -> Option<&SrtpKeyingMaterial> {
        self.assocs
            .iter()
            .find(|a| a.id == id)
            .and_then(|a| a.gate.keys())
            .map(|c| &c.keys)
    }

    /// The ICE agent, when enabled (local credentials and candidates for the SDP).
    #[must_use]
    pub fn ice(&self) -> Option<&IceAgent> {
        self.ice.as_ref()
    }
}
