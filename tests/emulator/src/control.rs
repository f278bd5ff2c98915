//! The control command language (shared by [`crate::Emulator::control`] and the control
//! port) and the control port's line protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

use crate::sign::json_str;
use crate::state::{
    ConnFault, DeviceKey, DlFault, DlKind, DropWhen, Injected, Op, Port, ReplyKind, Shared,
    StoreKind, StoredObject, Subject, SubjectKind, UrlKind,
};
use crate::{agc, aliyun, download, iotda, oss, ota, ucloud, ufile, Cloud};

/// Longest accepted control line.
const MAX_LINE: u64 = 64 * 1024;

/// Longest `delay` (one hour).
const MAX_DELAY_MS: u64 = 3_600_000;

/// Largest `skew` and `token-ttl` (about 100 years).
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

pub const HELP: &str = "commands: \
add-device <cloud> <product> <device> <secret> [disabled] | \
disable <cloud> <product> <device> | enable <cloud> <product> <device> | \
add-account <access_key_id> <secret> | add-agc-client <client_id> <secret> | \
fail <op> <subject> <code|http503|http429|http302|http500|http404> <count> | \
delay <op> <subject> <ms> <count> | cut <op> <subject> <after-bytes> <count> | \
reject <op> <subject> <after-bytes> <code|httpNNN> <count> | \
reply <op> <subject> <garbage|empty|notjson|truncated|missing|bigid|huge|hugeheader> <count> | \
drop <op> <subject> <before-request|before-reply|after-processing|mid-reply> <count> | \
hang <op> <subject> <count> | trickle <op> <subject> <bytes-per-second> <count> | \
stall-read <op> <subject> <after-bytes> <count> | accept-no-tls on|off | upload-urls http|https | \
dl-object <name> <size> <seed> | dl-info <name> | dl-stats <name> | serve-dir <dir> | clear-dl | \
ignore-range download <subject> <count> | change download <subject> <count> | \
lie-length download <subject> <delta> <count> | corrupt download <subject> <offset> <count> | \
expire <cloud> <product> <device> | revoke <cloud> <product> <device> | \
expire agc <client_id> | revoke agc <client_id> | \
token-ttl <cloud|agc> <seconds> | url-ttl <ufile|oss|obs> <seconds> | \
reply-data <cloud> <product> <device> [text...] | \
skew <seconds> | date-header on|off | stats <cloud> <product> <device> | \
counters <cloud> <product> <device> | objects | object <store> <key...> | upload-stats | \
clear-objects | handshakes | handshakes-all | connections | reset-faults | log on|off | quit | help  \
(cloud: ucloud|aliyun|iotda; store: ufile|oss|obs|store|store-form; \
op and subject: auth|publish <cloud> <product> <device>, \
file-url|file-put ucloud <product> <device>, ota-url|oss-post account <access_key_id>, \
agc-token|agc-url|obs-put agc <client_id>, store-put|store-form any, download any|<name>|files/<path>; \
every upload op also takes the subject any; cut: file-put|oss-post|obs-put|store-put|store-form|download; \
reject, stall-read: file-put|oss-post|obs-put|store-put|store-form; \
a request takes at most one of fail, cut, reply/drop/hang/trickle/stall-read (first that is pending, in that order; \
delay adds to any); NOT processed (nothing recorded or stored): drop before-request (closes once the head \
has arrived, body unread; ops whose subject is in the body have read that small body), drop before-reply \
(reads the whole request, closes without reply), hang (reads the request, never answers, holds until the \
client closes), stall-read (reads after-bytes of the body, stops reading, never answers, drops after 120 s); \
PROCESSED first (a publish is recorded, an upload stored; the reply then lost or mangled; counted in \
bad_replies of counters/upload-stats): reply garbage (200 json, 512 random bytes), empty (200, length 0), \
notjson (200 text/html), truncated (200, declares the reply's length, sends half, closes; 32 bytes declared \
when the reply has none), missing (200, success code without the required fields; byte uploads: no body, no ETag), huge (200, 10 MiB JSON \
body), hugeheader (200, 1 MiB of X-Pad-N headers), drop after-processing (no reply), drop mid-reply \
(status, headers, half the body, close), trickle (the reply at bytes-per-second; not a bad reply); \
reply bigid (publish only): success with a message id above 2^64, the message NOT recorded, counted in \
bad_replies; accept-no-tls: new HTTPS connections (every TLS listener) get no TLS byte until the client \
gives up; upload-urls http: UFile URL, OTA Host/FirmwareUrl, AGC url use http:// (the plain listener, else \
the TLS port); upload-stats plain_http_uploads counts requests that came over plain HTTP to /ufile, /oss, /obs; \
handshakes-all: per listener (https, http, untrusted, expired, wrong-host, tls12, future) connections, handshakes, \
failed_handshakes, silent, plain_http; reset-faults clears every rule, skew, accept-no-tls and upload-urls; \
DOWNLOADS: GET|HEAD /dl/<name> serves a dl-object (size up to 64 GiB of pseudo-random bytes made from seed \
on demand, never stored; the reply: name, size, seed, changes, etag, last_modified, md5, sha256, the digests \
null above 16 MiB: dl-info computes them once and caches them), GET|HEAD /files/<path> a file under serve-dir \
(streamed from disk; 404 when missing, a directory, or a path with . or .. segments); every answer has a strong \
ETag, Last-Modified, Accept-Ranges: bytes, Content-Type application/octet-stream; one Range bytes=N-|N-M|-S on \
a GET gives 206 with Content-Range bytes a-b/size, a first byte at or past the end (or -0) 416 with \
Content-Range bytes */size, a malformed or multi-range Range is ignored (200); an If-Range (an ETag compared \
strongly, or exactly the Last-Modified date) that does not match gives 200 with the whole object; \
dl-stats (a dl-object name or files/<path>): requests, heads, full (200), ranged (206), unsatisfiable (416), \
faults, bytes_sent, seed, changes, etag, recent (method, range, if_range, status of the last 16 requests); \
clear-dl forgets the dl-objects, the download stats and serve-dir; op download takes fail http503|http429|\
http302|http500|http404, delay, reply/drop/hang/trickle (as above), cut <after-bytes> (status, headers and \
after-bytes body bytes, then the connection dropped without close_notify; it leaves connection faults pending), \
and, each kind its own queue so that one GET answered 200/206 takes one of each (HEAD and 416 take only \
delay, fail and connection faults): ignore-range (a 206 becomes 200 with the whole object; taken only by a \
request that would get 206), change (the request is served, then the object becomes the content of seed+1 \
with a new ETag and Last-Modified; dl-objects only), lie-length <delta> (Content-Length = real + delta, \
nonzero: negative sends every byte anyway, the surplus left on the connection; positive sends the real bytes, \
then drops the connection), corrupt <offset> (the byte at that absolute offset of the object XOR 0xff; taken \
only by a request that serves that byte); \
codes: auth/publish/file-url the cloud's numbers, file-put -148643|-148654|-148655|-148656, \
agc-token/agc-url 205524992|205524993|204144641, ota-url Throttling.User|ServiceUnavailable|\
InternalError|SignatureDoesNotMatch|InvalidAccessKeyId.NotFound|SignatureNonceUsed|\
InvalidTimeStamp.Expired|MissingParameter|InvalidParameter|InvalidAction.NotFound|\
iot.system.SystemException|iot.common.InvalidFormattedParameter, oss-post/store-form \
AccessDenied|SignatureDoesNotMatch|InvalidAccessKeyId|InvalidPolicyDocument|EntityTooLarge|\
EntityTooSmall|MalformedPOSTRequest|InvalidArgument|InternalError|ServiceUnavailable, \
obs-put/store-put SignatureDoesNotMatch|AccessDenied|XAmzContentSHA256Mismatch|BadDigest|\
InvalidDigest|MissingContentLength|InvalidArgument|InternalError|ServiceUnavailable|SlowDown)";

