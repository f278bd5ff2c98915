//! Fault rules at a request's fault point, and the connection and reply faults (`reply`,
//! `drop`, `hang`, `trickle`, `stall-read`).
//!
//! Every handler calls [`take`] where the request's subject (device, account, AGC client)
//! is known, before it validates or processes anything. That consumes, in this order, the
//! pending `delay` (slept at once), `fail`, `cut` and connection-fault rule of (op,
//! subject); a request answered by a `fail` rule is neither cut nor given a connection
//! fault, and a cut request no connection fault (those rules stay pending).
//!
//! A connection fault that replaces processing (`drop before-request|before-reply`,
//! `hang`, `stall-read`: nothing is recorded or stored) comes back in
//! [`Faults::silent`] and the handler returns it at once. The others (every `reply` kind,
//! `drop after-processing|mid-reply`, `trickle`) are armed for the request being handled
//! on this connection thread: the request is processed normally — a publish recorded, an
//! upload stored: "the cloud did it, but the answer got lost or mangled" — and the router
//! then hands the reply to [`apply`]. The one exception is `reply bigid`: the publish
//! handler asks [`armed`] and does not record the message.
//!
//! Downloads take their rules through [`take_download`], which adds the faults that shape a
//! download's answer (`ignore-range`, `change`, `lie-length`, `corrupt`; see
//! [`DlFaults`]).

use std::cell::RefCell;
use std::time::Duration;

use crate::http::{Delivery, Filler, Response, Silence};
use crate::sign;
use crate::state::{
    ConnFault, DlFault, DlKind, DropWhen, Injected, Op, ReplyKind, Shared, Subject,
};
use crate::Cloud;

/// Body size of a `reply huge` (10 MiB).
pub const HUGE_BODY: u64 = 10 * 1024 * 1024;

/// Header block size of a `reply hugeheader` (1 MiB of `X-Pad-NNNN` lines).
pub const HUGE_HEADER: u64 = 1024 * 1024;

/// Bytes of a `reply garbage` body.
pub const GARBAGE_BYTES: usize = 512;

/// `reply notjson` body.
pub const NOT_JSON_BODY: &str = "<html><body>Gateway</body></html>";

/// Body declared by `reply truncated` and `drop mid-reply` when the processed reply has
/// none (half of it is sent), so that the reply really is cut short.
pub const PLACEHOLDER_BODY: usize = 32;

/// A message id above 2^64 as UCloud writes ids (a string).
pub const UCLOUD_BIG_ID: &str = "18446744073709551616123";

/// A message id above 2^64 as Alibaba writes ids (an integer literal).
pub const ALIYUN_BIG_ID: &str = "18446744073709551616";

/// A connection fault armed for the request being handled.
#[derive(Clone, Debug)]
pub struct Armed {
    pub op: Op,
    /// The request's subject (not necessarily the rule's: `any` rules match every subject).
    pub subject: Subject,
    pub fault: ConnFault,
}

thread_local! {
    /// The fault armed for the request this connection thread is handling.
    static ARMED: RefCell<Option<Armed>> = const { RefCell::new(None) };
}

/// The fault rules that apply to one request.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail: Option<Injected>,
    /// `cut` after this many body bytes.
    pub cut: Option<u64>,
    /// `reject`: after this many body bytes, answer this error and reset the connection.
    pub reject: Option<(u64, Injected)>,
    /// A connection fault that replaces processing: return this at once.
    pub silent: Option<Response>,
}

impl Faults {
    /// The answer that replaces processing, if any: a `fail` rule's (made by `injected`) or
    /// a connection fault's silence.
    pub fn answer(&mut self, injected: impl FnOnce(Injected) -> Response) -> Option<Response> {
        match self.fail.take() {
            Some(fault) => Some(injected(fault)),
            None => self.silent.take(),
        }
    }

