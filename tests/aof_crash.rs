//! The AOF crash test: under a steady write load from several connections, the server is
//! killed with SIGKILL at random moments and restarted on the same directory, and every
//! acknowledged write must be there after the restart.
//!
//! * `appendfsync always`: 100 kills, 0 acknowledged writes lost (a reply is sent only after
//!   its write is fsynced; several writers exercise the group commit).
//! * `appendfsync everysec`: losses are counted, and every write acknowledged more than one
//!   second before the kill must be there.
//!
//! Each writer owns a counter (INCR), a list (RPUSH of its sequence numbers) and distinct
//! string keys (SET `s:<w>:<n>` to `n`), so what the server holds can be checked exactly: the
//! counter and the list length lie between the acknowledged and the sent counts, the list is
//! exactly `1..=n`, and DBSIZE shows that no key that was never sent appeared. Some tiny
//! `auto-aof-rewrite-min-size` makes rewrites (new manifest, base and incremental files)
//! happen under the kills too. Run with `--nocapture` to see the figures.
mod common;

use common::{tmpdir, DirServer};
use std::time::{Duration, Instant};

const WRITERS: usize = 4;

/// One kind of write of one writer: how many were sent, and when each acknowledged one was
/// acknowledged (in order; the server applies a writer's writes in order).
#[derive(Default)]
struct Seq {
    sent: u64,
    acks: Vec<Instant>,
    /// Acknowledgements already counted by an earlier round.
    counted: usize,
}

impl Seq {
    /// Compares the count the server holds with what was sent and acknowledged. Returns the
    /// acknowledged writes lost; panics on a write that was never sent, or (`strict`) on any
    /// loss, or on a loss acknowledged more than a second before the kill.
    fn check(&mut self, what: &str, found: u64, kill: Instant, strict: bool) -> u64 {
        self.counted = found as usize;
        assert!(
            found <= self.sent,
            "{what}: {found} applied but only {} sent",
            self.sent
        );
        let acked = self.acks.len() as u64;
        let lost = acked.saturating_sub(found);
        if lost > 0 {
            assert!(!strict, "{what}: {lost} acknowledged writes lost ({found} of {acked})");
            let first_lost = self.acks[found as usize];
            assert!(
                first_lost + Duration::from_secs(1) >= kill,
                "{what}: lost a write acknowledged {:?} before the kill",
                kill - first_lost
            );
        }
        // What the server holds now is the truth the next round builds on (an unacknowledged
        // write that reached the file counts as done; a lost one is forgotten).
        self.sent = found;
        self.acks.truncate(found as usize);
        while (self.acks.len() as u64) < found {
            self.acks.push(kill);
        }
        lost
    }
}

/// Everything one writer did.
#[derive(Default)]
struct Writer {
    incr: Seq,
    push: Seq,
    set: Seq,
    /// Which `s:<w>:<n>` keys exist (index n - 1), as last verified.
    present: Vec<bool>,
}

