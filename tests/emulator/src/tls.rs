//! Certificates (a fresh CA and a localhost leaf, made with rcgen) and the rustls server
//! configurations: the main one, and the variants that clients must refuse (untrusted
//! issuer, expired, wrong host) or accept (TLS 1.2 only); and for mutual TLS a device CA,
//! the listeners that require a client certificate it signed (TLS 1.3 only, TLS 1.2 only),
//! and device certificates with their keys in each PEM key format. Every generated key is
//! ECDSA P-256, so the whole set takes a few milliseconds; the one RSA device key is a fixed
//! test key (`device_rsa_key.pem`: ring cannot generate RSA keys), certified afresh at each
//! start.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, SupportedProtocolVersion};

/// Common name of the generated CA.
pub const CA_COMMON_NAME: &str = "iothttp emulator CA";

/// Common name of the second CA, which is not written to `ca.pem`.
pub const UNTRUSTED_CA_COMMON_NAME: &str = "iothttp emulator untrusted CA";

/// The only name in the `wrong-host` leaf.
pub const WRONG_HOST: &str = "wrong.example";

/// The clouds' default public hosts of the documented regions, which the main listener's
/// certificate also names: with the library's resolve override pointing them at 127.0.0.1,
/// a client using the default endpoints (no `set_endpoint`) talks to the emulator, and its
/// URLs, SNI and host-name checks are the real ones. The listener routes by `Host`.
pub const CLOUD_HOSTS: &[&str] = &[
    "http-cn-sh2.iot.ucloud.cn",
    "http-cn-gd.iot.ucloud.cn",
    "file-cn-sh2.iot.ucloud.cn",
    "file-cn-gd.iot.ucloud.cn",
    "iot-as-http.cn-shanghai.aliyuncs.com",
    "iot-as-http.cn-beijing.aliyuncs.com",
    "iot-as-http.cn-shenzhen.aliyuncs.com",
    "iot-as-http.ap-southeast-1.aliyuncs.com",
    "iot.cn-shanghai.aliyuncs.com",
    "iot.cn-beijing.aliyuncs.com",
    "connect-api.cloud.huawei.com",
    "connect-api-dre.cloud.huawei.com",
    "connect-api-dra.cloud.huawei.com",
    "connect-api-drru.cloud.huawei.com",
];

/// Common name of the device CA, which signs the client certificates the mTLS listeners
/// accept.
pub const DEVICE_CA_COMMON_NAME: &str = "iothttp emulator device CA";

/// Common name of the CA that signs [`UNKNOWN_DEVICE`]: the mTLS listeners do not trust it.
pub const UNKNOWN_DEVICE_CA_COMMON_NAME: &str = "iothttp emulator unknown device CA";

/// The device certificates written at start, by file stem (`<stem>.crt`, `<stem>.key`), each
/// leaf's common name being its stem: an ECDSA P-256 key in SEC1 (`EC PRIVATE KEY`), one in
/// PKCS#8 (`PRIVATE KEY`), an RSA 2048 key in PKCS#1 (`RSA PRIVATE KEY`), and
/// [`UNKNOWN_DEVICE`].
pub const DEVICE_EC: &str = "device-ec";
pub const DEVICE_PKCS8: &str = "device-pkcs8";
pub const DEVICE_RSA: &str = "device-rsa";
/// A device certificate (PKCS#8 key) signed by a CA the mTLS listeners do not trust.
pub const UNKNOWN_DEVICE: &str = "device-unknown";

/// The fixed RSA test key (PKCS#8), certified by the device CA at each start.
const DEVICE_RSA_KEY_PKCS8: &str = include_str!("device_rsa_key.pem");