    /// A `reject` rule's answer: reads (and discards) its number of body bytes, then
    /// answers its error (made by `injected`) and closes the connection at once, the rest of
    /// the body unread, so the kernel resets it under a client that is still sending — the
    /// way a store refuses an upload early. None when no reject rule is pending.
    pub fn reject(
        &mut self,
        body: &mut dyn std::io::Read,
        injected: impl FnOnce(Injected) -> Response,
    ) -> Option<Response> {
        let (after, fault) = self.reject.take()?;
        if std::io::copy(&mut std::io::Read::take(body, after), &mut std::io::sink()).is_err() {
            return Some(Response::abort());
        }
        let mut resp = injected(fault).closing();
        resp.plan_mut().name = "reject";
        resp.plan_mut().delivery = Delivery::ThenReset;
        Some(resp)
    }
}

/// Consumes the pending rules of (op, subject) (the op's `any` rules when no specific one
/// is pending): sleeps for a delay rule, arms a reply fault, returns the rest.
pub fn take(shared: &Shared, op: Op, subject: &Subject) -> Faults {
    let (delay, fail, cut, reject, conn) = {
        let mut state = shared.lock();
        let delay = state.take_delay(op, subject);
        let fail = state.take_fail(op, subject);
        let cut = if fail.is_none() && op.has_upload_body() {
            state.take_cut(op, subject)
        } else {
            None
        };
        let reject = if fail.is_none() && cut.is_none() && op.has_upload_body() {
            state.take_reject(op, subject)
        } else {
            None
        };
        let conn = if fail.is_none() && cut.is_none() && reject.is_none() {
            state.take_conn(op, subject)
        } else {
            None
        };
        (delay, fail, cut, reject, conn)
    };
    if let Some(ms) = delay {
        std::thread::sleep(Duration::from_millis(ms));
    }
    Faults {
        fail,
        cut,
        reject,
        silent: conn.and_then(|fault| connection_fault(shared, op, subject, fault)),
    }
}

/// Arms a connection fault that lets the request be processed (the router then hands the
/// reply to [`apply`]), or returns the silence of one that replaces the processing (and
/// counts it).
fn connection_fault(
    shared: &Shared,
    op: Op,
    subject: &Subject,
    fault: ConnFault,
) -> Option<Response> {
    if fault.processes() {
        ARMED.with(|a| {
            *a.borrow_mut() = Some(Armed {
                op,
                subject: subject.clone(),
                fault,
            })
        });
        return None;
    }
    let silence = match fault {
        ConnFault::Drop(DropWhen::BeforeReply) => Silence::Drain,
        ConnFault::Hang => Silence::Hold,
        ConnFault::StallRead(after) => Silence::Stall(after),
        _ => Silence::Close,
    };
    count(shared, op, subject, fault);
    Some(Response::silent(fault.name(), silence))
}

/// What a download request is, for deciding which rules it takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DlRequest {
    /// A GET answered with (part of) the object: 200 or 206, not HEAD or 416.
    pub body: bool,
    /// The bytes a 206 would serve (first, last), when the answer is one.
    pub part: Option<(u64, u64)>,
    /// The object's size.
    pub size: u64,
    /// A `dl-object` (which `change` can change), not a served file.
    pub changeable: bool,
}

/// The fault rules that apply to one download request.
#[derive(Debug, Default)]
pub struct DlFaults {
    pub fail: Option<Injected>,
    /// A connection fault that replaces processing: return this at once.
    pub silent: Option<Response>,
    /// A connection fault was armed for the reply.
    pub armed: bool,
    /// `cut`: the headers and this many body bytes, then the connection dropped.
    pub cut: Option<u64>,
    pub ignore_range: bool,
    pub change: bool,
    pub lie_length: Option<i64>,
    pub corrupt: Option<u64>,
}

impl DlFaults {
    /// True when the request took any rule (a delay aside).
    pub fn any(&self) -> bool {
        self.fail.is_some()
            || self.silent.is_some()
            || self.armed
            || self.cut.is_some()
            || self.ignore_range
            || self.change
            || self.lie_length.is_some()
            || self.corrupt.is_some()
    }
}

