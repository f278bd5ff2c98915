//! HMAC, hex, base64 and percent-encoding helpers shared by every dialect.

use hmac::{KeyInit, Mac};

/// Hash functions used for HMAC signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlg {
    /// HMAC-MD5 (Aliyun `hmacmd5`, its default).
    Md5,
    /// HMAC-SHA1 (Aliyun `hmacsha1`, Aliyun RPC).
    Sha1,
    /// HMAC-SHA256 (UCloud, Aliyun `hmacsha256`).
    Sha256,
}

fn mac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(alg: HmacAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        HmacAlg::Md5 => crate::md5::hmac_md5(key, parts).to_vec(),
        HmacAlg::Sha1 => mac::<hmac::Hmac<sha1::Sha1>>(key, parts),
        HmacAlg::Sha256 => mac::<hmac::Hmac<sha2::Sha256>>(key, parts),
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Lowercase hex HMAC.
pub fn hmac_hex(alg: HmacAlg, key: &[u8], data: &[u8]) -> String {
    hex(&hmac(alg, key, &[data]))
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decode base64url without padding (JWT segments); None if malformed.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

/// RFC 3986 percent-encoding: keep `A-Za-z0-9-_.~`, uppercase `%XY` for everything else.
pub fn percent_encode(text: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(text, RFC3986).to_string()
}

/// Percent-encode a URL path, keeping `/` and the RFC 3986 unreserved characters.
pub fn percent_encode_path(text: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const PATH: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(text, PATH).to_string()
}

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds.
pub fn iso8601_date(unix_secs: u64) -> String {
    let (y, m, d, ..) = civil(unix_secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDThh:mm:ssZ` (UTC) of a Unix time in seconds.
pub fn iso8601_utc(unix_secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil(unix_secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `YYYYMMDDHH` (UTC): the hour of a Unix time in seconds (Huawei IoTDA's timestamp).
pub fn utc_hour_stamp(unix_secs: u64) -> String {
    let (y, m, d, hh, ..) = civil(unix_secs);
    format!("{y:04}{m:02}{d:02}{hh:02}")
}

/// (year, month, day, hour, minute, second) of a Unix time, proleptic Gregorian, UTC.
fn civil(unix_secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2202 / RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    const KEY: &[u8] = b"Jefe";
    const DATA: &[u8] = b"what do ya want for nothing?";

    #[test]
    fn rfc_vectors() {
        assert_eq!(
            hmac_hex(HmacAlg::Md5, KEY, DATA),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hmac_hex(HmacAlg::Sha1, KEY, DATA),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hmac_hex(HmacAlg::Sha256, KEY, DATA),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(
            hmac(
                HmacAlg::Sha256,
                KEY,
                &[b"what do ya ", b"want for nothing?"]
            ),
            hmac(HmacAlg::Sha256, KEY, &[DATA])
        );
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(1_456_231_584), "2016-02-23T12:46:24Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(utc_hour_stamp(1_456_231_584), "2016022312");
        assert_eq!(utc_hour_stamp(4_102_444_799), "2099123123");
    }

    #[test]
    fn encodings() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(base64(b"helloworld"), "aGVsbG93b3JsZA==");
        assert_eq!(percent_encode("a b*~/="), "a%20b%2A~%2F%3D");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode_path("/pk/dev/a b"), "/pk/dev/a%20b");
        assert_eq!(base64url_decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
    }
}
