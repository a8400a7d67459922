//! FLUSHALL/FLUSHDB ASYNC free memory in the background and report it in INFO.

mod common;

#[test]
fn flushall_async_frees_in_background() {
    let srv = common::Server::start();
    let mut c = srv.client();
    let mut pipe = redis::pipe();
    for i in 0..50_000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg("value").ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let ok: String = redis::cmd("FLUSHALL").arg("ASYNC").query(&mut c).unwrap();
    assert_eq!(ok, "OK");
    // The keys are gone at once; the memory is freed by the background thread.
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
        if info.contains("lazyfreed_objects:50000") && info.contains("lazyfree_pending_objects:0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // FLUSHDB SYNC frees at once; a bad option is a syntax error.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let _: () = redis::cmd("FLUSHDB").arg("SYNC").query(&mut c).unwrap();
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"FLUSHALL", b"LATER"]), b"-ERR syntax error\r\n");
}
