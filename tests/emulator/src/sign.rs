//! Digests, HMACs, hex/base64, percent-encoding and randomness used by every cloud dialect.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The HMAC hash functions the clouds use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HmacAlg {
    Md5,
    Sha1,
    Sha256,
}

/// Raw HMAC of `data` under `key`.
pub fn hmac(alg: HmacAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match alg {
        HmacAlg::Md5 => match Hmac::<Md5>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
        HmacAlg::Sha1 => match Hmac::<Sha1>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
        HmacAlg::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
    }
}

/// Lowercase hex HMAC.
pub fn hmac_hex(alg: HmacAlg, key: &[u8], data: &[u8]) -> String {
    hex(&hmac(alg, key, data))
}

/// Incremental SHA-256, for hashing published payloads as they stream in.
#[derive(Default)]
pub struct Sha256Stream(Sha256);

impl Sha256Stream {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish_hex(self) -> String {
        hex(&self.0.finalize())
    }
}

/// MD5 and SHA-256 of a stream at once, plus its length: every upload body goes through
/// one of these chunk by chunk, in place, as it arrives.
#[derive(Default)]
pub struct Digests {
    md5: Md5,
    sha256: Sha256,
    len: u64,
}

/// What [`Digests`] computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestValues {
    pub len: u64,
    /// Lowercase hex.
    pub md5: String,
    /// Lowercase hex.
    pub sha256: String,
    /// The raw MD5 (for base64 forms).
    pub md5_raw: [u8; 16],
}

impl Digests {
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        self.len += data.len() as u64;
    }

    pub fn finish(self) -> DigestValues {
        let md5 = self.md5.finalize();
        let mut md5_raw = [0u8; 16];
        md5_raw.copy_from_slice(&md5);
        DigestValues {
            len: self.len,
            md5: hex(&md5),
            sha256: hex(&self.sha256.finalize()),
            md5_raw,
        }
    }
}

/// Incremental MD5 (for a helper thread; see `upload::BodyHasher`).
#[derive(Default)]
pub struct Md5Stream(Md5);

impl Md5Stream {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.0.finalize());
        out
    }
}

impl Sha256Stream {
    pub fn finish_raw(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0.finalize());
        out
    }
}

/// Standard base64 with padding.
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64 with padding; None when malformed.
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// RFC 3986 percent-encoding: keeps `A-Za-z0-9-_.~`, writes every other byte of the UTF-8
/// text as uppercase `%XY` (so a space is `%20`).
pub fn pct_encode(text: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 15)] as char);
        }
    }
    out
}

/// True for exactly `n` hex digits (either case when `any_case`, else lowercase only).
pub fn is_hex(text: &str, n: usize, any_case: bool) -> bool {
    text.len() == n
        && text.bytes().all(|b| {
            b.is_ascii_digit()
                || (b'a'..=b'f').contains(&b)
                || (any_case && (b'A'..=b'F').contains(&b))
        })
}

/// base64url without padding (JWT style).
pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Equality that does not stop at the first differing byte.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `n` bytes from the operating system's secure random source (through ring).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut buf).is_err() {
        // Extremely unlikely; fall back to std's randomly keyed SipHash.
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(chunk.as_ptr() as usize);
            let v = h.finish().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    buf
}

/// A JSON string literal (quoted and escaped).
pub fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_vectors() {
        // RFC 4231 test case 2 / RFC 2202 test case 2.
        assert_eq!(
            hmac_hex(HmacAlg::Sha256, b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hmac_hex(HmacAlg::Sha1, b"Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hmac_hex(HmacAlg::Md5, b"Jefe", b"what do ya want for nothing?"),
            "750c783e6ab0b503eaa86e310a5db738"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert_eq!(random_bytes(16).len(), 16);
        assert_eq!(json_str("a\"b\n"), r#""a\"b\n""#);
        let mut s = Sha256Stream::default();
        s.update(b"abc");
        assert_eq!(
            s.finish_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut d = Digests::default();
        d.update(b"a");
        d.update(b"bc");
        let v = d.finish();
        assert_eq!(v.len, 3);
        assert_eq!(v.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            v.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b64(&v.md5_raw), "kAFQmDzST7DWlj99KOF/cg==");
        assert_eq!(b64_decode("kAFQmDzST7DWlj99KOF/cg==").unwrap(), v.md5_raw);
        assert!(b64_decode("kAFQ!").is_none());
        assert_eq!(pct_encode("a b/c~é*+"), "a%20b%2Fc~%C3%A9%2A%2B");
        assert!(is_hex("0aF9", 4, true));
        assert!(!is_hex("0aF9", 4, false));
        assert!(!is_hex("0a9", 4, true));
    }
}
