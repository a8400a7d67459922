//! MONITOR: clients that receive every command as it runs.

use super::client::Client;
use super::Server;
use crate::commands::Command;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Default)]
pub struct Monitors {
    list: Mutex<Vec<Arc<super::client::ClientHandle>>>,
    count: AtomicUsize,
}

impl Monitors {
    /// Cheap check done on every command.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    pub fn add(&self, h: Arc<super::client::ClientHandle>) {
        let mut l = self.list.lock();
        if !l.iter().any(|x| x.id == h.id) {
            l.push(h);
        }
        self.count.store(l.len(), Relaxed);
    }
}

pub fn remove(srv: &Server, id: u64) {
    let mut l = srv.monitors.list.lock();
    l.retain(|h| h.id != id);
    srv.monitors.count.store(l.len(), Relaxed);
}

/// Sends a command to every MONITOR client, formatted as Redis does:
/// `+1339518083.107412 [0 127.0.0.1:60866] "set" "k" "v"`, secrets replaced by `(redacted)`.
pub fn feed(srv: &Server, client: &Client, cmd: &Command, argv: &[&[u8]]) {
    let us = super::unix_us();
    let redact = super::slowlog::redaction_mask(cmd, argv);
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        us / 1_000_000,
        us % 1_000_000,
        client.db,
        client.handle.addr
    );
    for (i, a) in argv.iter().enumerate() {
        line.push(' ');
        if i < 64 && redact & (1 << i) != 0 {
            line.push_str(&repr(super::slowlog::REDACTED));
        } else {
            line.push_str(&repr(a));
        }
    }
    line.push_str("\r\n");
    for m in srv.monitors.list.lock().iter() {
        m.send(line.as_bytes());
    }
}

pub use crate::util::text::repr;
