//! Shared emulator state: the device registry, issued tokens, fault rules, counters and the
//! emulator clock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

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

/// The operations a fault rule can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Device auth (UCloud or Aliyun).
    Auth,
    /// Device publish (UCloud or Aliyun).
    Publish,
    /// UCloud `POST /api/v1/url` (file upload URL).
    FileUrl,
    /// The UFile `PUT` of a UCloud file upload.
    FilePut,
    /// Alibaba `GenerateOTAUploadURL`.
    OtaUrl,
    /// OSS PostObject.
    OssPost,
    /// AppGallery Connect OAuth token.
    AgcToken,
    /// AppGallery Connect upload URL.
    AgcUrl,
    /// The OBS `PUT` of an AppGallery upload.
    ObsPut,
    /// Generic store `PUT /store/...`.
    StorePut,
    /// Generic store `POST /store-form/`.
    StoreForm,
    /// `GET|HEAD /dl/<name>` and `/files/<path>` (downloads).
    Download,
}

/// What kind of subject a fault rule of an op names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    /// `<cloud> <product> <device>` (auth, publish: either cloud; file ops: UCloud only).
    Device(Option<Cloud>),
    /// `account <access_key_id>` (Alibaba).
    Account,
    /// `agc <client_id>`.
    Agc,
    /// Only `any`.
    AnyOnly,
    /// `any` or a download's name (`<name>` of `/dl/<name>`, `files/<path>` of
    /// `/files/<path>`).
    Object,
}

impl Op {
    pub const ALL: [Op; 12] = [
        Op::Auth,
        Op::Publish,
        Op::FileUrl,
        Op::FilePut,
        Op::OtaUrl,
        Op::OssPost,
        Op::AgcToken,
        Op::AgcUrl,
        Op::ObsPut,
        Op::StorePut,
        Op::StoreForm,
        Op::Download,
    ];

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == s)
    }

    /// The name used in control commands and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Op::Auth => "auth",
            Op::Publish => "publish",
            Op::FileUrl => "file-url",
            Op::FilePut => "file-put",
            Op::OtaUrl => "ota-url",
            Op::OssPost => "oss-post",
            Op::AgcToken => "agc-token",
            Op::AgcUrl => "agc-url",
            Op::ObsPut => "obs-put",
            Op::StorePut => "store-put",
            Op::StoreForm => "store-form",
            Op::Download => "download",
        }
    }

    pub fn subject_kind(self) -> SubjectKind {
        match self {
            Op::Auth | Op::Publish => SubjectKind::Device(None),
            Op::FileUrl | Op::FilePut => SubjectKind::Device(Some(Cloud::Ucloud)),
            Op::OtaUrl | Op::OssPost => SubjectKind::Account,
            Op::AgcToken | Op::AgcUrl | Op::ObsPut => SubjectKind::Agc,
            Op::StorePut | Op::StoreForm => SubjectKind::AnyOnly,
            Op::Download => SubjectKind::Object,
        }
    }

    /// Ops whose request carries an upload body (the `cut` command applies to these).
    pub fn has_upload_body(self) -> bool {
        matches!(
            self,
            Op::FilePut | Op::OssPost | Op::ObsPut | Op::StorePut | Op::StoreForm
        )
    }

    /// Ops counted by `upload-stats` (every op but device auth, publish and download).
    pub fn is_upload_op(self) -> bool {
        !matches!(self, Op::Auth | Op::Publish | Op::Download)
    }

    /// Ops whose rules may name the subject `any` (every op but device auth and publish).
    pub fn takes_any(self) -> bool {
        !matches!(self, Op::Auth | Op::Publish)
    }
}

/// Whom a fault rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Device(DeviceKey),
    /// An Alibaba AccessKeyId.
    Account(String),
    /// An AppGallery client_id.
    Agc(String),
    /// A download: the `<name>` of `/dl/<name>`, or `files/<path>` for `/files/<path>`.
    Object(String),
    /// Every request of the op (upload and download ops only); specific rules are used
    /// first.
    Any,
}

/// What a `fail` rule answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// The op's documented error for this numeric code (HTTP status as the op answers it).
    Code(i64),
    /// The op's error with this textual code (Alibaba RPC, OSS, OBS / S3).
    Name(&'static str),
    /// A bare HTTP error status (500, 503, 429, 302, 404).
    Http(u16),
}