/// Consumes the pending `download` rules of `subject` (else of `any`) that apply to `req`:
/// the delay (slept at once) and `fail`; unless failed, `cut` (body answers only) or else
/// one connection fault; unless that replaces processing, one rule of each answer-shaping
/// kind that acts on this answer: `ignore-range` (a 206 only), `change` (`dl-object`s
/// only), `lie-length`, and `corrupt` (when its offset is among the bytes served), all on
/// body answers only. Rules that do not apply stay pending.
pub fn take_download(shared: &Shared, subject: &Subject, req: DlRequest) -> DlFaults {
    let op = Op::Download;
    let (delay, mut faults, conn) = {
        let mut state = shared.lock();
        let delay = state.take_delay(op, subject);
        let mut faults = DlFaults {
            fail: state.take_fail(op, subject),
            ..DlFaults::default()
        };
        let mut conn = None;
        if faults.fail.is_none() {
            if req.body {
                faults.cut = state.take_cut(op, subject);
            }
            if faults.cut.is_none() {
                conn = state.take_conn(op, subject);
            }
        }
        if req.body && faults.fail.is_none() && conn.is_none_or(ConnFault::processes) {
            let always = |_| true;
            faults.ignore_range = req.part.is_some()
                && state
                    .take_dl(DlKind::IgnoreRange, subject, always)
                    .is_some();
            faults.change =
                req.changeable && state.take_dl(DlKind::Change, subject, always).is_some();
            if let Some(DlFault::LieLength(delta)) =
                state.take_dl(DlKind::LieLength, subject, always)
            {
                faults.lie_length = Some(delta);
            }
            let (first, last) = match req.part {
                Some(part) if !faults.ignore_range => part,
                _ => (0, req.size.saturating_sub(1)),
            };
            let served = |f| match f {
                DlFault::Corrupt(at) => req.size > 0 && (first..=last).contains(&at),
                _ => false,
            };
            if let Some(DlFault::Corrupt(at)) = state.take_dl(DlKind::Corrupt, subject, served) {
                faults.corrupt = Some(at);
            }
        }
        (delay, faults, conn)
    };
    if let Some(ms) = delay {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if let Some(fault) = conn {
        faults.silent = connection_fault(shared, op, subject, fault);
        faults.armed = faults.silent.is_none();
    }
    faults
}

/// The fault armed for the request being handled on this thread.
pub fn armed() -> Option<ConnFault> {
    ARMED.with(|a| a.borrow().as_ref().map(|a| a.fault))
}

/// Takes the armed fault (the router calls this before and after each request).
pub fn disarm() -> Option<Armed> {
    ARMED.with(|a| a.borrow_mut().take())
}

/// Counts an applied fault: `bad_replies` of the device (auth, publish) or of the op, and
/// the op's per-kind counters.
fn count(shared: &Shared, op: Op, subject: &Subject, fault: ConnFault) {
    let mut state = shared.lock();
    if op.is_upload_op() {
        let stats = state.op_stats_mut(op);
        if fault.is_bad_reply() {
            stats.bad_replies += 1;
        }
        match fault {
            ConnFault::Drop(_) => stats.drops += 1,
            ConnFault::Hang => stats.hangs += 1,
            ConnFault::Trickle(_) => stats.trickles += 1,
            ConnFault::StallRead(_) => stats.stalls += 1,
            ConnFault::Reply(_) => {}
        }
    } else if let Subject::Device(key) = subject {
        if fault.is_bad_reply() {
            if let Some(d) = state.device_mut(key) {
                d.bad_replies += 1;
            }
        }
    }
}

/// True when the op answers in UCloud's `{"RetCode":…,"Message":…}` shape.
fn ucloud_shaped(op: Op, subject: &Subject) -> bool {
    match op {
        Op::FileUrl | Op::FilePut => true,
        Op::Auth | Op::Publish => matches!(subject, Subject::Device((Cloud::Ucloud, _, _))),
        _ => false,
    }
}

/// `reply missing`: the success code without the op's required fields. The byte uploads
/// (whose success carries no required body field) get HTTP 200 with no body and none of
/// the success headers (no ETag).
fn missing_body(op: Op, ucloud: bool) -> &'static str {
    match (op, ucloud) {
        (Op::Auth | Op::Publish, true) => r#"{"RetCode":0,"Message":"Success"}"#,
        (Op::Auth, false) => r#"{"code":0,"message":"success","info":{}}"#,
        (Op::Publish, false) => r#"{"code":0,"message":"success"}"#,
        (Op::FileUrl, _) => r#"{"RetCode":0}"#,
        (Op::OtaUrl, _) => r#"{"RequestId":"x","Success":true,"Data":{}}"#,
        (Op::AgcToken, _) => r#"{"expires_in":100}"#,
        (Op::AgcUrl, _) => r#"{"ret":{"code":0,"msg":"success"}}"#,
        (Op::FilePut | Op::OssPost | Op::ObsPut | Op::StorePut | Op::StoreForm, _) => "",
        (Op::Download, _) => "",
    }
}

