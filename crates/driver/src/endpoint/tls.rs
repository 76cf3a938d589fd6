//! Building a [`TlsConfig`] from PEM: our server certificate (chain) and key, the trust anchors for the servers
//! we connect to (none given: the system's), and the server name to check (RFC 5922 §7.2: the host of the
//! `sips:` URI). So that applications need no `openssl` dependency of their own.

use std::sync::Arc;

use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;

/// SIP over TLS: our server side (certificate, key) and client side (trust anchors, verification), built by the
/// application with the `openssl` crate. The client always verifies the chain with the connector's trust
/// anchors; with [`TlsConfig::server_name`] it also checks the server's certificate names that host (RFC 5922
/// §7.2: the host of the `sips:` URI), otherwise no host name is checked (next hops given as IP addresses).
#[derive(Clone)]
pub struct TlsConfig {
    /// Accepts incoming SIP-TLS connections.
    pub acceptor: Arc<SslAcceptor>,
    /// Opens outgoing SIP-TLS connections.
    pub connector: Arc<SslConnector>,
    /// The name (DNS name or IP literal) every outgoing connection's certificate must carry; also sent as SNI
    /// when it is a DNS name.
    pub server_name: Option<String>,
}

impl TlsConfig {
    /// Server and client sides, no host name check.
    pub fn new(acceptor: Arc<SslAcceptor>, connector: Arc<SslConnector>) -> Self {
        Self {
            acceptor,
            connector,
            server_name: None,
        }
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

/// A TLS configuration could not be built from the PEM given.
#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsConfigError(String);

fn err(what: &str) -> impl Fn(openssl::error::ErrorStack) -> TlsConfigError + '_ {
    move |e| TlsConfigError(format!("{what}: {e}"))
}

impl TlsConfig {
    /// Our server side from `chain_pem` (leaf first, then intermediates) and `key_pem`; our client side trusts
    /// the CA certificates in `trust_pem` (each buffer may hold several), or the system's store when it is
    /// empty, and checks the server's certificate names `server_name` when given.
    pub fn from_pem(
        chain_pem: &[u8],
        key_pem: &[u8],
        trust_pem: &[Vec<u8>],
        server_name: Option<String>,
    ) -> Result<Self, TlsConfigError> {
        let chain = X509::stack_from_pem(chain_pem).map_err(err("certificate"))?;
        let mut chain = chain.into_iter();
        let leaf = chain
            .next()
            .ok_or_else(|| TlsConfigError("no certificate in the PEM".into()))?;
        let key = PKey::private_key_from_pem(key_pem).map_err(err("private key"))?;
        let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            .map_err(err("acceptor"))?;
        acc.set_private_key(&key).map_err(err("private key"))?;
        acc.set_certificate(&leaf).map_err(err("certificate"))?;
        for c in chain {
            acc.add_extra_chain_cert(c)
                .map_err(err("certificate chain"))?;
        }
        acc.check_private_key()
            .map_err(err("the key does not belong to the certificate"))?;
        let mut con = SslConnector::builder(SslMethod::tls_client()).map_err(err("connector"))?;
        if !trust_pem.is_empty() {
            // Only the anchors given: a fresh store instead of the system's.
            let mut store =
                openssl::x509::store::X509StoreBuilder::new().map_err(err("trust store"))?;
            for pem in trust_pem {
                let certs = X509::stack_from_pem(pem).map_err(err("trust anchor"))?;
                if certs.is_empty() {
                    return Err(TlsConfigError(
                        "no certificate in a trust anchor file".into(),
                    ));
                }
                for c in certs {
                    store.add_cert(c).map_err(err("trust anchor"))?;
                }
            }
            con.set_verify_cert_store(store.build())
                .map_err(err("trust store"))?;
        }
        con.set_verify(SslVerifyMode::PEER);
        Ok(Self {
            acceptor: Arc::new(acc.build()),
            connector: Arc::new(con.build()),
            server_name,
        })
    }
}
