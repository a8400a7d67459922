//! SLOWLOG and the LATENCY monitor, plus the argument redaction both SLOWLOG and MONITOR apply
//! to secrets (AUTH passwords, CONFIG SET requirepass...).

use super::client::ClientHandle;
use super::Server;
use crate::commands::Command;
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Redis keeps at most 32 arguments per entry and 128 bytes per argument.
const MAX_ARGC: usize = 32;
const MAX_ARG_LEN: usize = 128;

/// What a redacted argument is replaced with.
pub const REDACTED: &[u8] = b"(redacted)";

/// Positions of arguments that must never be shown (bit i = argv[i]), as Redis's
/// `redactClientCommandArgument` calls do: passwords of AUTH, HELLO AUTH, MIGRATE AUTH/AUTH2,
/// every argument of ACL SETUSER after the name, values of sensitive CONFIG SET directives.
pub fn redaction_mask(cmd: &Command, argv: &[&[u8]]) -> u64 {
    let bit = |i: usize| if i < 64 { 1u64 << i } else { 0 };
    let from = |start: usize| (start..argv.len()).fold(0u64, |m, i| m | bit(i));
    let is = |i: usize, w: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()));
    match cmd.full_name.as_str() {
        "auth" => from(1),
        "acl|setuser" => from(2),
        "hello" => {
            let mut m = 0;
            let mut j = 2;
            while j < argv.len() {
                if is(j, "auth") && j + 2 < argv.len() {
                    m |= bit(j + 1) | bit(j + 2);
                    j += 3;
                } else if is(j, "setname") {
                    j += 2;
                } else {
                    break;
                }
            }
            m
        }
        "migrate" => {
            let mut m = 0;
            let mut j = 6;
            while j < argv.len() {
                if is(j, "auth") {
                    m |= bit(j + 1);
                    j += 2;
                } else if is(j, "auth2") {
                    m |= bit(j + 1) | bit(j + 2);
                    j += 3;
                } else if is(j, "keys") {
                    break;
                } else {
                    j += 1;
                }
            }
            m
        }
        "config|set" => {
            let mut m = 0;
            let mut j = 2;
            while j + 1 < argv.len() {
                let name = String::from_utf8_lossy(argv[j]).to_ascii_lowercase();
                if matches!(name.as_str(), "masterauth" | "masteruser" | "requirepass") {
                    m |= bit(j + 1);
                }
                j += 2;
            }
            m
        }
        _ => 0,
    }
}

pub struct SlowEntry {
    pub id: u64,
    pub time: i64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub peer: String,
    pub name: String,
}

#[derive(Default)]
pub struct SlowLog {
    pub entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
}

impl SlowLog {
    /// Logs a command that ran for `us` microseconds if it passes `slowlog-log-slower-than`
    /// (the cheap checks come first: most commands return after two atomic loads).
    pub fn record(&self, srv: &Server, client: &ClientHandle, cmd: &Command, argv: &[&[u8]], us: u64, now_ms: i64) {
        let threshold = srv.config.hot.slowlog_log_slower_than.load(Relaxed);
        if threshold < 0 || (us as i64) < threshold {
            return;
        }
        let max_len = srv.config.hot.slowlog_max_len.load(Relaxed).max(0) as usize;
        let redact = redaction_mask(cmd, argv);
        let mut args: Vec<Vec<u8>> = Vec::new();
        let argc = argv.len().min(MAX_ARGC);
        for (i, a) in argv.iter().take(argc).enumerate() {
            if i == MAX_ARGC - 1 && argv.len() > MAX_ARGC {
                args.push(format!("... ({} more arguments)", argv.len() - MAX_ARGC + 1).into_bytes());
            } else if redact & (1 << i) != 0 {
                args.push(REDACTED.to_vec());
            } else if a.len() > MAX_ARG_LEN {
                let mut v = a[..MAX_ARG_LEN].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
                args.push(v);
            } else {
                args.push(a.to_vec());
            }
        }
        let name = client.name.lock().clone().unwrap_or_default();
        let e = SlowEntry {
            id: self.next_id.fetch_add(1, Relaxed),
            time: now_ms / 1000,
            duration_us: us,
            args,
            peer: client.addr.clone(),
            name: String::from_utf8_lossy(&name).into_owned(),
        };
        let mut l = self.entries.lock();
        l.push_front(e);
        while l.len() > max_len {
            l.pop_back();
        }
    }

    /// Drops the oldest entries beyond `max_len` (CONFIG SET slowlog-max-len).
    pub fn trim(&self, max_len: usize) {
        let mut l = self.entries.lock();
        while l.len() > max_len {
            l.pop_back();
        }
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One latency event's history.
#[derive(Default, Clone)]
pub struct LatencyEvent {
    /// (unix seconds, max latency in ms within that second), at most 160 samples.
    pub samples: VecDeque<(i64, u64)>,
    /// The highest latency ever seen for the event.
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    pub events: Mutex<BTreeMap<String, LatencyEvent>>,
}

pub const LATENCY_HISTORY_LEN: usize = 160;

impl LatencyMonitor {
    /// Records `ms` for `event` at `now_ms`; samples within the same second keep their maximum.
    pub fn add(&self, event: &str, ms: u64, now_ms: i64) {
        let now = now_ms / 1000;
        let mut m = self.events.lock();
        let e = m.entry(event.to_string()).or_default();
        match e.samples.back_mut() {
            Some(last) if last.0 == now => last.1 = last.1.max(ms),
            _ => {
                e.samples.push_back((now, ms));
                while e.samples.len() > LATENCY_HISTORY_LEN {
                    e.samples.pop_front();
                }
            }
        }
        e.max = e.max.max(ms);
    }

    /// Forgets the named events (all when `names` is empty); returns how many were forgotten.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut m = self.events.lock();
        if names.is_empty() {
            let n = m.len();
            m.clear();
            return n;
        }
        names
            .iter()
            .filter(|n| m.remove(String::from_utf8_lossy(n).as_ref()).is_some())
            .count()
    }
}