/// A reply cut after half its body: the processed reply, or when it has no body, a
/// [`PLACEHOLDER_BODY`]-byte one (and status 200 instead of 204).
fn cut_in_half(mut resp: Response) -> Response {
    if resp.body_len() == 0 {
        resp.body = vec![b' '; PLACEHOLDER_BODY];
        if resp.status == 204 {
            resp.status = 200;
        }
    }
    resp.plan_mut().delivery = Delivery::Partial(resp.body_len() / 2);
    resp
}

/// The reply of a `reply` rule, given the processed one.
fn replace(kind: ReplyKind, op: Op, subject: &Subject, processed: Response) -> Response {
    let ucloud = ucloud_shaped(op, subject);
    let with = |content_type: Option<&'static str>, body: Vec<u8>| Response {
        content_type,
        body,
        close: processed.close,
        code: processed.code,
        ..Response::json(200, String::new())
    };
    match kind {
        ReplyKind::Garbage => with(Some("application/json"), sign::random_bytes(GARBAGE_BYTES)),
        ReplyKind::Empty => with(None, Vec::new()),
        ReplyKind::NotJson => with(Some("text/html"), NOT_JSON_BODY.into()),
        ReplyKind::Missing => {
            let iotda = matches!(subject, Subject::Device((Cloud::Iotda, _, _)));
            // IoTDA: an auth reply without its access_token (its publish success has no body).
            let body = match (iotda, op) {
                (true, Op::Auth) => r#"{"expires_in":86399}"#,
                (true, _) => "",
                _ => missing_body(op, ucloud),
            };
            let content_type = (!body.is_empty()).then_some("application/json");
            with(content_type, body.into())
        }
        ReplyKind::BigId => {
            let body = if ucloud {
                format!(r#"{{"RetCode":0,"Message":"Success","MessageID":"{UCLOUD_BIG_ID}"}}"#)
            } else {
                format!(
                    r#"{{"code":0,"message":"success","info":{{"messageId":{ALIYUN_BIG_ID}}}}}"#
                )
            };
            with(Some("application/json"), body.into_bytes())
        }
        ReplyKind::Huge => {
            let head: &[u8] = if ucloud {
                br#"{"RetCode":0,"Message":""#
            } else {
                br#"{"code":0,"message":""#
            };
            let tail = br#""}"#.to_vec();
            let fill = HUGE_BODY - head.len() as u64 - tail.len() as u64;
            let mut resp = with(Some("application/json"), head.to_vec());
            resp.plan_mut().filler = Some(Filler {
                byte: b'x',
                len: fill,
                tail,
            });
            resp
        }
        ReplyKind::HugeHeader => {
            let mut resp = Response {
                status: 200,
                ..processed
            };
            resp.plan_mut().header_pad = HUGE_HEADER;
            resp
        }
        ReplyKind::Truncated => Response {
            status: 200,
            ..cut_in_half(processed)
        },
    }
}