impl Writer {
    /// Writes until the connection fails (the kill). Every reply is checked against what this
    /// writer expects, so a write that was never sent cannot slip in unnoticed.
    fn run(&mut self, w: usize, port: u16) {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
            return;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(5)) else {
            return;
        };
        let _ = con.set_read_timeout(Some(Duration::from_secs(10)));
        for i in 0u64.. {
            let ok = match i % 3 {
                0 => {
                    self.incr.sent += 1;
                    match redis::cmd("INCR").arg(format!("c:{w}")).query::<u64>(&mut con) {
                        Ok(n) => {
                            assert_eq!(n, self.incr.sent, "INCR c:{w}");
                            self.incr.acks.push(Instant::now());
                            true
                        }
                        Err(_) => false,
                    }
                }
                1 => {
                    self.push.sent += 1;
                    let n = self.push.sent;
                    match redis::cmd("RPUSH").arg(format!("l:{w}")).arg(n).query::<u64>(&mut con) {
                        Ok(len) => {
                            assert_eq!(len, n, "RPUSH l:{w}");
                            self.push.acks.push(Instant::now());
                            true
                        }
                        Err(_) => false,
                    }
                }
                _ => {
                    self.set.sent += 1;
                    let n = self.set.sent;
                    self.present.push(false);
                    match redis::cmd("SET").arg(format!("s:{w}:{n}")).arg(n).query::<()>(&mut con) {
                        Ok(()) => {
                            self.set.acks.push(Instant::now());
                            true
                        }
                        Err(_) => false,
                    }
                }
            };
            if !ok {
                return;
            }
        }
    }

    /// Checks this writer's keys on the restarted server; returns (acknowledged, lost).
    fn verify(&mut self, w: usize, con: &mut redis::Connection, kill: Instant, strict: bool) -> (u64, u64) {
        let acked = [&self.incr, &self.push, &self.set]
            .iter()
            .map(|s| s.acks.len().saturating_sub(s.counted) as u64)
            .sum();
        let counter: Option<u64> = redis::cmd("GET").arg(format!("c:{w}")).query(con).expect("GET");
        let mut lost = self.incr.check(&format!("c:{w}"), counter.unwrap_or(0), kill, strict);

        let list: Vec<u64> = redis::cmd("LRANGE")
            .arg(format!("l:{w}"))
            .arg(0)
            .arg(-1)
            .query(con)
            .expect("LRANGE");
        let want: Vec<u64> = (1..=list.len() as u64).collect();
        assert_eq!(list, want, "l:{w} must be exactly 1..=n");
        lost += self.push.check(&format!("l:{w}"), list.len() as u64, kill, strict);

        // String keys: every acknowledged one (all of them or, everysec, all but the last
        // second's) must hold its number; the unacknowledged tail may or may not be there.
        let acked_sets = self.set.acks.len();
        let mut set_lost = 0;
        let mut last_present = 0;
        for (chunk_no, chunk) in (1..=self.set.sent).collect::<Vec<_>>().chunks(1000).enumerate() {
            let mut mget = redis::cmd("MGET");
            for n in chunk {
                mget.arg(format!("s:{w}:{n}"));
            }
            let vals: Vec<Option<u64>> = mget.query(con).expect("MGET");
            for (j, v) in vals.into_iter().enumerate() {
                let n = chunk_no * 1000 + j + 1;
                let here = v.is_some();
                if let Some(v) = v {
                    assert_eq!(v, n as u64, "s:{w}:{n}");
                    last_present = n;
                }
                if n <= acked_sets && !here {
                    assert!(!strict, "s:{w}:{n} acknowledged but lost");
                    assert!(
                        self.set.acks[n - 1] + Duration::from_secs(1) >= kill,
                        "s:{w}:{n} lost though acknowledged more than a second before the kill"
                    );
                    set_lost += 1;
                }
                self.present[n - 1] = here;
            }
        }
        // Keys beyond the last one found never existed for the server: the next round reuses
        // their numbers.
        self.set.sent = last_present as u64;
        self.present.truncate(self.set.sent as usize);
        self.set.acks.truncate(self.set.sent as usize);
        while self.set.acks.len() < self.set.sent as usize {
            self.set.acks.push(kill);
        }
        self.set.counted = self.set.acks.len();
        (acked, lost + set_lost)
    }

    /// Keys of this writer the server should hold.
    fn keys(&self) -> u64 {
        (self.incr.sent > 0) as u64 + (self.push.sent > 0) as u64 + self.present.iter().filter(|p| **p).count() as u64
    }
}

/// Kills a server `kills` times under load; returns (acknowledged writes, lost).
fn crash_loop(tag: &str, fsync: &str, kills: usize, load_ms: std::ops::Range<u64>) -> (u64, u64) {
    let dir = tmpdir(tag);
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
        "--auto-aof-rewrite-min-size",
        "262144",
        "--auto-aof-rewrite-percentage",
        "100",
    ];
    let strict = fsync == "always";
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut writers: Vec<Writer> = (0..WRITERS).map(|_| Writer::default()).collect();
    let (mut acked, mut lost) = (0, 0);
    let mut kill_at = Instant::now();
    let started = Instant::now();
    for round in 0..=kills {
        let mut srv = DirServer::spawn(&dir, &args).unwrap_or_else(|| panic!("restart {round} failed (seed {seed})"));
        if round > 0 {
            let mut con = srv.con();
            for (w, wr) in writers.iter_mut().enumerate() {
                let (a, l) = wr.verify(w, &mut con, kill_at, strict);
                acked += a;
                lost += l;
            }
            let dbsize: u64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
            let want: u64 = writers.iter().map(Writer::keys).sum();
            assert_eq!(
                dbsize, want,
                "round {round}: keys that were never written appeared (seed {seed})"
            );
        }
        if round == kills {
            break;
        }
        let port = srv.port;
        let pause = Duration::from_millis(rng.u64(load_ms.clone()));
        std::thread::scope(|s| {
            for (w, wr) in writers.iter_mut().enumerate() {
                s.spawn(move || wr.run(w, port));
            }
            std::thread::sleep(pause);
            kill_at = Instant::now();
            let _ = srv.child.kill();
            let _ = srv.child.wait();
        });
    }
    println!(
        "aof crash test, appendfsync {fsync}: {kills} kills, {WRITERS} writers, {acked} acknowledged writes, {lost} lost, {:.1} s (seed {seed})",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    (acked, lost)
}

#[test]
fn appendfsync_always_loses_no_acknowledged_write_over_100_kills() {
    let (acked, lost) = crash_loop("crash-always", "always", 100, 20..250);
    assert!(acked > 1000, "too little load to mean anything: {acked}");
    assert_eq!(lost, 0);
}

#[test]
fn appendfsync_everysec_loses_at_most_the_last_second() {
    let (acked, _lost) = crash_loop("crash-everysec", "everysec", 12, 1200..2500);
    assert!(acked > 1000, "too little load to mean anything: {acked}");
}