/// Splits off up to `n` whitespace-separated words; returns them and the rest of the line
/// (leading whitespace removed).
fn split_words(line: &str, n: usize) -> (Vec<&str>, &str) {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while words.len() < n && !rest.is_empty() {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        words.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (words, rest)
}

fn usage(what: &str) -> String {
    format!("usage: {what}")
}

fn parse_cloud(s: &str) -> Result<Cloud, String> {
    Cloud::from_name(s).ok_or_else(|| format!("unknown cloud '{s}' (ucloud|aliyun|iotda)"))
}

fn parse_device(words: &[&str]) -> Result<DeviceKey, String> {
    Ok((
        parse_cloud(words[0])?,
        words[1].to_string(),
        words[2].to_string(),
    ))
}

fn parse_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("invalid {what} '{s}'"))
}

fn parse_count(s: &str) -> Result<u32, String> {
    match parse_num::<u32>(s, "count")? {
        0 => Err("count must be at least 1".into()),
        n => Ok(n),
    }
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on|off, got '{s}'")),
    }
}

/// The answer a `fail` rule of `op` injects: a bare HTTP status, or one of the op's
/// documented (or, where the documents give none, the emulator's) error codes.
fn parse_fault(op: Op, subject: &Subject, s: &str) -> Result<Injected, String> {
    match s {
        "http503" => return Ok(Injected::Http(503)),
        "http429" => return Ok(Injected::Http(429)),
        "http302" => return Ok(Injected::Http(302)),
        "http500" => return Ok(Injected::Http(500)),
        "http404" => return Ok(Injected::Http(404)),
        _ => {}
    }
    let named = |name: Option<&'static str>| {
        name.map(Injected::Name)
            .ok_or_else(|| format!("'{s}' is not an error code of {}", op.name()))
    };
    let numbered = |valid: bool, code: i64| {
        if valid && code != 0 {
            Ok(Injected::Code(code))
        } else {
            Err(format!("code {code} is not an error code of {}", op.name()))
        }
    };
    match op {
        Op::Auth | Op::Publish => {
            let cloud = match subject {
                Subject::Device(key) => key.0,
                _ => return Err("auth and publish rules name a device".into()),
            };
            let code: u32 = match cloud {
                Cloud::Iotda => iotda::parse_code(s).ok_or_else(|| {
                    format!("'{s}' is not a documented iotda error code (IOTDA.000004 or 4)")
                })?,
                _ => parse_num(s, "code")?,
            };
            let documented = match cloud {
                Cloud::Ucloud => ucloud::message(code),
                Cloud::Aliyun => aliyun::message(code),
                Cloud::Iotda => iotda::message(code),
            };
            match documented {
                Some(_) if code != 0 => Ok(Injected::Code(code.into())),
                _ => Err(format!(
                    "code {code} is not a documented {} error code",
                    cloud.as_str()
                )),
            }
        }
        Op::FileUrl => {
            let code: u32 = parse_num(s, "code")?;
            numbered(ucloud::message(code).is_some(), code.into())
        }
        Op::FilePut => {
            let code: i64 = parse_num(s, "code")?;
            numbered(ufile::is_code(code), code)
        }
        Op::AgcToken | Op::AgcUrl => {
            let code: i64 = parse_num(s, "code")?;
            numbered(agc::is_code(code), code)
        }
        Op::OtaUrl => named(ota::code_name(s)),
        Op::OssPost | Op::StoreForm => named(oss::code_name(s)),
        Op::ObsPut | Op::StorePut => named(agc::s3_code_name(s)),
        Op::Download => Err(format!(
            "download fails with http503|http429|http302|http500|http404, not '{s}'"
        )),
    }
}