/// Applies an armed fault to the processed request's reply (and counts it). A dropped
/// connection (the client went away) is left alone.
pub fn apply(shared: &Shared, armed: Armed, processed: Response) -> Response {
    if processed.abort {
        return processed;
    }
    count(shared, armed.op, &armed.subject, armed.fault);
    let name = armed.fault.name();
    let mut resp = match armed.fault {
        ConnFault::Reply(kind) => replace(kind, armed.op, &armed.subject, processed),
        ConnFault::Drop(DropWhen::AfterProcessing) => Response::silent(name, Silence::Drain),
        ConnFault::Drop(DropWhen::MidReply) => cut_in_half(processed),
        ConnFault::Trickle(rate) => {
            let mut resp = processed;
            resp.plan_mut().delivery = Delivery::Trickle(rate);
            resp
        }
        // Acted on at the fault point; never armed.
        ConnFault::Drop(_) | ConnFault::Hang | ConnFault::StallRead(_) => processed,
    };
    resp.plan_mut().name = name;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(cloud: Cloud) -> Subject {
        Subject::Device((cloud, "p".into(), "d".into()))
    }

    #[test]
    fn replacements() {
        let ok = || Response::json(200, r#"{"RetCode":0,"Token":"abc"}"#.into()).with_code(0);
        let uc = dev(Cloud::Ucloud);
        let al = dev(Cloud::Aliyun);
        let r = replace(ReplyKind::Garbage, Op::Auth, &uc, ok());
        assert_eq!((r.status, r.body.len()), (200, GARBAGE_BYTES));
        let r = replace(ReplyKind::Empty, Op::Auth, &uc, ok());
        assert_eq!((r.body_len(), r.content_type), (0, None));
        let r = replace(ReplyKind::NotJson, Op::Publish, &al, ok());
        assert_eq!(r.content_type, Some("text/html"));
        let r = replace(ReplyKind::Missing, Op::Auth, &al, ok());
        assert_eq!(r.body, br#"{"code":0,"message":"success","info":{}}"#);
        let r = replace(ReplyKind::Missing, Op::OtaUrl, &Subject::Any, ok());
        assert_eq!(r.body, br#"{"RequestId":"x","Success":true,"Data":{}}"#);
        let r = replace(ReplyKind::Missing, Op::StorePut, &Subject::Any, ok());
        assert_eq!((r.body_len(), r.headers.len()), (0, 0));
        let r = replace(ReplyKind::BigId, Op::Publish, &al, ok());
        assert!(String::from_utf8(r.body)
            .unwrap()
            .contains("\"messageId\":18446744073709551616}"));
        let r = replace(ReplyKind::Huge, Op::Publish, &uc, ok());
        assert_eq!(r.body_len(), HUGE_BODY);
        assert!(r.body.starts_with(b"{\"RetCode\":0,"));
        let r = replace(ReplyKind::Truncated, Op::Auth, &uc, ok());
        let len = ok().body.len() as u64;
        assert_eq!(
            (r.body_len(), r.plan().delivery),
            (len, Delivery::Partial(len / 2))
        );
        let r = cut_in_half(crate::upload::empty(204));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.plan().delivery,
            Delivery::Partial(PLACEHOLDER_BODY as u64 / 2)
        );
        let r = replace(ReplyKind::HugeHeader, Op::Auth, &uc, ok());
        assert_eq!((r.plan().header_pad, r.body), (HUGE_HEADER, ok().body));
    }

    #[test]
    fn armed_per_thread() {
        let shared = Shared::default();
        let key = (Cloud::Ucloud, "p".to_string(), "d".to_string());
        let subject = Subject::Device(key.clone());
        shared.lock().add_device(key, "s", false);
        {
            let mut state = shared.lock();
            state.add_conn_rule(Op::Publish, subject.clone(), ConnFault::Hang, 1);
            state.add_conn_rule(
                Op::Publish,
                subject.clone(),
                ConnFault::Reply(ReplyKind::Empty),
                1,
            );
        }
        let mut f = take(&shared, Op::Publish, &subject);
        let silent = f
            .answer(|_| unreachable!())
            .expect("hang replaces processing");
        assert_eq!((silent.abort, silent.plan().silence), (true, Silence::Hold));
        assert_eq!(armed(), None);
        let mut f = take(&shared, Op::Publish, &subject);
        assert!(f.answer(|_| unreachable!()).is_none());
        assert_eq!(armed(), Some(ConnFault::Reply(ReplyKind::Empty)));
        std::thread::spawn(|| assert_eq!(armed(), None))
            .join()
            .unwrap();
        let a = disarm().unwrap();
        let r = apply(&shared, a, Response::json(200, "{}".into()));
        assert_eq!(r.plan().name, "empty");
        assert_eq!(disarm().map(|a| a.fault), None);
        let d = shared
            .lock()
            .device(&(Cloud::Ucloud, "p".into(), "d".into()))
            .map(|d| d.bad_replies);
        assert_eq!(d, Some(1));
    }
}