/// What a `reply` rule answers with (the request is processed first, see [`ConnFault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// HTTP 200, `application/json`, 512 random bytes.
    Garbage,
    /// HTTP 200 with an empty body.
    Empty,
    /// HTTP 200, `text/html`, an HTML page.
    NotJson,
    /// HTTP 200 declaring the reply's length; half of it is sent, then the connection drops.
    Truncated,
    /// HTTP 200 with the success code but without the op's required fields.
    Missing,
    /// Publish only: a success whose message id is above 2^64 (the message is not recorded).
    BigId,
    /// HTTP 200 with a 10 MiB JSON body, streamed.
    Huge,
    /// HTTP 200 with a 1 MiB header block, streamed.
    HugeHeader,
}

impl ReplyKind {
    pub const ALL: [ReplyKind; 8] = [
        ReplyKind::Garbage,
        ReplyKind::Empty,
        ReplyKind::NotJson,
        ReplyKind::Truncated,
        ReplyKind::Missing,
        ReplyKind::BigId,
        ReplyKind::Huge,
        ReplyKind::HugeHeader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReplyKind::Garbage => "garbage",
            ReplyKind::Empty => "empty",
            ReplyKind::NotJson => "notjson",
            ReplyKind::Truncated => "truncated",
            ReplyKind::Missing => "missing",
            ReplyKind::BigId => "bigid",
            ReplyKind::Huge => "huge",
            ReplyKind::HugeHeader => "hugeheader",
        }
    }

    pub fn parse(s: &str) -> Option<ReplyKind> {
        ReplyKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// When a `drop` rule closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropWhen {
    /// Once the request head has arrived, before reading the body; not processed.
    BeforeRequest,
    /// After reading the whole request; not processed.
    BeforeReply,
    /// After processing the request, without replying.
    AfterProcessing,
    /// After processing, sending the status line, the headers and half the body.
    MidReply,
}

impl DropWhen {
    pub const ALL: [DropWhen; 4] = [
        DropWhen::BeforeRequest,
        DropWhen::BeforeReply,
        DropWhen::AfterProcessing,
        DropWhen::MidReply,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropWhen::BeforeRequest => "before-request",
            DropWhen::BeforeReply => "before-reply",
            DropWhen::AfterProcessing => "after-processing",
            DropWhen::MidReply => "mid-reply",
        }
    }

    pub fn parse(s: &str) -> Option<DropWhen> {
        DropWhen::ALL.into_iter().find(|w| w.name() == s)
    }
}

/// A connection or reply fault (`reply`, `drop`, `hang`, `trickle`, `stall-read` rules).
///
/// Some replace the processing of the request (nothing is recorded or stored):
/// `drop before-request`, `drop before-reply`, `hang`, `stall-read`. The others let the
/// request be processed normally (a publish is recorded, an upload stored) and then act on
/// its reply: every `reply` kind but `bigid` (which also keeps the message from being
/// recorded), `drop after-processing`, `drop mid-reply` and `trickle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnFault {
    Reply(ReplyKind),
    Drop(DropWhen),
    Hang,
    /// Write the reply at this many bytes per second.
    Trickle(u64),
    /// Read this many body bytes, then stop reading and never reply.
    StallRead(u64),
}

impl ConnFault {
    /// True when the request is processed before the fault acts (on the reply).
    pub fn processes(self) -> bool {
        !matches!(
            self,
            ConnFault::Drop(DropWhen::BeforeRequest | DropWhen::BeforeReply)
                | ConnFault::Hang
                | ConnFault::StallRead(_)
        )
    }

    /// True when the request takes effect (or, for `bigid`, is accepted) but the client gets
    /// a replaced, cut or no reply: counted as `bad_replies`.
    pub fn is_bad_reply(self) -> bool {
        matches!(
            self,
            ConnFault::Reply(_) | ConnFault::Drop(DropWhen::AfterProcessing | DropWhen::MidReply)
        )
    }

    /// The fault as the request log names it.
    pub fn name(self) -> &'static str {
        match self {
            ConnFault::Reply(kind) => kind.name(),
            ConnFault::Drop(when) => when.name(),
            ConnFault::Hang => "hang",
            ConnFault::Trickle(_) => "trickle",
            ConnFault::StallRead(_) => "stall-read",
        }
    }
}

/// The kinds of download fault that shape the answer; each has its own queue of rules, so
/// one request can take one rule of each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DlKind {
    IgnoreRange,
    Change,
    LieLength,
    Corrupt,
}

