//! Replication, the master's side (Redis's `replication.c`): a connection that sends SYNC or
//! PSYNC receives the dataset as an RDB image taken at one instant, then the effect of every
//! write after that instant, as the commands the AOF receives, in the one total order of
//! `server::propagate`.
//!
//! * **The instant.** SYNC runs with the whole server stopped (its row is `exclusive`): no
//!   command is half done, so the image and the start of the stream meet exactly. Before it
//!   returns, propagation is switched on, so every later write takes the order mutex and its
//!   effects reach [`feed`].
//! * **The stream.** One encoding for all replicas, as Redis's `replicationFeedSlaves`: a
//!   `SELECT` whenever the database changes (and first after a replica joins), MULTI … EXEC
//!   around a unit of several effects. Bytes go to each replica's `pending` queue (the MONITOR
//!   and Pub/Sub mechanism) and its worker writes them after the replies it already has, so
//!   the RDB reply always precedes the stream.
//! * Following a master (REPLICAOF) is [`replica`].
//! * Not built yet (the replication issue): the backlog and PSYNC continuation (every PSYNC is
//!   answered with a full resync), WAIT, and acknowledged offsets.

pub mod replica;

use crate::server::client::ClientHandle;
use crate::server::propagate::Effect;
use crate::server::Server;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// The replicas attached to this server.
#[derive(Default)]
pub struct Replicas {
    state: Mutex<State>,
    /// Bytes of stream produced since start (INFO's `master_repl_offset`).
    pub offset: AtomicU64,
}

#[derive(Default)]
struct State {
    list: Vec<Replica>,
    /// The database the stream last selected; `None` forces a SELECT (a replica just joined).
    selected: Option<usize>,
}

struct Replica {
    handle: Arc<ClientHandle>,
    /// Unix ms of its last REPLCONF ACK (of the attach before the first), and the offset it
    /// acknowledged.
    ack_ms: i64,
    ack_offset: u64,
    /// The port it listens on, from REPLCONF listening-port (INFO's `slaveN:` line).
    port: u16,
}

impl Replicas {
    /// How many replicas are attached.
    pub fn count(&self) -> usize {
        self.state.lock().list.len()
    }

    /// INFO's `slaveN:ip=…,port=…,state=online,offset=…,lag=0` lines.
    pub fn info_lines(&self) -> Vec<String> {
        let offset = self.offset.load(Relaxed);
        let now = crate::server::unix_ms();
        let st = self.state.lock();
        st.list
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let ip = r.handle.addr.rsplit_once(':').map_or("", |(ip, _)| ip);
                let lag = (now - r.ack_ms).max(0) / 1000;
                format!(
                    "slave{i}:ip={ip},port={},state=online,offset={},lag={lag}",
                    r.port,
                    r.ack_offset.min(offset)
                )
            })
            .collect()
    }
}

/// Attaches `handle` as a replica from this instant on. The caller holds the world lock
/// exclusively (no write is in flight) and has just put the dataset in its reply.
pub fn attach(srv: &Server, handle: Arc<ClientHandle>, port: u16) {
    handle.is_replica.store(true, Relaxed);
    let mut st = srv.replicas.state.lock();
    st.list.retain(|r| r.handle.id != handle.id);
    let ack_offset = srv.replicas.offset.load(Relaxed);
    st.list.push(Replica {
        handle,
        port,
        ack_ms: crate::server::unix_ms(),
        ack_offset,
    });
    st.selected = None;
    srv.propagation.set_replicas(true);
}

/// REPLCONF ACK from the replica on connection `id`.
pub fn acked(srv: &Server, id: u64, offset: i64, now_ms: i64) {
    let mut st = srv.replicas.state.lock();
    if let Some(r) = st.list.iter_mut().find(|r| r.handle.id == id) {
        r.ack_ms = now_ms;
        r.ack_offset = offset.max(0) as u64;
    }
}

/// Whether `min-replicas-to-write` lets writes run: enough replicas acknowledged within
/// `min-replicas-max-lag` seconds (Redis's `checkGoodReplicasStatus`). Always true on a
/// replica, or without a minimum.
#[inline]
pub fn enough_good_replicas(srv: &Server) -> bool {
    let want = srv.config.hot.min_replicas_to_write.load(Relaxed);
    let lag = srv.config.hot.min_replicas_max_lag.load(Relaxed);
    if want <= 0 || lag <= 0 || srv.follow.following() {
        return true;
    }
    let now = crate::server::unix_ms();
    let st = srv.replicas.state.lock();
    let good = st.list.iter().filter(|r| now - r.ack_ms <= lag * 1000).count();
    good as i64 >= want
}

/// Forgets a replica whose connection closed.
pub fn detach(srv: &Server, id: u64) {
    let mut st = srv.replicas.state.lock();
    let before = st.list.len();
    st.list.retain(|r| r.handle.id != id);
    if st.list.len() != before && st.list.is_empty() {
        srv.propagation.set_replicas(false);
    }
}

/// Sends a unit's effects to every replica (the caller holds the order mutex).
pub fn feed(srv: &Server, effects: &[&Effect], wrap: bool) {
    let mut st = srv.replicas.state.lock();
    if st.list.is_empty() {
        return;
    }
    let mut bytes = Vec::new();
    let select = |st: &mut State, bytes: &mut Vec<u8>, db: usize| {
        if st.selected != Some(db) {
            crate::persistence::aof::resp(bytes, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            st.selected = Some(db);
        }
    };
    if wrap {
        select(&mut st, &mut bytes, effects[0].db);
        crate::persistence::aof::resp(&mut bytes, &[b"MULTI".to_vec()]);
    }
    for e in effects {
        select(&mut st, &mut bytes, e.db);
        crate::persistence::aof::resp(&mut bytes, &e.argv);
    }
    if wrap {
        crate::persistence::aof::resp(&mut bytes, &[b"EXEC".to_vec()]);
    }
    srv.replicas.offset.fetch_add(bytes.len() as u64, Relaxed);
    for r in &st.list {
        r.handle.send(&bytes);
    }
}