/// A device certificate and its key, both PEM.
#[derive(Clone)]
pub struct DeviceCert {
    /// The file stem and the leaf's common name.
    pub name: &'static str,
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

/// The generated PKI and the TLS configurations serving it.
pub struct Pki {
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
    /// A localhost leaf signed by a second CA (not in `ca_pem`).
    pub untrusted_config: Arc<ServerConfig>,
    /// A localhost leaf signed by the CA, valid from 30 days to 1 day ago.
    pub expired_config: Arc<ServerConfig>,
    /// A leaf valid only from a year from now.
    pub future_config: Arc<ServerConfig>,
    /// A leaf signed by the CA whose only name is DNS [`WRONG_HOST`].
    pub wrong_host_config: Arc<ServerConfig>,
    /// The main leaf, TLS 1.2 only.
    pub tls12_config: Arc<ServerConfig>,
    /// The main leaf, TLS 1.3 only, requiring a client certificate signed by the device CA.
    pub mtls_config: Arc<ServerConfig>,
    /// The same, TLS 1.2 only.
    pub mtls12_config: Arc<ServerConfig>,
    /// The device CA (PEM).
    pub device_ca_pem: String,
    /// The device certificates (see [`DEVICE_EC`]).
    pub devices: Vec<DeviceCert>,
}

fn other<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> io::Error + '_ {
    move |e| io::Error::other(format!("{what}: {e}"))
}

/// Validity as (first, last) day relative to a time in Unix seconds.
#[derive(Clone, Copy)]
struct Validity {
    now_secs: u64,
    from_days: i64,
    to_days: i64,
}

impl Validity {
    fn apply(self, params: &mut CertificateParams) {
        let day = |offset: i64| {
            let secs = self.now_secs.saturating_add_signed(offset * 86_400);
            date_time_ymd(1970, 1, 1) + Duration::from_secs(secs)
        };
        params.not_before = day(self.from_days);
        params.not_after = day(self.to_days);
    }
}

/// A self-signed CA named `cn`.
fn make_ca(cn: &str, validity: Validity) -> io::Result<(Certificate, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(other("CA key"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other("CA"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity.apply(&mut params);
    let cert = params.self_signed(&key).map_err(other("CA"))?;
    Ok((cert, Issuer::new(params, key)))
}

/// A server leaf for `names` (IP addresses become IP SANs), signed by `issuer`.
fn make_leaf(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    validity: Validity,
) -> io::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(other("leaf key"))?;
    let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(sans).map_err(other("leaf"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names[0]);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params);
    let cert = params.signed_by(&key, issuer).map_err(other("leaf"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key))
}

/// A device (client) leaf named `cn` for the public key of `key`, signed by `issuer`.
fn make_device_leaf(
    issuer: &Issuer<'static, KeyPair>,
    cn: &str,
    key: &KeyPair,
    validity: Validity,
) -> io::Result<CertificateDer<'static>> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other("device"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    validity.apply(&mut params);
    let cert = params.signed_by(key, issuer).map_err(other("device"))?;
    Ok(cert.der().clone())
}

/// PEM text of `der` under `label`, 64 columns.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The private key inside a PKCS#8 PrivateKeyInfo (the OCTET STRING after the version and
/// the algorithm): PKCS#1 for RSA, SEC1 for EC.
fn pkcs8_inner(pkcs8: &[u8]) -> io::Result<Vec<u8>> {
    fn next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |a, b| a << 8 | *b as usize);
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    let inner = (|| {
        let (0x30, info, _) = next(pkcs8)? else {
            return None;
        };
        let (0x02, _, rest) = next(info)? else {
            return None;
        };
        let (0x30, _, rest) = next(rest)? else {
            return None;
        };
        let (0x04, key, _) = next(rest)? else {
            return None;
        };
        Some(key.to_vec())
    })();
    inner.ok_or_else(|| io::Error::other("PKCS#8 key: unexpected structure"))
}