impl DlKind {
    pub const ALL: [DlKind; 4] = [
        DlKind::IgnoreRange,
        DlKind::Change,
        DlKind::LieLength,
        DlKind::Corrupt,
    ];

    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            DlKind::IgnoreRange => "ignore-range",
            DlKind::Change => "change",
            DlKind::LieLength => "lie-length",
            DlKind::Corrupt => "corrupt",
        }
    }

    pub fn parse(s: &str) -> Option<DlKind> {
        DlKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A download fault rule's value (`ignore-range`, `change`, `lie-length`, `corrupt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DlFault {
    /// Answer 200 with the whole object although a satisfiable Range came.
    IgnoreRange,
    /// Serve this request, then change the object (new seed, ETag and Last-Modified).
    Change,
    /// Declare `Content-Length` = real + this (bytes sent: the real ones).
    LieLength(i64),
    /// Flip the byte at this absolute offset of the object (XOR 0xff).
    Corrupt(u64),
}

impl DlFault {
    pub fn kind(self) -> DlKind {
        match self {
            DlFault::IgnoreRange => DlKind::IgnoreRange,
            DlFault::Change => DlKind::Change,
            DlFault::LieLength(_) => DlKind::LieLength,
            DlFault::Corrupt(_) => DlKind::Corrupt,
        }
    }
}

/// A download object of `dl-object`: its content is [`crate::dl_content`] of `seed`, made
/// on demand (never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DlObject {
    pub seed: u64,
    pub size: u64,
    /// Emulator-clock seconds (the `Last-Modified`).
    pub modified_secs: i64,
    /// `change` faults applied so far.
    pub changes: u64,
    /// (MD5, SHA-256) in lowercase hex once computed.
    pub digests: Option<(String, String)>,
}

impl DlObject {
    /// The strong entity tag (quoted): it names the seed and the size, so it changes with
    /// the content.
    pub fn etag(&self) -> String {
        format!("\"dl-{:016x}-{:x}\"", self.seed, self.size)
    }

    /// Applies a `change`: the next seed, a new ETag, a Last-Modified at least one second
    /// later than the old one.
    pub fn change(&mut self, now_secs: i64) {
        self.seed = self.seed.wrapping_add(1);
        self.modified_secs = now_secs.max(self.modified_secs.saturating_add(1));
        self.changes += 1;
        self.digests = None;
    }
}

/// How many requests [`DlStats::recent`] keeps.
pub const DL_RECENT: usize = 16;

/// One download request as `dl-stats` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DlRecord {
    pub method: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    /// The status answered (None: no reply, a connection fault).
    pub status: Option<u16>,
}

/// Requests per download (by its subject name: `<name>` or `files/<path>`).
#[derive(Debug, Default)]
pub struct DlStats {
    pub requests: u64,
    pub heads: u64,
    /// Answered 200 (GET and HEAD).
    pub full: u64,
    /// Answered 206.
    pub ranged: u64,
    /// Answered 416.
    pub unsatisfiable: u64,
    /// Requests that took a fault rule of the `download` op.
    pub faults: u64,
    /// Body bytes handed to the connection (shared with the responses being written).
    pub bytes_sent: Arc<AtomicU64>,
    /// The last [`DL_RECENT`] requests, oldest first.
    pub recent: VecDeque<DlRecord>,
}

impl DlStats {
    pub fn record(&mut self, record: DlRecord) {
        if self.recent.len() >= DL_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }
}

/// The object stores of the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreKind {
    Ufile,
    Oss,
    Obs,
    Store,
    StoreForm,
}

impl StoreKind {
    pub const ALL: [StoreKind; 5] = [
        StoreKind::Ufile,
        StoreKind::Oss,
        StoreKind::Obs,
        StoreKind::Store,
        StoreKind::StoreForm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Ufile => "ufile",
            StoreKind::Oss => "oss",
            StoreKind::Obs => "obs",
            StoreKind::Store => "store",
            StoreKind::StoreForm => "store-form",
        }
    }

    pub fn parse(s: &str) -> Option<StoreKind> {
        StoreKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A stored object: its metadata and digests (never its bytes).
#[derive(Clone, Debug, Default)]
pub struct StoredObject {
    pub size: u64,
    pub md5: String,
    pub sha256: String,
    /// The request headers (PUT stores), names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The text fields (form stores), in order.
    pub fields: Vec<(String, String)>,
    /// Form stores: the file part's field name, file name and content type.
    pub file_field: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// Upload attempts per object key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Uploads whose body started streaming into the store.
    pub started: u64,
    /// Uploads stored completely.
    pub completed: u64,
}

/// Requests per op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    pub attempts: u64,
    pub completions: u64,
    pub rejections: u64,
    /// Connections dropped (client gone, `cut`, or a connection fault) without a reply.
    pub aborts: u64,
    /// Requests processed whose reply was replaced, cut or withheld (`reply` rules,
    /// `drop after-processing`, `drop mid-reply`).
    pub bad_replies: u64,
    /// `drop` rules applied (any mode).
    pub drops: u64,
    /// `hang` rules applied.
    pub hangs: u64,
    /// `trickle` rules applied.
    pub trickles: u64,
    /// `stall-read` rules applied.
    pub stalls: u64,
}

