//! Mutual TLS between nodes: a cluster CA signs one key and certificate per node, whose DNS name
//! (`s3.<cluster>`, `w0.<cluster>`) binds the node's role and id to its key.
//!
//! Both ends check the other against the node it must be: the dialler verifies the listener's
//! certificate for the name of the node it dialled (whatever address it dialled), the listener
//! verifies the dialler's certificate chain to the CA during the handshake and, once the dialler
//! says who it is, that the certificate names that node ([`Tls::check_peer`]). From then on the
//! sender of every frame on the connection is that node, never a field of a payload.
//!
//! The `ring` provider is passed explicitly to every builder, so no process-wide default is
//! needed and two providers in the dependency tree cannot make rustls panic at run time. TLS 1.3
//! only. PEM through `rustls-pki-types`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use byzsgd_core::protocol::Node;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use crate::id;
use crate::{NetError, Result};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where a node's key material lives: the cluster CA's certificate, the node's certificate
/// (chain) and its private key, all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The cluster CA's certificate.
    pub ca: PathBuf,
    /// The node's certificate.
    pub cert: PathBuf,
    /// The node's private key.
    pub key: PathBuf,
}

impl CertPaths {
    /// The files `byzsgd keygen` writes for `node` in `dir`: `ca.pem`, `<node>.pem`,
    /// `<node>.key`.
    pub fn in_dir(dir: &Path, node: Node) -> Self {
        let name = id::name(node);
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

/// A node's TLS ends: a connector to dial peers, an acceptor for the peers that dial it.
#[derive(Clone)]
pub struct Tls {
    cluster: String,
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| NetError::Config(format!("reading {}: {e}", path.display())))
}

impl Tls {
    /// Loads `paths` for a node of `cluster`.
    pub fn load(paths: &CertPaths, cluster: &str) -> Result<Self> {
        Self::from_pem(
            &read(&paths.ca)?,
            &read(&paths.cert)?,
            &read(&paths.key)?,
            cluster,
        )
        .map_err(|e| NetError::Config(format!("{e} (in {})", paths.cert.display())))
    }

    /// From PEM bytes: the CA's certificate, the node's certificate chain, its private key.
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8], cluster: &str) -> Result<Self> {
        let bad = |what: &str, e: &dyn std::fmt::Display| NetError::Config(format!("{what}: {e}"));
        let mut roots = RootCertStore::empty();
        let cas = CertificateDer::pem_slice_iter(ca)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad("the CA certificate", &e))?;
        if cas.is_empty() {
            return Err(NetError::Config("no CA certificate in the CA file".into()));
        }
        for c in cas {
            roots.add(c).map_err(|e| bad("the CA certificate", &e))?;
        }
        let roots = Arc::new(roots);
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad("the node certificate", &e))?;
        if chain.is_empty() {
            return Err(NetError::Config(
                "no certificate in the node certificate file".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("the node key", &e))?;
        let versions = &[&rustls::version::TLS13];
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| bad("the client verifier", &e))?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| bad("TLS", &e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| bad("the node certificate and key", &e))?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| bad("TLS", &e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("the node certificate and key", &e))?;
        Ok(Self {
            cluster: cluster.to_string(),
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
        })
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// TLS over `stream` to `peer`: its certificate must chain to the CA and name `peer`.
    pub async fn connect<S>(&self, stream: S, peer: Node) -> Result<client::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(id::dns_name(peer, &self.cluster))
            .map_err(|e| NetError::Config(format!("peer name: {e}")))?;
        self.connector
            .connect(name, stream)
            .await
            .map_err(|e| NetError::Auth(format!("TLS with {}: {e}", id::name(peer))))
    }

    /// TLS over `stream` from a dialler whose certificate chains to the CA (who it is, the
    /// dialler says next, and [`Tls::check_peer`] checks).
    pub async fn accept<S>(&self, stream: S) -> Result<server::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.acceptor
            .accept(stream)
            .await
            .map_err(|e| NetError::Auth(format!("TLS: {e}")))
    }

    /// Whether the dialler's verified certificate names `claimed`.
    pub fn check_peer<S>(&self, stream: &server::TlsStream<S>, claimed: Node) -> Result<()> {
        let certs = stream.get_ref().1.peer_certificates().unwrap_or_default();
        let Some(leaf) = certs.first() else {
            return Err(NetError::Auth("the peer sent no certificate".into()));
        };
        let cert = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| NetError::Auth(format!("the peer's certificate: {e}")))?;
        let dns = id::dns_name(claimed, &self.cluster);
        let name = ServerName::try_from(dns.as_str())
            .map_err(|e| NetError::Config(format!("peer name: {e}")))?;
        cert.verify_is_valid_for_subject_name(&name).map_err(|_| {
            NetError::Auth(format!(
                "the peer says it is {} but its certificate is not for {dns}",
                id::name(claimed)
            ))
        })
    }
}

/// A cluster's key material made by [`keygen`], PEM.
#[derive(Debug, Clone)]
pub struct ClusterKeys {
    /// The CA's certificate.
    pub ca_cert: String,
    /// The CA's private key (to add nodes later; keep it off the nodes).
    pub ca_key: String,
    /// Per node: its name (`s3`), certificate and private key.
    pub nodes: Vec<(String, String, String)>,
}

/// A new cluster CA and one key and certificate per node of `nodes`, for `cluster`.
pub fn keygen(cluster: &str, nodes: &[Node]) -> Result<ClusterKeys> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    id::check_cluster_name(cluster)?;
    let err = |e: rcgen::Error| NetError::Config(format!("making keys: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(DnType::CommonName, format!("byzsgd CA {cluster}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(err)?;
    let mut out = ClusterKeys {
        ca_cert: ca.pem(),
        ca_key: ca_key_pem,
        nodes: Vec::new(),
    };
    for &node in nodes {
        let dns = id::dns_name(node, cluster);
        let mut p = CertificateParams::new(vec![dns.clone()]).map_err(err)?;
        p.distinguished_name.push(DnType::CommonName, dns);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Every node both dials and listens.
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = p.signed_by(&key, &ca).map_err(err)?;
        out.nodes
            .push((id::name(node), cert.pem(), key.serialize_pem()));
    }
    Ok(out)
}

/// Writes `keys` to `dir`: `ca.pem`, `ca.key`, `<node>.pem`, `<node>.key` (keys readable by their
/// owner only). Refuses to overwrite an existing CA.
pub fn write_keys(keys: &ClusterKeys, dir: &Path) -> Result<()> {
    let io =
        |p: &Path, e: std::io::Error| NetError::Config(format!("writing {}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let ca = dir.join("ca.pem");
    if ca.exists() {
        return Err(NetError::Config(format!(
            "{} exists: keys of another cluster would no longer match it (remove the folder or \
             pick another)",
            ca.display()
        )));
    }
    let write = |name: String, text: &str, secret: bool| -> Result<()> {
        let p = dir.join(name);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let _ = secret;
        use std::io::Write;
        o.open(&p)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| io(&p, e))
    };
    write("ca.pem".into(), &keys.ca_cert, false)?;
    write("ca.key".into(), &keys.ca_key, true)?;
    for (name, cert, key) in &keys.nodes {
        write(format!("{name}.pem"), cert, false)?;
        write(format!("{name}.key"), key, true)?;
    }
    Ok(())
}