fn make_config(
    leaf: (CertificateDer<'static>, PrivateKeyDer<'static>),
    versions: &[&'static SupportedProtocolVersion],
) -> io::Result<Arc<ServerConfig>> {
    make_config_auth(leaf, versions, None)
}

/// A server configuration; with `client_roots`, one that requires a client certificate
/// signed by one of them.
fn make_config_auth(
    leaf: (CertificateDer<'static>, PrivateKeyDer<'static>),
    versions: &[&'static SupportedProtocolVersion],
    client_roots: Option<Arc<rustls::RootCertStore>>,
) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(other("TLS versions"))?;
    let builder = match client_roots {
        Some(roots) => {
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(other("client verifier"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(vec![leaf.0], leaf.1)
        .map_err(other("TLS certificate"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Generates a CA and a leaf for `localhost`, `127.0.0.1` and `::1`, valid from one day
/// before `now_secs` (Unix seconds) to thirty days after it, and the variant leaves.
pub fn generate(now_secs: i64) -> io::Result<Pki> {
    let now_secs = u64::try_from(now_secs).unwrap_or(0).max(31 * 86_400);
    let valid = Validity {
        now_secs,
        from_days: -1,
        to_days: 30,
    };
    let localhost = ["localhost", "127.0.0.1", "::1"];
    let both = &[&rustls::version::TLS13, &rustls::version::TLS12][..];

    let (ca_cert, issuer) = make_ca(CA_COMMON_NAME, valid)?;
    let main_names: Vec<&str> = localhost.iter().chain(CLOUD_HOSTS).copied().collect();
    let (cert, key) = make_leaf(&issuer, &main_names, valid)?;
    let tls12_config = make_config((cert.clone(), key.clone_key()), &[&rustls::version::TLS12])?;

    let (device_ca_cert, device_issuer) = make_ca(DEVICE_CA_COMMON_NAME, valid)?;
    let mut device_roots = rustls::RootCertStore::empty();
    device_roots
        .add(device_ca_cert.der().clone())
        .map_err(other("device CA"))?;
    let device_roots = Arc::new(device_roots);
    let mtls_config = make_config_auth(
        (cert.clone(), key.clone_key()),
        &[&rustls::version::TLS13],
        Some(Arc::clone(&device_roots)),
    )?;
    let mtls12_config = make_config_auth(
        (cert.clone(), key.clone_key()),
        &[&rustls::version::TLS12],
        Some(device_roots),
    )?;
    let (_, unknown_device_issuer) = make_ca(UNKNOWN_DEVICE_CA_COMMON_NAME, valid)?;
    let mut devices = Vec::new();
    for name in [DEVICE_EC, DEVICE_PKCS8, DEVICE_RSA, UNKNOWN_DEVICE] {
        let key = if name == DEVICE_RSA {
            KeyPair::from_pem(DEVICE_RSA_KEY_PKCS8).map_err(other("RSA device key"))?
        } else {
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(other("device key"))?
        };
        let issuer = if name == UNKNOWN_DEVICE {
            &unknown_device_issuer
        } else {
            &device_issuer
        };
        let der = make_device_leaf(issuer, name, &key, valid)?;
        let pkcs8 = key.serialize_der();
        let key_pem = match name {
            DEVICE_EC => pem("EC PRIVATE KEY", &pkcs8_inner(&pkcs8)?),
            DEVICE_RSA => pem("RSA PRIVATE KEY", &pkcs8_inner(&pkcs8)?),
            _ => pem("PRIVATE KEY", &pkcs8),
        };
        devices.push(DeviceCert {
            name,
            cert_pem: pem("CERTIFICATE", &der),
            key_pem,
            der,
        });
    }
    let server_config = make_config((cert, key), both)?;

    let (_, untrusted_issuer) = make_ca(UNTRUSTED_CA_COMMON_NAME, valid)?;
    let untrusted = make_leaf(&untrusted_issuer, &localhost, valid)?;
    let expired_validity = Validity {
        now_secs,
        from_days: -30,
        to_days: -1,
    };
    let expired = make_leaf(&issuer, &localhost, expired_validity)?;
    // What a device whose clock has not been set yet (1970, no RTC) sees of any certificate.
    let future_validity = Validity {
        now_secs,
        from_days: 365,
        to_days: 730,
    };
    let future = make_leaf(&issuer, &localhost, future_validity)?;
    let wrong_host = make_leaf(&issuer, &[WRONG_HOST], valid)?;

    Ok(Pki {
        ca_pem: ca_cert.pem(),
        server_config,
        untrusted_config: make_config(untrusted, both)?,
        expired_config: make_config(expired, both)?,
        future_config: make_config(future, both)?,
        wrong_host_config: make_config(wrong_host, both)?,
        tls12_config,
        mtls_config,
        mtls12_config,
        device_ca_pem: device_ca_cert.pem(),
        devices,
    })
}