/// Parses `<subject…>` at the start of `args` for `op`; returns it and the remaining words.
fn parse_subject<'a>(op: Op, args: &'a [&'a str]) -> Result<(Subject, &'a [&'a str]), String> {
    let kind = op.subject_kind();
    let first = *args.first().ok_or("missing subject")?;
    if kind == SubjectKind::Object {
        let subject = match first {
            "any" => Subject::Any,
            name => Subject::Object(name.to_string()),
        };
        return Ok((subject, &args[1..]));
    }
    let (subject, rest) = match first {
        "any" => (Subject::Any, &args[1..]),
        "account" | "agc" => {
            let id = *args.get(1).ok_or_else(|| format!("{first} needs an id"))?;
            let subject = if first == "account" {
                Subject::Account(id.to_string())
            } else {
                Subject::Agc(id.to_string())
            };
            (subject, &args[2..])
        }
        _ => {
            if args.len() < 3 {
                return Err(format!("unknown subject '{first}'"));
            }
            (Subject::Device(parse_device(&args[..3])?), &args[3..])
        }
    };
    let fits = match (&subject, kind) {
        (Subject::Any, SubjectKind::Device(None)) => false,
        (Subject::Any, _) => true,
        (Subject::Device(_), SubjectKind::Device(None)) => true,
        (Subject::Device(key), SubjectKind::Device(Some(cloud))) => key.0 == cloud,
        (Subject::Account(_), SubjectKind::Account) => true,
        (Subject::Agc(_), SubjectKind::Agc) => true,
        _ => false,
    };
    if !fits {
        let expected = match kind {
            SubjectKind::Device(None) => "<cloud> <product> <device>",
            SubjectKind::Device(Some(_)) => "ucloud <product> <device> | any",
            SubjectKind::Account => "account <access_key_id> | any",
            SubjectKind::Agc => "agc <client_id> | any",
            SubjectKind::AnyOnly => "any",
            SubjectKind::Object => "any | <name> | files/<path>",
        };
        return Err(format!("{} takes the subject {expected}", op.name()));
    }
    Ok((subject, rest))
}

fn object_json(
    store: StoreKind,
    key: &str,
    o: &StoredObject,
    shared: &Shared,
    full: bool,
) -> String {
    let stats = shared
        .lock()
        .key_stats
        .get(&(store, key.to_string()))
        .copied()
        .unwrap_or_default();
    let mut out = format!(
        "{{\"store\":\"{}\",\"key\":{},\"size\":{},\"md5\":\"{}\",\"sha256\":\"{}\",\
         \"uploads_started\":{},\"uploads_completed\":{}",
        store.name(),
        json_str(key),
        o.size,
        o.md5,
        o.sha256,
        stats.started,
        stats.completed
    );
    if full {
        let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "null".to_string(), json_str);
        out.push_str(&format!(
            ",\"content_type\":{},\"file_field\":{},\"filename\":{}",
            opt(&o.content_type),
            opt(&o.file_field),
            opt(&o.filename)
        ));
        for (label, pairs) in [("headers", &o.headers), ("fields", &o.fields)] {
            // A JSON object; repeated names are joined with ", ".
            let mut merged: Vec<(&str, String)> = Vec::new();
            for (n, v) in pairs {
                match merged.iter_mut().find(|(m, _)| m == n) {
                    Some((_, existing)) => {
                        existing.push_str(", ");
                        existing.push_str(v);
                    }
                    None => merged.push((n.as_str(), v.clone())),
                }
            }
            let body = merged
                .iter()
                .map(|(n, v)| format!("{}:{}", json_str(n), json_str(v)))
                .collect::<Vec<_>>()
                .join(",");
            out.push_str(&format!(",\"{label}\":{{{body}}}"));
        }
    }
    out.push('}');
    out
}

fn objects_json(shared: &Shared) -> String {
    let objects: Vec<_> = shared
        .lock()
        .objects
        .iter()
        .map(|((store, key), o)| (*store, key.clone(), o.clone()))
        .collect();
    let items: Vec<String> = objects
        .iter()
        .map(|(store, key, o)| object_json(*store, key, o, shared, false))
        .collect();
    format!("[{}]", items.join(","))
}