/// The lifetimes `url-ttl` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlKind {
    Ufile,
    Oss,
    Obs,
}

impl UrlKind {
    pub fn parse(s: &str) -> Option<UrlKind> {
        match s {
            "ufile" => Some(UrlKind::Ufile),
            "oss" => Some(UrlKind::Oss),
            "obs" => Some(UrlKind::Obs),
            _ => None,
        }
    }

    fn index(self) -> usize {
        match self {
            UrlKind::Ufile => 0,
            UrlKind::Oss => 1,
            UrlKind::Obs => 2,
        }
    }
}

/// Default lifetime of a UFile upload grant (seconds).
pub const DEFAULT_UFILE_TTL_SECS: u64 = 600;
/// Default lifetime of an OSS policy (seed 002: valid 1 minute).
pub const DEFAULT_OSS_TTL_SECS: u64 = 60;
/// Default lifetime of an OBS upload URL (about 5 minutes).
pub const DEFAULT_OBS_TTL_SECS: u64 = 300;
/// Default AppGallery token lifetime (`expires_in` 172800 s).
pub const DEFAULT_AGC_TOKEN_TTL_SECS: u64 = 172_800;

/// Grants of each kind beyond this are pruned of expired entries when a new one is issued.
const GRANT_PRUNE_THRESHOLD: usize = 1024;

/// A UCloud file-upload grant (`POST /api/v1/url`).
#[derive(Clone, Debug)]
pub struct UfileGrant {
    pub device: DeviceKey,
    /// Object key: `<ProductSN>/<DeviceSN>/<FileName>`.
    pub key: String,
    pub authorization: String,
    pub file_size: u64,
    pub md5: String,
    pub content_type: String,
    pub expires_at_ms: i64,
}

/// An issued OSS policy (by object key).
#[derive(Clone, Debug)]
pub struct OssGrant {
    pub account: String,
    pub expires_at_ms: i64,
}

