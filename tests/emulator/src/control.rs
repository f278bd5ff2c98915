//! The control command language (shared by [`crate::Emulator::control`] and the control
//! port) and the control port's line protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

use crate::state::{DeviceKey, Injected, Op, Shared};
use crate::{aliyun, ucloud, Cloud};

/// Longest accepted control line.
const MAX_LINE: u64 = 64 * 1024;

/// Longest `delay` (one hour).
const MAX_DELAY_MS: u64 = 3_600_000;

/// Largest `skew` and `token-ttl` (about 100 years).
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

pub const HELP: &str = "commands: \
add-device <cloud> <product> <device> <secret> [disabled] | \
disable <cloud> <product> <device> | enable <cloud> <product> <device> | \
fail <auth|publish> <cloud> <product> <device> <code|http503|http429|http302|http500|http404> <count> | \
delay <auth|publish> <cloud> <product> <device> <ms> <count> | \
expire <cloud> <product> <device> | revoke <cloud> <product> <device> | \
token-ttl <cloud> <seconds> | reply-data <cloud> <product> <device> [text...] | \
skew <seconds> | date-header on|off | stats <cloud> <product> <device> | \
counters <cloud> <product> <device> | handshakes | connections | reset-faults | \
log on|off | quit | help  (cloud: ucloud|aliyun)";

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
    Cloud::from_name(s).ok_or_else(|| format!("unknown cloud '{s}' (ucloud|aliyun)"))
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

fn parse_fault(cloud: Cloud, s: &str) -> Result<Injected, String> {
    match s {
        "http503" => return Ok(Injected::Http(503)),
        "http429" => return Ok(Injected::Http(429)),
        "http302" => return Ok(Injected::Http(302)),
        "http500" => return Ok(Injected::Http(500)),
        "http404" => return Ok(Injected::Http(404)),
        _ => {}
    }
    let code: u32 = parse_num(s, "code")?;
    let documented = match cloud {
        Cloud::Ucloud => ucloud::message(code),
        Cloud::Aliyun => aliyun::message(code),
    };
    match documented {
        Some(_) if code != 0 => Ok(Injected::Code(code)),
        _ => Err(format!(
            "code {code} is not a documented {} error code",
            cloud.as_str()
        )),
    }
}

fn stats_json(shared: &Shared, key: &DeviceKey, with_messages: bool) -> Result<String, String> {
    let state = shared.lock();
    let d = state.device(key).ok_or("no such device")?;
    let mut out = format!(
        "{{\"auth_requests\":{},\"auths\":{},\"publish_requests\":{},\"publishes\":{}",
        d.auth_requests, d.auths, d.publish_requests, d.publishes
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
        "fail" | "delay" => {
            let what = if command == "fail" {
                "fail <auth|publish> <cloud> <product> <device> <code|http503|http429|http302|http500|http404> <count>"
            } else {
                "delay <auth|publish> <cloud> <product> <device> <ms> <count>"
            };
            arity(6, what)?;
            let op = Op::parse(args[0]).ok_or_else(|| usage(what))?;
            let key = parse_device(&args[1..4])?;
            let count = parse_count(args[5])?;
            if command == "fail" {
                let fault = parse_fault(key.0, args[4])?;
                shared.lock().add_fail_rule(op, key, fault, count);
            } else {
                let ms: u64 = parse_num(args[4], "ms")?;
                if ms > MAX_DELAY_MS {
                    return Err(format!("ms must be at most {MAX_DELAY_MS}"));
                }
                shared.lock().add_delay_rule(op, key, ms, count);
            }
            Ok("armed".into())
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
            arity(2, "token-ttl <cloud> <seconds>")?;
            let cloud = parse_cloud(args[0])?;
            let secs: u64 = parse_num(args[1], "seconds")?;
            if secs > MAX_SECONDS {
                return Err(format!("seconds must be at most {MAX_SECONDS}"));
            }
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
            Ok(r#"{"auth_requests":0,"auths":0,"publish_requests":0,"publishes":0,"messages":[]}"#)
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
}