fn upload_stats_json(shared: &Shared) -> String {
    let state = shared.lock();
    let ops = Op::ALL
        .iter()
        .filter(|op| op.is_upload_op())
        .map(|op| {
            let s = state.op_stats.get(op).copied().unwrap_or_default();
            format!(
                "\"{}\":{{\"attempts\":{},\"completions\":{},\"rejections\":{},\"aborts\":{},\
                 \"bad_replies\":{},\"drops\":{},\"hangs\":{},\"trickles\":{},\"stalls\":{}}}",
                op.name(),
                s.attempts,
                s.completions,
                s.rejections,
                s.aborts,
                s.bad_replies,
                s.drops,
                s.hangs,
                s.trickles,
                s.stalls
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let keys = state
        .key_stats
        .iter()
        .map(|((store, key), s)| {
            format!(
                "{{\"store\":\"{}\",\"key\":{},\"started\":{},\"completed\":{}}}",
                store.name(),
                json_str(key),
                s.started,
                s.completed
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let plain = shared.plain_http_uploads.load(Ordering::SeqCst);
    format!("{{\"ops\":{{{ops}}},\"keys\":[{keys}],\"plain_http_uploads\":{plain}}}")
}

fn handshakes_all_json(shared: &Shared) -> String {
    let items: Vec<String> = Port::ALL
        .iter()
        .map(|&port| {
            let c = shared.port(port);
            let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::SeqCst);
            format!(
                "\"{}\":{{\"connections\":{},\"handshakes\":{},\"failed_handshakes\":{},\
                 \"silent\":{},\"plain_http\":{}}}",
                port.name(),
                n(&c.connections),
                n(&c.handshakes),
                n(&c.failed_handshakes),
                n(&c.silent),
                n(&c.plain_http)
            )
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// The fault of a `reply|drop|hang|trickle|stall-read` command (`value` is None for hang).
fn parse_conn_fault(command: &str, op: Op, value: Option<&str>) -> Result<ConnFault, String> {
    match (command, value) {
        ("hang", None) => Ok(ConnFault::Hang),
        ("reply", Some(v)) => {
            let kind = ReplyKind::parse(v).ok_or_else(|| {
                format!(
                    "unknown reply kind '{v}' \
                     (garbage|empty|notjson|truncated|missing|bigid|huge|hugeheader)"
                )
            })?;
            if kind == ReplyKind::BigId && op != Op::Publish {
                return Err("reply bigid applies to publish only".into());
            }
            Ok(ConnFault::Reply(kind))
        }
        ("drop", Some(v)) => DropWhen::parse(v).map(ConnFault::Drop).ok_or_else(|| {
            format!(
                "unknown drop point '{v}' (before-request|before-reply|after-processing|mid-reply)"
            )
        }),
        ("trickle", Some(v)) => match parse_num::<u64>(v, "bytes-per-second")? {
            0 => Err("bytes-per-second must be at least 1".into()),
            rate => Ok(ConnFault::Trickle(rate)),
        },
        ("stall-read", Some(v)) => {
            if !op.has_upload_body() {
                return Err(format!(
                    "stall-read applies to file-put, oss-post, obs-put, store-put and store-form, not {}",
                    op.name()
                ));
            }
            Ok(ConnFault::StallRead(parse_num(v, "after-bytes")?))
        }
        _ => Err(format!("unknown fault command '{command}'")),
    }
}

fn parse_secs(s: &str) -> Result<u64, String> {
    let secs: u64 = parse_num(s, "seconds")?;
    if secs > MAX_SECONDS {
        return Err(format!("seconds must be at most {MAX_SECONDS}"));
    }
    Ok(secs)
}

fn stats_json(shared: &Shared, key: &DeviceKey, with_messages: bool) -> Result<String, String> {
    let state = shared.lock();
    let d = state.device(key).ok_or("no such device")?;
    let mut out = format!(
        "{{\"auth_requests\":{},\"auths\":{},\"publish_requests\":{},\"publishes\":{},\
         \"bad_replies\":{}",
        d.auth_requests, d.auths, d.publish_requests, d.publishes, d.bad_replies
    );
    if with_messages {
        out.push_str(",\"messages\":[");
        for (i, m) in d.messages.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"id\":\"{}\",\"topic\":{},\"len\":{},\"sha256\":\"{}\"}}",
                m.id,
                crate::sign::json_str(&m.topic),
                m.len,
                m.sha256
            ));
        }
        out.push(']');
    }
    out.push('}');
    Ok(out)
}

/// Runs one command; `Ok` is the text after `OK `, `Err` the text after `ERR `.
pub fn execute(shared: &Shared, line: &str) -> Result<String, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    // Every command but reply-data takes whitespace-separated words only.
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&command, args)) = words.split_first() else {
        return Err("empty command".into());
    };
    let arity = |n: usize, what: &str| {
        if args.len() == n {
            Ok(())
        } else {
            Err(usage(what))
        }
    };
    match command {
        "help" => Ok(HELP.into()),
        "add-device" => {
            let what = "add-device <cloud> <product> <device> <secret> [disabled]";
            let disabled = match args.get(4) {
                None => false,
                Some(&"disabled") if args.len() == 5 => true,
                _ => return Err(usage(what)),
            };
            if args.len() < 4 {
                return Err(usage(what));
            }
            let key = parse_device(args)?;
            let new = shared.lock().add_device(key, args[3], disabled);
            Ok(if new { "added" } else { "updated" }.into())
        }
        "disable" | "enable" => {
            arity(3, &format!("{command} <cloud> <product> <device>"))?;
            let key = parse_device(args)?;
            let mut state = shared.lock();
            let d = state.device_mut(&key).ok_or("no such device")?;
            d.disabled = command == "disable";
            Ok(format!("{command}d"))
        }
        "fail" | "delay" | "cut" => {
            let what = match command {
                "fail" => {
                    "fail <op> <subject> <code|http503|http429|http302|http500|http404> <count>"
                }
                "delay" => "delay <op> <subject> <ms> <count>",
                _ => "cut <op> <subject> <after-bytes> <count>",
            };
            let op = args
                .first()
                .and_then(|a| Op::parse(a))
                .ok_or_else(|| usage(what))?;
            let (subject, rest) = parse_subject(op, &args[1..])?;
            let [value, count] = rest else {
                return Err(usage(what));
            };
            let count = parse_count(count)?;
            match command {
                "fail" => {
                    let fault = parse_fault(op, &subject, value)?;
                    shared.lock().add_fail_rule(op, subject, fault, count);
                }
                "delay" => {
                    let ms: u64 = parse_num(value, "ms")?;
                    if ms > MAX_DELAY_MS {
                        return Err(format!("ms must be at most {MAX_DELAY_MS}"));
                    }
                    shared.lock().add_delay_rule(op, subject, ms, count);
                }
                _ => {
                    if !op.has_upload_body() && op != Op::Download {
                        return Err(format!(
                            "cut applies to file-put, oss-post, obs-put, store-put, store-form and download, not {}",
                            op.name()
                        ));
                    }
                    let bytes: u64 = parse_num(value, "after-bytes")?;
                    shared.lock().add_cut_rule(op, subject, bytes, count);
                }
            }
            Ok("armed".into())
        }
        "reject" => {
            let what = "reject <op> <subject> <after-bytes> <code|http503|http429|http302|http500|http404> <count>";
            let op = args
                .first()
                .and_then(|a| Op::parse(a))
                .ok_or_else(|| usage(what))?;
            if !op.has_upload_body() {
                return Err(format!(
                    "reject applies to file-put, oss-post, obs-put, store-put and store-form, not {}",
                    op.name()
                ));
            }
            let (subject, rest) = parse_subject(op, &args[1..])?;
            let [bytes, value, count] = rest else {
                return Err(usage(what));
            };
            let bytes: u64 = parse_num(bytes, "after-bytes")?;
            let fault = parse_fault(op, &subject, value)?;
            let count = parse_count(count)?;
            shared
                .lock()
                .add_reject_rule(op, subject, bytes, fault, count);
            Ok("armed".into())
        }
        "reply" | "drop" | "hang" | "trickle" | "stall-read" => {
            let what = match command {
                "reply" => {
                    "reply <op> <subject> \
                     <garbage|empty|notjson|truncated|missing|bigid|huge|hugeheader> <count>"
                }
                "drop" => {
                    "drop <op> <subject> \
                     <before-request|before-reply|after-processing|mid-reply> <count>"
                }
                "hang" => "hang <op> <subject> <count>",
                "trickle" => "trickle <op> <subject> <bytes-per-second> <count>",
                _ => "stall-read <op> <subject> <after-bytes> <count>",
            };
            let op = args
                .first()
                .and_then(|a| Op::parse(a))
                .ok_or_else(|| usage(what))?;
            let (subject, rest) = parse_subject(op, &args[1..])?;
            let (value, count) = match (command, rest) {
                ("hang", [count]) => (None, count),
                ("hang", _) => return Err(usage(what)),
                (_, [value, count]) => (Some(*value), count),
                _ => return Err(usage(what)),
            };
            let count = parse_count(count)?;
            let fault = parse_conn_fault(command, op, value)?;
            shared.lock().add_conn_rule(op, subject, fault, count);
            Ok("armed".into())
        }
        "ignore-range" | "change" | "lie-length" | "corrupt" => {
            let kind = DlKind::parse(command).ok_or("unknown download fault")?;
            let what = match kind {
                DlKind::LieLength => "lie-length download <subject> <delta> <count>",
                DlKind::Corrupt => "corrupt download <subject> <offset> <count>",
                DlKind::IgnoreRange => "ignore-range download <subject> <count>",
                DlKind::Change => "change download <subject> <count>",
            };
            match args.first() {
                Some(&"download") => {}
                Some(other) if Op::parse(other).is_some() => {
                    return Err(format!("{command} applies to download only, not {other}"))
                }
                _ => return Err(usage(what)),
            }
            let (subject, rest) = parse_subject(Op::Download, &args[1..])?;
            let fault = match (kind, rest) {
                (DlKind::IgnoreRange, [_]) => DlFault::IgnoreRange,
                (DlKind::Change, [_]) => DlFault::Change,
                (DlKind::LieLength, [delta, _]) => match parse_num::<i64>(delta, "delta")? {
                    0 => return Err("delta must not be 0".into()),
                    delta => DlFault::LieLength(delta),
                },
                (DlKind::Corrupt, [offset, _]) => DlFault::Corrupt(parse_num(offset, "offset")?),
                _ => return Err(usage(what)),
            };
            let count = parse_count(rest[rest.len() - 1])?;
            shared.lock().add_dl_rule(subject, fault, count);
            Ok("armed".into())
        }
        "dl-object" => {
            arity(3, "dl-object <name> <size> <seed>")?;
            let size = parse_num(args[1], "size")?;
            let seed = parse_num(args[2], "seed")?;
            download::define(shared, args[0], size, seed)
        }
        "dl-info" | "dl-stats" => {
            arity(1, &format!("{command} <name>"))?;
            if command == "dl-info" {
                download::info(shared, args[0])
            } else {
                download::stats(shared, args[0])
            }
        }
        "serve-dir" => {
            let (_, dir) = split_words(line, 1);
            let dir = dir.trim_end();
            if dir.is_empty() {
                return Err(usage("serve-dir <dir>"));
            }
            download::serve_dir(shared, dir)
        }
        "clear-dl" => {
            arity(0, "clear-dl")?;
            shared.lock().clear_downloads();
            Ok("downloads cleared".into())
        }
        "accept-no-tls" => {
            arity(1, "accept-no-tls on|off")?;
            let on = parse_on_off(args[0])?;
            shared.accept_no_tls.store(on, Ordering::SeqCst);
            Ok(format!("accept-no-tls {}", args[0]))
        }
        "upload-urls" => {
            arity(1, "upload-urls http|https")?;
            let http = match args[0] {
                "http" => true,
                "https" => false,
                other => return Err(format!("expected http|https, got '{other}'")),
            };
            shared.upload_urls_http.store(http, Ordering::SeqCst);
            Ok(format!("upload-urls {}", args[0]))
        }
        "handshakes-all" => {
            arity(0, "handshakes-all")?;
            Ok(handshakes_all_json(shared))
        }
        "add-account" | "add-agc-client" => {
            arity(2, &format!("{command} <id> <secret>"))?;
            let mut state = shared.lock();
            let registry = if command == "add-account" {
                &mut state.accounts
            } else {
                &mut state.agc_clients
            };
            let new = registry
                .insert(args[0].to_string(), args[1].to_string())
                .is_none();
            Ok(if new { "added" } else { "updated" }.into())
        }
        "expire" | "revoke" if args.first() == Some(&"agc") => {
            arity(2, &format!("{command} agc <client_id>"))?;
            let mut state = shared.lock();
            if !state.agc_clients.contains_key(args[1]) {
                return Err("no such agc client".into());
            }
            let n = state.end_agc_tokens(args[1], command == "revoke");
            Ok(format!("{n} tokens {command}d"))
        }
        "url-ttl" => {
            arity(2, "url-ttl <ufile|oss|obs> <seconds>")?;
            let kind = UrlKind::parse(args[0])
                .ok_or_else(|| format!("unknown url kind '{}' (ufile|oss|obs)", args[0]))?;
            let secs = parse_secs(args[1])?;
            shared.lock().set_url_ttl_secs(kind, secs);
            Ok(format!("url-ttl {} {secs}", args[0]))
        }
        "objects" => {
            arity(0, "objects")?;
            Ok(objects_json(shared))
        }
        "object" => {
            let (words, key) = split_words(line, 2);
            if words.len() < 2 || key.is_empty() {
                return Err(usage("object <store> <key...>"));
            }
            let store = StoreKind::parse(words[1]).ok_or_else(|| {
                format!(
                    "unknown store '{}' (ufile|oss|obs|store|store-form)",
                    words[1]
                )
            })?;
            let object = shared
                .lock()
                .objects
                .get(&(store, key.to_string()))
                .cloned()
                .ok_or("no such object")?;
            Ok(object_json(store, key, &object, shared, true))
        }
        "upload-stats" => {
            arity(0, "upload-stats")?;
            Ok(upload_stats_json(shared))
        }
        "clear-objects" => {
            arity(0, "clear-objects")?;
            shared.lock().clear_objects();
            Ok("objects cleared".into())
        }
        "expire" | "revoke" => {
            arity(3, &format!("{command} <cloud> <product> <device>"))?;
            let key = parse_device(args)?;
            let mut state = shared.lock();
            if state.device(&key).is_none() {
                return Err("no such device".into());
            }
            let n = if command == "expire" {
                state.expire_tokens(&key)
            } else {
                state.revoke_tokens(&key)
            };
            Ok(format!("{n} tokens {command}d"))
        }
        "token-ttl" => {
            arity(2, "token-ttl <ucloud|aliyun|iotda|agc> <seconds>")?;
            let secs = parse_secs(args[1])?;
            if args[0] == "agc" {
                shared.lock().agc_token_ttl_secs = secs;
                return Ok(format!("token-ttl agc {secs}"));
            }
            let cloud = parse_cloud(args[0])?;
            shared.lock().set_token_ttl_secs(cloud, secs);
            Ok(format!("token-ttl {} {secs}", cloud.as_str()))
        }
        "reply-data" => {
            let (words, text) = split_words(line, 4);
            if words.len() < 4 {
                return Err(usage("reply-data <cloud> <product> <device> [text...]"));
            }
            let key = parse_device(&words[1..4])?;
            let mut state = shared.lock();
            let d = state.device_mut(&key).ok_or("no such device")?;
            d.reply_data = (!text.is_empty()).then(|| text.to_string());
            Ok(if text.is_empty() { "cleared" } else { "set" }.into())
        }
        "skew" => {
            arity(1, "skew <seconds>")?;
            let secs: i64 = parse_num(args[0], "seconds")?;
            if secs.unsigned_abs() > MAX_SECONDS {
                return Err(format!("|seconds| must be at most {MAX_SECONDS}"));
            }
            shared.set_skew_secs(secs);
            Ok(format!("skew {secs}"))
        }
        "date-header" => {
            arity(1, "date-header on|off")?;
            let on = parse_on_off(args[0])?;
            shared.set_date_header(on);
            Ok(format!("date-header {}", args[0]))
        }
        "log" => {
            arity(1, "log on|off")?;
            let on = parse_on_off(args[0])?;
            shared.log.store(on, Ordering::Relaxed);
            Ok(format!("log {}", args[0]))
        }
        "stats" | "counters" => {
            arity(3, &format!("{command} <cloud> <product> <device>"))?;
            stats_json(shared, &parse_device(args)?, command == "stats")
        }
        "handshakes" => {
            arity(0, "handshakes")?;
            Ok(shared.handshakes.load(Ordering::SeqCst).to_string())
        }
        "connections" => {
            arity(0, "connections")?;
            Ok(shared.connections.load(Ordering::SeqCst).to_string())
        }
        "reset-faults" => {
            arity(0, "reset-faults")?;
            shared.lock().clear_rules();
            shared.set_skew_secs(0);
            shared.accept_no_tls.store(false, Ordering::SeqCst);
            shared.upload_urls_http.store(false, Ordering::SeqCst);
            Ok("faults cleared".into())
        }
        "quit" => {
            arity(0, "quit")?;
            shared.quit.store(true, Ordering::SeqCst);
            Ok("bye".into())
        }
        _ => Err(format!("unknown command '{command}' (try help)")),
    }
}

/// Makes `text` fit on one protocol line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Serves the control line protocol on one connection until the client closes.
pub fn serve(shared: &Shared, stream: &mut TcpStream) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let too_long = !line.ends_with(b"\n") && line.len() as u64 >= MAX_LINE;
        let reply = if too_long {
            format!("ERR line longer than {MAX_LINE} bytes\n")
        } else {
            let result = match std::str::from_utf8(&line) {
                Ok(text) => execute(shared, text),
                Err(_) => Err("command is not UTF-8".into()),
            };
            match result {
                Ok(text) => format!("OK {}\n", one_line(&text)),
                Err(text) => format!("ERR {}\n", one_line(&text)),
            }
        };
        if out
            .write_all(reply.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
            || too_long
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(split_words("  a  b c ", 2), (vec!["a", "b"], "c "));
        assert_eq!(split_words("a", 3), (vec!["a"], ""));
    }

    #[test]
    fn commands() {
        let shared = Shared::default();
        let run = |s: &str| execute(&shared, s);
        assert_eq!(run("add-device ucloud p d s").as_deref(), Ok("added"));
        assert_eq!(
            run("add-device ucloud p d s disabled").as_deref(),
            Ok("updated")
        );
        assert!(run("add-device ucloud p d").is_err());
        assert!(run("add-device azure p d s").is_err());
        assert_eq!(run("enable ucloud p d").as_deref(), Ok("enabled"));
        assert!(run("disable ucloud p nope").is_err());
        assert_eq!(run("fail auth ucloud p d 130 2").as_deref(), Ok("armed"));
        assert!(run("fail auth ucloud p d 20000 2").is_err());
        assert!(run("fail auth aliyun p d 0 2").is_err());
        assert!(run("fail auth aliyun p d 40000 0").is_err());
        assert_eq!(
            run("fail publish aliyun p d http503 1").as_deref(),
            Ok("armed")
        );
        assert_eq!(run("delay publish ucloud p d 10 1").as_deref(), Ok("armed"));
        assert_eq!(
            run("reply-data ucloud p d  hello  world").as_deref(),
            Ok("set")
        );
        assert_eq!(
            shared
                .lock()
                .device(&(Cloud::Ucloud, "p".into(), "d".into()))
                .and_then(|d| d.reply_data.clone())
                .as_deref(),
            Some("hello  world")
        );
        assert_eq!(run("reply-data ucloud p d").as_deref(), Ok("cleared"));
        assert_eq!(run("skew -30").as_deref(), Ok("skew -30"));
        assert_eq!(shared.skew_secs(), -30);
        assert_eq!(run("reset-faults").as_deref(), Ok("faults cleared"));
        assert_eq!(shared.skew_secs(), 0);
        assert_eq!(
            run("stats ucloud p d").as_deref(),
            Ok(
                r#"{"auth_requests":0,"auths":0,"publish_requests":0,"publishes":0,"bad_replies":0,"messages":[]}"#
            )
        );
        assert_eq!(run("handshakes").as_deref(), Ok("0"));
        assert!(run("").is_err());
        assert!(run("frobnicate").is_err());
        assert!(run("help").unwrap().contains("reply-data"));
        assert_eq!(
            run("token-ttl aliyun 5").as_deref(),
            Ok("token-ttl aliyun 5")
        );
        assert_eq!(run("date-header off").as_deref(), Ok("date-header off"));
        assert!(!shared.date_header());
    }

    #[test]
    fn upload_commands() {
        let shared = Shared::default();
        let run = |s: &str| execute(&shared, s);
        assert_eq!(run("add-account ak sk").as_deref(), Ok("added"));
        assert_eq!(run("add-account ak sk2").as_deref(), Ok("updated"));
        assert!(run("add-account ak").is_err());
        assert_eq!(run("add-agc-client c s").as_deref(), Ok("added"));
        assert_eq!(run("url-ttl ufile 0").as_deref(), Ok("url-ttl ufile 0"));
        assert_eq!(run("url-ttl oss 5").as_deref(), Ok("url-ttl oss 5"));
        assert!(run("url-ttl s3 5").is_err());
        assert_eq!(run("token-ttl agc 10").as_deref(), Ok("token-ttl agc 10"));
        assert_eq!(shared.lock().agc_token_ttl_secs, 10);
        assert_eq!(run("expire agc c").as_deref(), Ok("0 tokens expired"));
        assert!(run("expire agc nobody").is_err());

        // Subjects per op.
        for ok in [
            "fail file-url ucloud p d 130 1",
            "fail file-put ucloud p d -148655 1",
            "fail file-put any http503 2",
            "fail ota-url account ak Throttling.User 1",
            "fail ota-url any ServiceUnavailable 1",
            "fail ota-url account ak iot.system.SystemException 1",
            "fail oss-post account ak AccessDenied 1",
            "fail agc-token agc c 205524992 1",
            "fail agc-url agc c 204144641 1",
            "fail obs-put agc c SlowDown 1",
            "fail store-put any BadDigest 1",
            "fail store-form any MalformedPOSTRequest 1",
            "delay obs-put agc c 10 1",
            "delay store-form any 10 1",
            "cut file-put ucloud p d 0 1",
            "cut oss-post any 100 3",
            "cut store-form any 100 1",
            "reject store-put any 100000 AccessDenied 1",
            "reject file-put ucloud p d 0 -148654 2",
            "reject oss-post account ak 10 SignatureDoesNotMatch 1",
            "reject obs-put agc c 10 http503 1",
        ] {
            assert_eq!(run(ok).as_deref(), Ok("armed"), "{ok}");
        }
        for bad in [
            "fail file-url aliyun p d 130 1",
            "fail file-put ucloud p d 171 1",
            "fail ota-url agc c Throttling.User 1",
            "fail ota-url account ak Nope 1",
            "fail oss-post account ak XAmzContentSHA256Mismatch 1",
            "fail agc-url agc c 1 1",
            "fail store-put account ak BadDigest 1",
            "fail auth any 130 1",
            "fail store-put any BadDigest 0",
            "fail store-put any BadDigest",
            "fail nothing any BadDigest 1",
            "cut agc-url agc c 10 1",
            "cut store-put any x 1",
            "reject publish ucloud p d 100 130 1",
            "reject store-put any 100 Nope 1",
            "reject store-put any x AccessDenied 1",
            "reject store-put any 100 AccessDenied",
            "reject store-put any 100 AccessDenied 0",
        ] {
            assert!(run(bad).is_err(), "{bad}");
        }
        assert_eq!(run("objects").as_deref(), Ok("[]"));
        assert!(run("object oss ota/x").is_err());
        assert!(run("object bucket x").is_err());
        let stats: serde_json::Value = serde_json::from_str(&run("upload-stats").unwrap()).unwrap();
        assert_eq!(stats["ops"]["obs-put"]["attempts"], 0);
        assert_eq!(stats["keys"], serde_json::json!([]));
        assert!(stats["ops"].get("auth").is_none());
        assert_eq!(run("reset-faults").as_deref(), Ok("faults cleared"));
        assert_eq!(run("clear-objects").as_deref(), Ok("objects cleared"));
        assert!(run("help").unwrap().contains("url-ttl"));
    }

    #[test]
    fn download_commands() {
        let shared = Shared::default();
        let run = |s: &str| execute(&shared, s);
        let json: serde_json::Value =
            serde_json::from_str(&run("dl-object fw 10 1").unwrap()).unwrap();
        assert_eq!(json["etag"], "\"dl-0000000000000001-a\"");
        assert_eq!(json["md5"], crate::dl_digests(1, 10).0.as_str());
        assert!(run("dl-object fw 68719476737 1").is_err());
        assert!(run("dl-object big 68719476736 1")
            .unwrap()
            .contains("\"md5\":null"));
        for ok in [
            "cut download any 0 1",
            "cut download fw 100 2",
            "cut download files/a/b.bin 100 2",
            "fail download any http503 1",
            "fail download fw http404 1",
            "delay download any 10 1",
            "ignore-range download any 1",
            "change download fw 2",
            "lie-length download any -10 1",
            "lie-length download any 10 1",
            "corrupt download any 0 1",
            "corrupt download fw 68719476735 1",
            "trickle download any 100 1",
            "hang download any 1",
            "drop download fw before-reply 1",
            "reply download any truncated 1",
        ] {
            assert_eq!(run(ok).as_deref(), Ok("armed"), "{ok}");
        }
        for bad in [
            "dl-object fw 10",
            "dl-object fw -1 1",
            "dl-object fw 10 x",
            "dl-object a/b 10 1",
            "dl-object any 10 1",
            "dl-object .. 10 1",
            "fail download any 130 1",
            "fail download any AccessDenied 1",
            "reject download any 10 http503 1",
            "stall-read download any 10 1",
            "reply download any bigid 1",
            "ignore-range store-put any 1",
            "ignore-range download any",
            "ignore-range download any 1 1",
            "change download any 0",
            "lie-length download any 0 1",
            "lie-length download any x 1",
            "lie-length download any 10",
            "corrupt download any -1 1",
            "corrupt download any 1",
            "corrupt",
            "dl-info",
            "dl-info nope",
            "dl-stats nope",
            "serve-dir",
            "serve-dir /nonexistent/dir",
            "clear-dl x",
        ] {
            assert!(run(bad).is_err(), "{bad}");
        }
        assert!(run("dl-info fw").unwrap().contains("\"seed\":1"));
        assert!(run("dl-stats fw").unwrap().contains("\"requests\":0"));
        let dir = std::env::temp_dir();
        assert!(run(&format!("serve-dir {} ", dir.display()))
            .unwrap()
            .starts_with("serving /"));
        assert_eq!(run("clear-dl").as_deref(), Ok("downloads cleared"));
        assert!(shared.lock().serve_dir.is_none());
        assert!(run("dl-info fw").is_err());
        let help = run("help").unwrap();
        for word in [
            "dl-object <name> <size> <seed>",
            "serve-dir <dir>",
            "ignore-range download",
            "lie-length download <subject> <delta> <count>",
            "corrupt download <subject> <offset> <count>",
            "Content-Range bytes */size",
        ] {
            assert!(help.contains(word), "help lacks {word}");
        }
    }
}