/// An AppGallery upload URL.
#[derive(Clone, Debug)]
pub struct ObsGrant {
    pub client: String,
    pub app_id: String,
    pub object_id: String,
    /// Object key: `<objectId>/<fileName>`.
    pub key: String,
    /// The headers the PUT must carry exactly (names as returned).
    pub headers: Vec<(&'static str, String)>,
    pub content_length: u64,
    pub sha256: String,
    pub expires_at_ms: i64,
}

/// An AppGallery access token.
#[derive(Clone, Debug)]
pub struct AgcToken {
    pub client: String,
    pub expires_at_ms: i64,
    pub expired: bool,
    pub revoked: bool,
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
    /// Auth and publish requests whose reply was replaced, cut or withheld after processing
    /// (see [`ConnFault::is_bad_reply`]); a `bigid` publish counts here, not in `publishes`.
    pub bad_replies: u64,
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

type RuleKey = (Op, Subject);

/// Everything behind the state mutex.
pub struct State {
    pub devices: HashMap<DeviceKey, Device>,
    tokens: HashMap<String, Token>,
    fail_rules: HashMap<RuleKey, VecDeque<Rule<Injected>>>,
    delay_rules: HashMap<RuleKey, VecDeque<Rule<u64>>>,
    cut_rules: HashMap<RuleKey, VecDeque<Rule<u64>>>,
    reject_rules: HashMap<RuleKey, VecDeque<Rule<(u64, Injected)>>>,
    conn_rules: HashMap<RuleKey, VecDeque<Rule<ConnFault>>>,
    dl_rules: HashMap<(DlKind, Subject), VecDeque<Rule<DlFault>>>,
    token_ttl_secs: [u64; 3],
    next_message_id: [u64; 3],
    /// Alibaba AccessKeyId → AccessKeySecret.
    pub accounts: HashMap<String, String>,
    /// AppGallery client_id → client_secret.
    pub agc_clients: HashMap<String, String>,
    agc_tokens: HashMap<String, AgcToken>,
    pub agc_token_ttl_secs: u64,
    url_ttl_secs: [u64; 3],
    /// Seen `SignatureNonce` values, per AccessKeyId.
    nonces: HashSet<(String, String)>,
    /// UFile grants by decoded URL path.
    ufile_grants: HashMap<String, Vec<UfileGrant>>,
    /// OSS policies by object key.
    oss_grants: HashMap<String, OssGrant>,
    /// OBS grants by decoded URL path.
    obs_grants: HashMap<String, ObsGrant>,
    pub objects: BTreeMap<(StoreKind, String), StoredObject>,
    pub key_stats: BTreeMap<(StoreKind, String), KeyStats>,
    pub op_stats: BTreeMap<Op, OpStats>,
    /// `dl-object` objects by name.
    pub downloads: BTreeMap<String, DlObject>,
    /// Download statistics by subject name.
    pub dl_stats: BTreeMap<String, DlStats>,
    /// `serve-dir` (canonical): served as `/files/...`.
    pub serve_dir: Option<PathBuf>,
}

fn cloud_index(cloud: Cloud) -> usize {
    match cloud {
        Cloud::Ucloud => 0,
        Cloud::Aliyun => 1,
        Cloud::Iotda => 2,
    }
}

fn take_one<K: std::hash::Hash + Eq, T: Copy>(
    rules: &mut HashMap<K, VecDeque<Rule<T>>>,
    key: &K,
) -> Option<T> {
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

/// The value of the first pending rule under `key`.
fn front<K: std::hash::Hash + Eq, T: Copy>(
    rules: &HashMap<K, VecDeque<Rule<T>>>,
    key: &K,
) -> Option<T> {
    rules.get(key)?.front().map(|r| r.value)
}

/// Consumes one use of the first rule for (op, subject), or else of the op's `any` rule.
fn take_rule<T: Copy>(
    rules: &mut HashMap<RuleKey, VecDeque<Rule<T>>>,
    op: Op,
    subject: &Subject,
) -> Option<T> {
    take_one(rules, &(op, subject.clone())).or_else(|| {
        if *subject == Subject::Any || !op.takes_any() {
            None
        } else {
            take_one(rules, &(op, Subject::Any))
        }
    })
}

fn push_rule<K: std::hash::Hash + Eq, T>(
    rules: &mut HashMap<K, VecDeque<Rule<T>>>,
    key: K,
    value: T,
    count: u32,
) {
    rules.entry(key).or_default().push_back(Rule {
        value,
        remaining: count,
    });
}

/// Drops the expired entries of a grant map once it has grown large.
fn prune<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    now_ms: i64,
    expiry: impl Fn(&V) -> i64,
) {
    if map.len() >= GRANT_PRUNE_THRESHOLD {
        map.retain(|_, v| expiry(v) > now_ms);
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            devices: HashMap::new(),
            tokens: HashMap::new(),
            fail_rules: HashMap::new(),
            delay_rules: HashMap::new(),
            cut_rules: HashMap::new(),
            reject_rules: HashMap::new(),
            conn_rules: HashMap::new(),
            dl_rules: HashMap::new(),
            token_ttl_secs: [
                DEFAULT_TOKEN_TTL_SECS,
                DEFAULT_TOKEN_TTL_SECS,
                crate::iotda::DEFAULT_TTL_SECS,
            ],
            next_message_id: [UCLOUD_FIRST_MESSAGE_ID, ALIYUN_FIRST_MESSAGE_ID, 1],
            accounts: HashMap::new(),
            agc_clients: HashMap::new(),
            agc_tokens: HashMap::new(),
            agc_token_ttl_secs: DEFAULT_AGC_TOKEN_TTL_SECS,
            url_ttl_secs: [
                DEFAULT_UFILE_TTL_SECS,
                DEFAULT_OSS_TTL_SECS,
                DEFAULT_OBS_TTL_SECS,
            ],
            nonces: HashSet::new(),
            ufile_grants: HashMap::new(),
            oss_grants: HashMap::new(),
            obs_grants: HashMap::new(),
            objects: BTreeMap::new(),
            key_stats: BTreeMap::new(),
            op_stats: BTreeMap::new(),
            downloads: BTreeMap::new(),
            dl_stats: BTreeMap::new(),
            serve_dir: None,
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

    /// Lets every token of `device` expire at `expires_at_ms` at the latest (IoTDA: an old
    /// token stays valid 30 s after a new one).
    pub fn shorten_tokens(&mut self, device: &DeviceKey, expires_at_ms: i64) {
        for t in self.tokens.values_mut().filter(|t| &t.device == device) {
            t.expires_at_ms = t.expires_at_ms.min(expires_at_ms);
        }
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

    pub fn add_fail_rule(&mut self, op: Op, subject: Subject, value: Injected, count: u32) {
        push_rule(&mut self.fail_rules, (op, subject), value, count);
    }

    pub fn add_delay_rule(&mut self, op: Op, subject: Subject, ms: u64, count: u32) {
        push_rule(&mut self.delay_rules, (op, subject), ms, count);
    }

    pub fn add_cut_rule(&mut self, op: Op, subject: Subject, after_bytes: u64, count: u32) {
        push_rule(&mut self.cut_rules, (op, subject), after_bytes, count);
    }

    pub fn add_reject_rule(
        &mut self,
        op: Op,
        subject: Subject,
        after_bytes: u64,
        fault: Injected,
        count: u32,
    ) {
        push_rule(
            &mut self.reject_rules,
            (op, subject),
            (after_bytes, fault),
            count,
        );
    }

    pub fn add_conn_rule(&mut self, op: Op, subject: Subject, fault: ConnFault, count: u32) {
        push_rule(&mut self.conn_rules, (op, subject), fault, count);
    }

    pub fn add_dl_rule(&mut self, subject: Subject, fault: DlFault, count: u32) {
        push_rule(&mut self.dl_rules, (fault.kind(), subject), fault, count);
    }

    /// Consumes one use of the first pending download rule of `kind` for `subject` (else of
    /// its `any` rule) when `applies` holds for it; otherwise leaves it pending.
    pub fn take_dl(
        &mut self,
        kind: DlKind,
        subject: &Subject,
        applies: impl Fn(DlFault) -> bool,
    ) -> Option<DlFault> {
        let specific = (kind, subject.clone());
        let key = match front(&self.dl_rules, &specific) {
            Some(_) => specific,
            None => (kind, Subject::Any),
        };
        let value = front(&self.dl_rules, &key)?;
        if !applies(value) {
            return None;
        }
        take_one(&mut self.dl_rules, &key)
    }

    /// Consumes one use of the first pending delay rule for (op, subject).
    pub fn take_delay(&mut self, op: Op, subject: &Subject) -> Option<u64> {
        take_rule(&mut self.delay_rules, op, subject)
    }

    /// Consumes one use of the first pending fail rule for (op, subject).
    pub fn take_fail(&mut self, op: Op, subject: &Subject) -> Option<Injected> {
        take_rule(&mut self.fail_rules, op, subject)
    }

    /// Consumes one use of the first pending cut rule for (op, subject).
    pub fn take_cut(&mut self, op: Op, subject: &Subject) -> Option<u64> {
        take_rule(&mut self.cut_rules, op, subject)
    }

    /// Consumes one use of the first pending reject rule for (op, subject).
    pub fn take_reject(&mut self, op: Op, subject: &Subject) -> Option<(u64, Injected)> {
        take_rule(&mut self.reject_rules, op, subject)
    }

    /// Consumes one use of the first pending connection or reply fault rule for (op, subject).
    pub fn take_conn(&mut self, op: Op, subject: &Subject) -> Option<ConnFault> {
        take_rule(&mut self.conn_rules, op, subject)
    }

    pub fn clear_rules(&mut self) {
        self.fail_rules.clear();
        self.delay_rules.clear();
        self.cut_rules.clear();
        self.reject_rules.clear();
        self.conn_rules.clear();
        self.dl_rules.clear();
    }

    pub fn url_ttl_secs(&self, kind: UrlKind) -> u64 {
        self.url_ttl_secs[kind.index()]
    }

    pub fn set_url_ttl_secs(&mut self, kind: UrlKind, secs: u64) {
        self.url_ttl_secs[kind.index()] = secs;
    }

    /// Emulator-clock expiry of something issued now that lives `secs` seconds.
    pub fn expiry_ms(now_ms: i64, secs: u64) -> i64 {
        now_ms.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
    }

    /// Records `nonce` for `account`; false when it was seen before.
    pub fn use_nonce(&mut self, account: &str, nonce: &str) -> bool {
        self.nonces.insert((account.to_string(), nonce.to_string()))
    }

    pub fn add_ufile_grant(&mut self, path: String, grant: UfileGrant, now_ms: i64) {
        if self.ufile_grants.len() >= GRANT_PRUNE_THRESHOLD {
            for grants in self.ufile_grants.values_mut() {
                grants.retain(|g| g.expires_at_ms > now_ms);
            }
            self.ufile_grants.retain(|_, g| !g.is_empty());
        }
        self.ufile_grants.entry(path).or_default().push(grant);
    }

    /// The grants issued for a decoded UFile path (newest last).
    pub fn ufile_grants(&self, path: &str) -> &[UfileGrant] {
        self.ufile_grants.get(path).map_or(&[], Vec::as_slice)
    }

    pub fn add_oss_grant(&mut self, key: String, grant: OssGrant, now_ms: i64) {
        prune(&mut self.oss_grants, now_ms, |g| g.expires_at_ms);
        self.oss_grants.insert(key, grant);
    }

    pub fn oss_grant(&self, key: &str) -> Option<&OssGrant> {
        self.oss_grants.get(key)
    }

    pub fn add_obs_grant(&mut self, path: String, grant: ObsGrant, now_ms: i64) {
        prune(&mut self.obs_grants, now_ms, |g| g.expires_at_ms);
        self.obs_grants.insert(path, grant);
    }

    pub fn obs_grant(&self, path: &str) -> Option<&ObsGrant> {
        self.obs_grants.get(path)
    }

    /// Records an AppGallery token for `client` issued at `now_ms`; returns its lifetime in
    /// seconds (the `expires_in` to answer).
    pub fn issue_agc_token(&mut self, token: String, client: String, now_ms: i64) -> u64 {
        prune(&mut self.agc_tokens, now_ms, |t| t.expires_at_ms);
        let ttl = self.agc_token_ttl_secs;
        self.agc_tokens.insert(
            token,
            AgcToken {
                client,
                expires_at_ms: State::expiry_ms(now_ms, ttl),
                expired: false,
                revoked: false,
            },
        );
        ttl
    }

    /// The client of a valid AppGallery token.
    pub fn check_agc_token(&self, token: &str, now_ms: i64) -> Option<String> {
        match self.agc_tokens.get(token) {
            Some(t) if !t.revoked && !t.expired && now_ms < t.expires_at_ms => {
                Some(t.client.clone())
            }
            _ => None,
        }
    }

    /// Marks (`revoke` false) or revokes every token of an AppGallery client; returns how many.
    pub fn end_agc_tokens(&mut self, client: &str, revoke: bool) -> usize {
        let mut n = 0;
        for t in self.agc_tokens.values_mut().filter(|t| t.client == client) {
            if revoke {
                t.revoked = true;
            } else {
                t.expired = true;
            }
            n += 1;
        }
        n
    }

    /// Counts an upload whose body started streaming into `store` under `key`.
    pub fn upload_started(&mut self, store: StoreKind, key: &str) {
        self.key_stats
            .entry((store, key.to_string()))
            .or_default()
            .started += 1;
    }

    /// Stores a completely received object (replacing an older one under the same key).
    pub fn store_object(&mut self, store: StoreKind, key: &str, object: StoredObject) {
        self.key_stats
            .entry((store, key.to_string()))
            .or_default()
            .completed += 1;
        self.objects.insert((store, key.to_string()), object);
    }

    pub fn op_stats_mut(&mut self, op: Op) -> &mut OpStats {
        self.op_stats.entry(op).or_default()
    }

    /// Defines (or replaces) a `dl-object`; its statistics start afresh.
    pub fn define_download(&mut self, name: &str, object: DlObject) {
        self.downloads.insert(name.to_string(), object);
        self.dl_stats.remove(name);
    }

    /// Forgets the download objects, the download statistics and the served directory.
    pub fn clear_downloads(&mut self) {
        self.downloads.clear();
        self.dl_stats.clear();
        self.serve_dir = None;
    }

    /// Forgets stored objects and upload statistics.
    pub fn clear_objects(&mut self) {
        self.objects.clear();
        self.key_stats.clear();
        self.op_stats.clear();
    }
}

/// The HTTP(S) listeners of the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// The main HTTPS listener (certificate from the CA in `ca.pem`).
    Https,
    /// The plain HTTP listener (`Options::plain_http`).
    Plain,
    /// HTTPS with a leaf signed by a second CA, not in `ca.pem`.
    Untrusted,
    /// HTTPS with an expired leaf.
    Expired,
    /// HTTPS with a leaf for `wrong.example` only.
    WrongHost,
    /// HTTPS offering only TLS 1.2.
    Tls12,
    /// HTTPS with a leaf valid only from a year from now.
    Future,
    /// HTTPS (TLS 1.3 only) requiring a client certificate signed by the device CA.
    Mtls,
    /// The same, TLS 1.2 only.
    Mtls12,
}

impl Port {
    pub const ALL: [Port; 9] = [
        Port::Https,
        Port::Plain,
        Port::Untrusted,
        Port::Expired,
        Port::WrongHost,
        Port::Tls12,
        Port::Future,
        Port::Mtls,
        Port::Mtls12,
    ];

    /// The name in `handshakes-all` and in thread names.
    pub fn name(self) -> &'static str {
        match self {
            Port::Https => "https",
            Port::Plain => "http",
            Port::Untrusted => "untrusted",
            Port::Expired => "expired",
            Port::WrongHost => "wrong-host",
            Port::Tls12 => "tls12",
            Port::Future => "future",
            Port::Mtls => "mtls",
            Port::Mtls12 => "mtls12",
        }
    }

    fn index(self) -> usize {
        match self {
            Port::Https => 0,
            Port::Plain => 1,
            Port::Untrusted => 2,
            Port::Expired => 3,
            Port::WrongHost => 4,
            Port::Tls12 => 5,
            Port::Future => 6,
            Port::Mtls => 7,
            Port::Mtls12 => 8,
        }
    }
}

/// Connection counters of one listener.
#[derive(Debug, Default)]
pub struct PortCounters {
    /// Accepted TCP connections.
    pub connections: AtomicU64,
    /// Completed TLS handshakes.
    pub handshakes: AtomicU64,
    /// TLS handshakes that failed (e.g. the client refused the certificate).
    pub failed_handshakes: AtomicU64,
    /// Connections left silent by `accept-no-tls`.
    pub silent: AtomicU64,
    /// Connections that sent plain HTTP to a TLS port (answered 400).
    pub plain_http: AtomicU64,
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
    /// Per-listener counters (see [`Port`]).
    ports: [PortCounters; Port::ALL.len()],
    /// `accept-no-tls on`: new HTTPS connections get no TLS handshake at all.
    pub accept_no_tls: AtomicBool,
    /// `upload-urls http`: upload URLs handed out use plain `http://`.
    pub upload_urls_http: AtomicBool,
    /// `http://127.0.0.1:PORT` of the plain listener (else of the HTTPS port), set at start.
    pub http_upload_base: OnceLock<String>,
    /// The device certificates (DER) the emulator made, with their names: how a route
    /// names the client certificate a connection presented.
    pub client_certs: OnceLock<Vec<(Vec<u8>, &'static str)>>,
    /// Requests that arrived over plain HTTP on an upload path (`/ufile`, `/oss`, `/obs`),
    /// on the plain listener or on a TLS port.
    pub plain_http_uploads: AtomicU64,
    /// Set when the emulator shuts down.
    pub stop: AtomicBool,
    /// Set by the `quit` control command.
    pub quit: AtomicBool,
    /// Key of the UCloud JWT signatures (device tokens and UFile grants).
    pub token_key: Vec<u8>,
    /// The OSS AccessKeyId that signs OTA upload policies.
    pub oss_key_id: String,
    /// Its secret.
    pub oss_secret: String,
    /// Key of the OBS upload-URL signatures.
    pub obs_key: Vec<u8>,
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
            ports: Default::default(),
            accept_no_tls: AtomicBool::new(false),
            upload_urls_http: AtomicBool::new(false),
            http_upload_base: OnceLock::new(),
            client_certs: OnceLock::new(),
            plain_http_uploads: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            quit: AtomicBool::new(false),
            token_key: crate::sign::random_bytes(32),
            oss_key_id: format!(
                "LTAIemu{}",
                crate::sign::hex(&crate::sign::random_bytes(6)).to_uppercase()
            ),
            oss_secret: crate::sign::b64url(&crate::sign::random_bytes(21)),
            obs_key: crate::sign::random_bytes(32),
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

    pub fn port(&self, port: Port) -> &PortCounters {
        &self.ports[port.index()]
    }

    /// The scheme and address upload URLs handed out on a listener whose own base is
    /// `listener_base` point to (`upload-urls`).
    pub fn upload_base<'a>(&'a self, listener_base: &'a str) -> &'a str {
        match self.http_upload_base.get() {
            Some(http) if self.upload_urls_http.load(Ordering::SeqCst) => http,
            _ => listener_base,
        }
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
