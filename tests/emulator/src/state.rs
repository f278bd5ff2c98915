//! Shared emulator state: the device registry, issued tokens, fault rules, counters and the
//! emulator clock.

use std::collections::{HashMap, VecDeque};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::clock;
use crate::Cloud;

/// Accepted messages kept per device (the oldest are dropped beyond this; counters stay exact).
pub const MAX_MESSAGES_PER_DEVICE: usize = 10_000;

/// Default token lifetime (both documents: 7 days).
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;

/// First UCloud message id (the document's example).
pub const UCLOUD_FIRST_MESSAGE_ID: u64 = 349_022_219_378_098_176;

/// First Alibaba message id (the document's example; above 2^53).
pub const ALIYUN_FIRST_MESSAGE_ID: u64 = 892_687_627_916_247_040;

/// (cloud, product, device)
pub type DeviceKey = (Cloud, String, String);

/// The two operations a fault rule can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Auth,
    Publish,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "auth" => Some(Op::Auth),
            "publish" => Some(Op::Publish),
            _ => None,
        }
    }
}

/// What a `fail` rule answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// HTTP 200 with the cloud's documented JSON error for this code.
    Code(u32),
    /// A bare HTTP error status (500, 503, 404).
    Http(u16),
}

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: u64,
    pub topic: String,
    pub len: u64,
    pub sha256: String,
}

/// A registered device.
#[derive(Debug, Default)]
pub struct Device {
    pub secret: String,
    pub disabled: bool,
    pub reply_data: Option<String>,
    pub auth_requests: u64,
    pub auths: u64,
    pub publish_requests: u64,
    pub publishes: u64,
    pub messages: VecDeque<Message>,
}

/// An issued token.
#[derive(Clone, Debug)]
pub struct Token {
    pub device: DeviceKey,
    /// Emulator-clock milliseconds.
    pub expires_at_ms: i64,
    /// Set by the `expire` command.
    pub expired: bool,
    /// Set by the `revoke` command: the token is then unknown.
    pub revoked: bool,
}

/// The result of looking a token up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Unknown,
    Expired(DeviceKey),
    Valid(DeviceKey),
}

struct Rule<T> {
    value: T,
    remaining: u32,
}

type RuleKey = (Op, DeviceKey);

/// Everything behind the state mutex.
pub struct State {
    pub devices: HashMap<DeviceKey, Device>,
    tokens: HashMap<String, Token>,
    fail_rules: HashMap<RuleKey, VecDeque<Rule<Injected>>>,
    delay_rules: HashMap<RuleKey, VecDeque<Rule<u64>>>,
    token_ttl_secs: [u64; 2],
    next_message_id: [u64; 2],
}

fn cloud_index(cloud: Cloud) -> usize {
    match cloud {
        Cloud::Ucloud => 0,
        Cloud::Aliyun => 1,
    }
}

fn take_rule<T: Copy>(rules: &mut HashMap<RuleKey, VecDeque<Rule<T>>>, key: &RuleKey) -> Option<T> {
    let queue = rules.get_mut(key)?;
    let front = queue.front_mut()?;
    let value = front.value;
    front.remaining = front.remaining.saturating_sub(1);
    if front.remaining == 0 {
        queue.pop_front();
    }
    if queue.is_empty() {
        rules.remove(key);
    }
    Some(value)
}

impl Default for State {
    fn default() -> Self {
        State {
            devices: HashMap::new(),
            tokens: HashMap::new(),
            fail_rules: HashMap::new(),
            delay_rules: HashMap::new(),
            token_ttl_secs: [DEFAULT_TOKEN_TTL_SECS; 2],
            next_message_id: [UCLOUD_FIRST_MESSAGE_ID, ALIYUN_FIRST_MESSAGE_ID],
        }
    }
}

impl State {
    /// Registers a device, or replaces its secret and disabled flag (counters are kept).
    /// Returns true when the device is new.
    pub fn add_device(&mut self, key: DeviceKey, secret: &str, disabled: bool) -> bool {
        let new = !self.devices.contains_key(&key);
        let device = self.devices.entry(key).or_default();
        device.secret = secret.to_string();
        device.disabled = disabled;
        new
    }

    pub fn device(&self, key: &DeviceKey) -> Option<&Device> {
        self.devices.get(key)
    }

    pub fn device_mut(&mut self, key: &DeviceKey) -> Option<&mut Device> {
        self.devices.get_mut(key)
    }

    pub fn token_ttl_secs(&self, cloud: Cloud) -> u64 {
        self.token_ttl_secs[cloud_index(cloud)]
    }

    pub fn set_token_ttl_secs(&mut self, cloud: Cloud, secs: u64) {
        self.token_ttl_secs[cloud_index(cloud)] = secs;
    }

    /// Records a token for `device` that expires at `expires_at_ms` (emulator clock).
    pub fn issue_token(&mut self, token: String, device: DeviceKey, expires_at_ms: i64) {
        self.tokens.insert(
            token,
            Token {
                device,
                expires_at_ms,
                expired: false,
                revoked: false,
            },
        );
    }

