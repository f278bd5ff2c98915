//! Certificates (a fresh CA and a localhost leaf, made with rcgen) and the rustls server
//! configurations: the main one, and the variants that clients must refuse (untrusted
//! issuer, expired, wrong host) or accept (TLS 1.2 only). Every key is ECDSA P-256, so the
//! whole set takes a few milliseconds.

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

fn make_config(
    leaf: (CertificateDer<'static>, PrivateKeyDer<'static>),
    versions: &[&'static SupportedProtocolVersion],
) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(other("TLS versions"))?
        .with_no_client_auth()
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
    })
}
