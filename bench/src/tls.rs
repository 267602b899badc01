//! Cold starts over HTTPS: a TLS-terminating proxy in front of DynamoDB Local's
//! plain-HTTP port, with a certificate chain made at start.
//!
//! On AWS every call a function makes is HTTPS, so its first request pays a TLS
//! handshake and the checks of the server's certificate chain, which the plain-HTTP
//! runs never see. The proxy listens on 127.0.0.1 (and on ::1 at the same port when it
//! can), terminates TLS with a chain shaped like DynamoDB's (an RSA 2048 leaf for
//! `localhost` and `127.0.0.1`, an RSA 2048 intermediate, an RSA 2048 root), and copies
//! bytes both ways to DynamoDB Local. The root goes into a trust-store file beside the
//! system bundle, so the trust store a function loads is as big as on AWS. It counts
//! the handshakes it completes: a TLS run that made none would be a plain-HTTP figure
//! under a TLS label, and fails the run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Where Linux distributions keep their bundle of trusted roots (what
/// `rustls-native-certs` finds through `openssl-probe` when nothing is set).
const SYSTEM_BUNDLES: [&str; 4] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"];

/// What the proxy counted since it started.
#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    handshakes: AtomicUsize,
    failed: AtomicUsize,
    /// Each negotiated protocol version, cipher suite and key exchange group seen.
    negotiated: Mutex<BTreeSet<String>>,
}

/// Counts at one moment (see [`Proxy::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// TCP connections accepted.
    pub accepted: usize,
    /// TLS handshakes completed.
    pub handshakes: usize,
    /// Handshakes that failed.
    pub failed: usize,
}

/// A running proxy.
pub struct Proxy {
    pub port: u16,
    /// Whether it listens on ::1 too (the port was free there).
    pub v6: bool,
    /// The trust store to give a function: the system bundle (when found) and the root.
    pub bundle: PathBuf,
    /// The system bundle it holds, if one was found.
    pub system_bundle: Option<String>,
    /// How many certificates the trust store holds.
    pub certificates: usize,
    stats: Arc<Stats>,
}

impl Proxy {
    pub fn counts(&self) -> Counts {
        Counts {
            accepted: self.stats.accepted.load(Ordering::SeqCst),
            handshakes: self.stats.handshakes.load(Ordering::SeqCst),
            failed: self.stats.failed.load(Ordering::SeqCst),
        }
    }

    /// The protocol versions, suites and key exchange groups negotiated so far.
    pub fn negotiated(&self) -> Vec<String> {
        self.stats.negotiated.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }

    /// The endpoint a function is given.
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.bundle);
    }
}

/// The chain: root, intermediate, leaf; returns the root's PEM, the chain the server
/// sends (leaf, intermediate) and the leaf's key.
fn chain() -> Result<(String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), rcgen::Error> {
    let ca = |name: &str, path: BasicConstraints| -> Result<CertificateParams, rcgen::Error> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = IsCa::Ca(path);
        p.distinguished_name.push(DnType::OrganizationName, "clientele-bench");
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(p)
    };
    let root_key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let root_params = ca("clientele-bench root", BasicConstraints::Unconstrained)?;
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::from_params(&root_params, &root_key);

    let mid_key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let mut mid_params = ca("clientele-bench intermediate", BasicConstraints::Constrained(0))?;
    mid_params.use_authority_key_identifier_extension = true;
    let mid = mid_params.signed_by(&mid_key, &root_issuer)?;
    let mid_issuer = Issuer::from_params(&mid_params, &mid_key);

    let leaf_key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])?;
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &mid_issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    Ok((root.pem(), vec![leaf.der().clone(), mid.der().clone()], key))
}

/// Starts the proxy in front of `upstream` (`host:port` of DynamoDB Local's plain HTTP).
pub async fn start(upstream: String) -> Result<Proxy, String> {
    let (root_pem, certs, key) = chain().map_err(|e| format!("making the certificates: {e}"))?;
    let system_bundle = SYSTEM_BUNDLES.iter().find(|p| Path::new(p).is_file()).map(|p| (*p).to_owned());
    let mut bundle_text = match &system_bundle {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?,
        None => String::new(),
    };
    if !bundle_text.is_empty() && !bundle_text.ends_with('\n') {
        bundle_text.push('\n');
    }
    bundle_text.push_str(&root_pem);
    let certificates = bundle_text.matches("-----BEGIN CERTIFICATE-----").count();
    let bundle = std::env::temp_dir().join(format!("clientele-bench-trust-{}.pem", std::process::id()));
    std::fs::write(&bundle, &bundle_text).map_err(|e| format!("{}: {e}", bundle.display()))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    // DynamoDB Local speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let v4 = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let port = v4.local_addr().map_err(|e| e.to_string())?.port();
    let v6 = TcpListener::bind(("::1", port)).await.ok();
    let stats = Arc::new(Stats::default());
    let has_v6 = v6.is_some();
    for listener in std::iter::once(v4).chain(v6) {
        let (acceptor, stats, upstream) = (acceptor.clone(), stats.clone(), upstream.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                stats.accepted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, stats, upstream) = (acceptor.clone(), stats.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = sock.set_nodelay(true);
                    let mut tls = match acceptor.accept(sock).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            stats.failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    {
                        let (_, conn) = tls.get_ref();
                        let seen = format!(
                            "{:?}, {:?}, {:?}",
                            conn.protocol_version().map_or_else(|| "?".into(), |v| format!("{v:?}")),
                            conn.negotiated_cipher_suite().map_or_else(|| "?".into(), |s| format!("{:?}", s.suite())),
                            conn.negotiated_key_exchange_group().map_or_else(|| "?".into(), |g| format!("{:?}", g.name())),
                        )
                        .replace('"', "");
                        stats.negotiated.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(seen);
                    }
                    stats.handshakes.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut up) = TcpStream::connect(&upstream).await else { return };
                    let _ = up.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    }
    Ok(Proxy { port, v6: has_v6, bundle, system_bundle, certificates, stats })
}
