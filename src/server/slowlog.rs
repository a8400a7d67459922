//! SLOWLOG and the LATENCY monitor.

use super::client::Client;
use super::Server;
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Redis keeps at most 32 arguments per entry and 128 bytes per argument.
const MAX_ARGC: usize = 32;
const MAX_ARG_LEN: usize = 128;

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
    pub fn record(&self, srv: &Server, client: &Client, argv: &[&[u8]], us: u64, now_ms: i64) {
        let threshold = srv.config.hot.slowlog_log_slower_than.load(Relaxed);
        if threshold < 0 || (us as i64) < threshold {
            return;
        }
        let max_len = srv.config.hot.slowlog_max_len.load(Relaxed).max(0) as usize;
        let mut args: Vec<Vec<u8>> = Vec::new();
        let argc = argv.len().min(MAX_ARGC);
        for (i, a) in argv.iter().take(argc).enumerate() {
            if i == MAX_ARGC - 1 && argv.len() > MAX_ARGC {
                args.push(format!("... ({} more arguments)", argv.len() - MAX_ARGC + 1).into_bytes());
            } else if a.len() > MAX_ARG_LEN {
                let mut v = a[..MAX_ARG_LEN].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
                args.push(v);
            } else {
                args.push(a.to_vec());
            }
        }
        let name = client.handle.name.lock().clone().unwrap_or_default();
        let e = SlowEntry {
            id: self.next_id.fetch_add(1, Relaxed),
            time: now_ms / 1000,
            duration_us: us,
            args,
            peer: client.handle.addr.clone(),
            name: String::from_utf8_lossy(&name).into_owned(),
        };
        let mut l = self.entries.lock();
        l.push_front(e);
        while l.len() > max_len {
            l.pop_back();
        }
    }

    pub fn trim(&self, max_len: usize) {
        let mut l = self.entries.lock();
        while l.len() > max_len {
            l.pop_back();
        }
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

/// One latency event's history.
#[derive(Default, Clone)]
pub struct LatencyEvent {
    /// (unix seconds, max latency in ms within that second), at most 160 samples.
    pub samples: VecDeque<(i64, u64)>,
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    pub events: Mutex<BTreeMap<String, LatencyEvent>>,
}

pub const LATENCY_HISTORY_LEN: usize = 160;

impl LatencyMonitor {
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
}