    /// Looks `token` up for `cloud` at emulator time `now_ms`.
    pub fn check_token(&self, cloud: Cloud, token: &str, now_ms: i64) -> TokenCheck {
        match self.tokens.get(token) {
            Some(t) if t.device.0 == cloud && !t.revoked => {
                if t.expired || now_ms >= t.expires_at_ms {
                    TokenCheck::Expired(t.device.clone())
                } else {
                    TokenCheck::Valid(t.device.clone())
                }
            }
            _ => TokenCheck::Unknown,
        }
    }

    /// Marks every token of `device` expired; returns how many.
    pub fn expire_tokens(&mut self, device: &DeviceKey) -> usize {
        let mut n = 0;
        for t in self.tokens.values_mut().filter(|t| &t.device == device) {
            t.expired = true;
            n += 1;
        }
        n
    }

    /// Makes every token of `device` unknown; returns how many.
    pub fn revoke_tokens(&mut self, device: &DeviceKey) -> usize {
        let mut n = 0;
        for t in self.tokens.values_mut().filter(|t| &t.device == device) {
            t.revoked = true;
            n += 1;
        }
        n
    }

    /// Allocates the next message id of `cloud`.
    pub fn next_message_id(&mut self, cloud: Cloud) -> u64 {
        let slot = &mut self.next_message_id[cloud_index(cloud)];
        let id = *slot;
        *slot = slot.wrapping_add(1);
        id
    }

    /// Records an accepted message for `device` (which must exist).
    pub fn record_message(&mut self, device: &DeviceKey, message: Message) {
        if let Some(d) = self.devices.get_mut(device) {
            d.publishes += 1;
            if d.messages.len() >= MAX_MESSAGES_PER_DEVICE {
                d.messages.pop_front();
            }
            d.messages.push_back(message);
        }
    }

    pub fn add_fail_rule(&mut self, op: Op, device: DeviceKey, value: Injected, count: u32) {
        self.fail_rules
            .entry((op, device))
            .or_default()
            .push_back(Rule {
                value,
                remaining: count,
            });
    }

    pub fn add_delay_rule(&mut self, op: Op, device: DeviceKey, ms: u64, count: u32) {
        self.delay_rules
            .entry((op, device))
            .or_default()
            .push_back(Rule {
                value: ms,
                remaining: count,
            });
    }

    /// Consumes one use of the first pending delay rule for (op, device).
    pub fn take_delay(&mut self, op: Op, device: &DeviceKey) -> Option<u64> {
        take_rule(&mut self.delay_rules, &(op, device.clone()))
    }

    /// Consumes one use of the first pending fail rule for (op, device).
    pub fn take_fail(&mut self, op: Op, device: &DeviceKey) -> Option<Injected> {
        take_rule(&mut self.fail_rules, &(op, device.clone()))
    }

    pub fn clear_rules(&mut self) {
        self.fail_rules.clear();
        self.delay_rules.clear();
    }
}

/// State shared by every listener and connection thread.
pub struct Shared {
    state: Mutex<State>,
    /// Seconds added to the system time to make the emulator clock.
    skew_secs: AtomicI64,
    date_header: AtomicBool,
    /// One line per request on stderr.
    pub log: AtomicBool,
    /// Completed TLS handshakes.
    pub handshakes: AtomicU64,
    /// Accepted TCP connections on the HTTP(S) listeners.
    pub connections: AtomicU64,
    /// Set when the emulator shuts down.
    pub stop: AtomicBool,
    /// Set by the `quit` control command.
    pub quit: AtomicBool,
    /// Key of the UCloud JWT signatures.
    pub token_key: Vec<u8>,
    live: Mutex<HashMap<u64, TcpStream>>,
    next_conn_id: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            state: Mutex::new(State::default()),
            skew_secs: AtomicI64::new(0),
            date_header: AtomicBool::new(true),
            log: AtomicBool::new(false),
            handshakes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            quit: AtomicBool::new(false),
            token_key: crate::sign::random_bytes(32),
            live: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
        }
    }
}

impl Shared {
    /// Locks the state; a panic elsewhere never makes the state unusable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn skew_secs(&self) -> i64 {
        self.skew_secs.load(Ordering::SeqCst)
    }

    pub fn set_skew_secs(&self, secs: i64) {
        self.skew_secs.store(secs, Ordering::SeqCst);
    }

    /// Emulator clock in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        clock::system_now_ms().saturating_add(self.skew_secs().saturating_mul(1000))
    }

    /// Emulator clock in seconds since the epoch.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    pub fn date_header(&self) -> bool {
        self.date_header.load(Ordering::SeqCst)
    }

    pub fn set_date_header(&self, on: bool) {
        self.date_header.store(on, Ordering::SeqCst);
    }

    pub fn logging(&self) -> bool {
        self.log.load(Ordering::Relaxed)
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Remembers a live connection so that shutdown can unblock its thread.
    pub fn track(&self, stream: &TcpStream) -> Option<u64> {
        let clone = stream.try_clone().ok()?;
        let id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, clone);
        Some(id)
    }

    pub fn untrack(&self, id: Option<u64>) {
        if let Some(id) = id {
            self.live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }

    /// Shuts every live connection down (both directions).
    pub fn shutdown_live(&self) {
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(|e| e.into_inner()));
        for stream in live.values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
