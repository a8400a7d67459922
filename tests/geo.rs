//! GEO commands against a live server: fixed replies taken from redis-server 7.0.15 (the
//! Sicily example of Redis's documentation and more), every error path word for word, and a
//! differential run against the reference server when it is installed, comparing raw reply
//! bytes of the same GEOADD / GEOSEARCH / GEORADIUS… calls in RESP2 and RESP3.

mod common;

use common::{Raw, Reference, Server};

fn r(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

fn sicily(c: &mut Raw) {
    assert_eq!(
        r(
            c,
            &[
                "GEOADD",
                "Sicily",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania"
            ]
        ),
        ":2\r\n"
    );
}

#[test]
fn geoadd_scores_and_options() {
    let srv = Server::start();
    let mut c = srv.raw();
    sicily(&mut c);
    assert_eq!(
        r(&mut c, &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"]),
        "*4\r\n$7\r\nPalermo\r\n$16\r\n3479099956230698\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n"
    );
    // Same position again: nothing added, nothing changed.
    assert_eq!(
        r(&mut c, &["GEOADD", "Sicily", "CH", "13.361389", "38.115556", "Palermo"]),
        ":0\r\n"
    );
    // CH counts the moved member.
    assert_eq!(r(&mut c, &["GEOADD", "Sicily", "CH", "13", "38", "Palermo"]), ":1\r\n");
    // NX does not move existing members, XX does not add new ones.
    assert_eq!(
        r(
            &mut c,
            &[
                "GEOADD",
                "Sicily",
                "NX",
                "CH",
                "14",
                "38",
                "Palermo",
                "14",
                "38",
                "Agrigento"
            ]
        ),
        ":1\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["GEOADD", "Sicily", "XX", "CH", "14", "38", "Palermo", "14", "38", "Enna"]
        ),
        ":1\r\n"
    );
    assert_eq!(r(&mut c, &["ZCARD", "Sicily"]), ":3\r\n");
    assert_eq!(r(&mut c, &["GEOADD", "nokey", "XX", "14", "38", "x"]), ":0\r\n");
    assert_eq!(r(&mut c, &["EXISTS", "nokey"]), ":0\r\n");
    // The extreme corners are storable.
    assert_eq!(
        r(
            &mut c,
            &[
                "GEOADD",
                "edges",
                "-180",
                "-85.05112878",
                "sw",
                "180",
                "85.05112878",
                "ne"
            ]
        ),
        ":2\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOPOS", "edges", "sw", "ne"]),
        "*2\r\n*2\r\n$22\r\n-179.99999731779098511\r\n$21\r\n-85.05112751263942528\r\n*2\r\n$3\r\n180\r\n$19\r\n85.0511287799999991\r\n"
    );
}

#[test]
fn geoadd_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "200", "100", "m"]),
        "-ERR invalid longitude,latitude pair 200.000000,100.000000\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "10", "85.06", "m"]),
        "-ERR invalid longitude,latitude pair 10.000000,85.060000\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "abc", "10", "m"]),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "10", "nan", "m"]),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "10", "20", "m", "30"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "NX", "XX", "10", "20", "m"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "GT", "10", "20", "m"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOADD", "k", "10", "20"]),
        "-ERR wrong number of arguments for 'geoadd' command\r\n"
    );
    assert_eq!(r(&mut c, &["EXISTS", "k"]), ":0\r\n");
    r(&mut c, &["SET", "str", "x"]);
    assert_eq!(
        r(&mut c, &["GEOADD", "str", "10", "20", "m"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn geopos_geodist_geohash() {
    let srv = Server::start();
    let mut c = srv.raw();
    sicily(&mut c);
    assert_eq!(
        r(&mut c, &["GEOPOS", "Sicily", "Palermo", "nope"]),
        "*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n"
    );
    assert_eq!(r(&mut c, &["GEOPOS", "nokey", "a", "b"]), "*2\r\n*-1\r\n*-1\r\n");
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania"]),
        "$11\r\n166274.1516\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania", "KM"]),
        "$8\r\n166.2742\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania", "mi"]),
        "$8\r\n103.3182\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania", "ft"]),
        "$11\r\n545518.8700\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Palermo"]),
        "$6\r\n0.0000\r\n"
    );
    assert_eq!(r(&mut c, &["GEODIST", "Sicily", "Palermo", "Foo"]), "$-1\r\n");
    assert_eq!(r(&mut c, &["GEODIST", "nokey", "a", "b"]), "$-1\r\n");
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania", "yd"]),
        "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEODIST", "Sicily", "Palermo", "Catania", "km", "x"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEOHASH", "Sicily", "Palermo", "Catania", "x"]),
        "*3\r\n$11\r\nsqc8b49rny0\r\n$11\r\nsqdtr74hyu0\r\n$-1\r\n"
    );
    assert_eq!(r(&mut c, &["GEOHASH", "nokey", "x"]), "*1\r\n$-1\r\n");
    assert_eq!(r(&mut c, &["GEOHASH", "Sicily"]), "*0\r\n");
    r(&mut c, &["SET", "str", "x"]);
    let wt = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    for cmd in [
        &["GEOPOS", "str", "a"][..],
        &["GEODIST", "str", "a", "b"],
        &["GEOHASH", "str", "a"],
        &["GEOSEARCH", "str", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"],
        &["GEORADIUS", "str", "0", "0", "1", "m"],
        &["GEORADIUSBYMEMBER", "str", "a", "1", "m"],
    ] {
        assert_eq!(r(&mut c, cmd), wt, "{cmd:?}");
    }
    // RESP3: coordinates are doubles, distances stay bulk strings.
    r(&mut c, &["HELLO", "3"]);
    assert_eq!(
        r(&mut c, &["GEOPOS", "Sicily", "Palermo", "nope"]),
        "*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n"
    );
    assert_eq!(r(&mut c, &["GEODIST", "Sicily", "Palermo", "x"]), "_\r\n");
}

#[test]
fn searches() {
    let srv = Server::start();
    let mut c = srv.raw();
    sicily(&mut c);
    assert_eq!(
        r(
            &mut c,
            &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "ASC"]
        ),
        "*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n"
    );
    assert_eq!(
        r(&mut c, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHCOORD", "WITHHASH", "COUNT", "1"]),
        "*1\r\n*3\r\n$7\r\nCatania\r\n:3479447370796909\r\n*2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "DESC"
            ]
        ),
        "*2\r\n$7\r\nPalermo\r\n$7\r\nCatania\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "100", "km"]
        ),
        "*1\r\n$7\r\nPalermo\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["GEOSEARCH", "nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km"]
        ),
        "*0\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"]
        ),
        "*0\r\n"
    );
    // Stores: hashes as scores, or distances in the unit asked.
    assert_eq!(
        r(
            &mut c,
            &["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"]
        ),
        ":2\r\n"
    );
    assert_eq!(
        r(&mut c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        "*4\r\n$7\r\nPalermo\r\n$16\r\n3479099956230698\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n"
    );
    assert_eq!(r(&mut c, &["OBJECT", "ENCODING", "dst"]), "$8\r\nlistpack\r\n");
    assert_eq!(
        r(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                "dst",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "STOREDIST",
                "COUNT",
                "1"
            ]
        ),
        ":1\r\n"
    );
    assert_eq!(
        r(&mut c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        "*2\r\n$7\r\nCatania\r\n$18\r\n56.441257870158204\r\n"
    );
    assert_eq!(
        r(
            &mut c,
            &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "1", "m", "STOREDIST", "dst"]
        ),
        ":1\r\n"
    );
    assert_eq!(
        r(&mut c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        "*2\r\n$7\r\nPalermo\r\n$1\r\n0\r\n"
    );
    // An empty result or a missing source deletes the destination.
    assert_eq!(
        r(&mut c, &["GEORADIUS", "Sicily", "0", "0", "1", "m", "STORE", "dst"]),
        ":0\r\n"
    );
    assert_eq!(r(&mut c, &["EXISTS", "dst"]), ":0\r\n");
    r(&mut c, &["SET", "dst", "x"]);
    assert_eq!(
        r(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                "dst",
                "nokey",
                "FROMMEMBER",
                "a",
                "BYBOX",
                "1",
                "1",
                "m"
            ]
        ),
        ":0\r\n"
    );
    assert_eq!(r(&mut c, &["EXISTS", "dst"]), ":0\r\n");
    // GEORADIUSBYMEMBER on a missing key does not even check the radius.
    assert_eq!(r(&mut c, &["GEORADIUSBYMEMBER", "nokey", "a", "x", "y"]), "*0\r\n");
    // ANY stops at COUNT matches in scan order.
    assert_eq!(
        r(
            &mut c,
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "COUNT",
                "1",
                "ANY"
            ]
        ),
        "*1\r\n$7\r\nPalermo\r\n"
    );
}

#[test]
fn search_errors() {
    let srv = Server::start();
    let mut c = srv.raw();
    sicily(&mut c);
    let cases: &[(&[&str], &str)] = &[
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37"],
            "-ERR wrong number of arguments for 'geosearch' command\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "-1", "km"],
            "-ERR radius cannot be negative\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "x", "km"],
            "-ERR need numeric radius\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "yd"],
            "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"],
            "-ERR need numeric width\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"],
            "-ERR need numeric height\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "1",
                "-1",
                "km",
            ],
            "-ERR height or width cannot be negative\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "99", "BYBOX", "1", "1", "km"],
            "-ERR invalid longitude,latitude pair 15.000000,99.000000\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYBOX", "1", "1", "km"],
            "-ERR could not decode requested zset member\r\n",
        ),
        (
            &["GEOSEARCH", "Sicily", "BYRADIUS", "1", "km", "ASC", "WITHDIST"],
            "-ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH\r\n",
        ),
        (
            &[
                "geosearch",
                "Sicily",
                "FROMMEMBER",
                "Palermo",
                "ASC",
                "DESC",
                "WITHDIST",
            ],
            "-ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Palermo",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
            ],
            "-ERR syntax error\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "BYBOX",
                "1",
                "1",
                "km",
            ],
            "-ERR syntax error\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "STORE",
                "x",
            ],
            "-ERR syntax error\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "STOREDIST",
            ],
            "-ERR syntax error\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "ANY",
            ],
            "-ERR the ANY argument requires COUNT argument\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
                "0",
            ],
            "-ERR COUNT must be > 0\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
                "x",
            ],
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            &[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "COUNT",
            ],
            "-ERR syntax error\r\n",
        ),
        (
            &[
                "GEOSEARCHSTORE",
                "d",
                "Sicily",
                "FROMLONLAT",
                "1",
                "2",
                "BYRADIUS",
                "1",
                "km",
                "WITHDIST",
            ],
            "-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n",
        ),
        (
            &["GEORADIUS", "Sicily", "1", "2", "1", "km", "WITHHASH", "STORE", "d"],
            "-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n",
        ),
        (
            &["GEORADIUS_RO", "Sicily", "1", "2", "1", "km", "STORE", "d"],
            "-ERR syntax error\r\n",
        ),
        (
            &["GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "1", "km", "STOREDIST", "d"],
            "-ERR syntax error\r\n",
        ),
        (
            &["GEORADIUS", "Sicily", "1", "2", "1", "km", "FROMMEMBER", "Palermo"],
            "-ERR syntax error\r\n",
        ),
        (
            &["GEORADIUS", "Sicily", "1", "2", "-5", "km"],
            "-ERR radius cannot be negative\r\n",
        ),
        (
            &["GEORADIUS", "Sicily", "1", "x", "5", "km"],
            "-ERR value is not a valid float\r\n",
        ),
        (
            &["GEORADIUS", "Sicily", "1", "2", "5", "lightyears"],
            "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
        ),
        (
            &["GEORADIUSBYMEMBER", "Sicily", "nope", "5", "km"],
            "-ERR could not decode requested zset member\r\n",
        ),
        (
            &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "5", "km", "BYBOX"],
            "-ERR syntax error\r\n",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(r(&mut c, args), *want, "{args:?}");
    }
}

/// Random points and random searches, here and in redis-server: replies must be the same bytes.
#[test]
fn differential_against_redis() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let srv = Server::start();
    let mut ours = srv.raw();
    let mut theirs = reference.raw();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut both = |args: &[String]| {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let (x, y) = (ours.cmd(&a), theirs.cmd(&a));
        if args[0] == "HELLO" {
            // Connection ids differ; only the protocol switch matters.
            return;
        }
        assert_eq!(String::from_utf8_lossy(&x), String::from_utf8_lossy(&y), "{args:?}");
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for resp in ["2", "3"] {
        both(&s(&["HELLO", resp]));
        both(&s(&["FLUSHALL"]));
        // Clusters of points around a few centres, plus points spread everywhere, plus exact
        // duplicates (equal distances).
        for key in ["small", "big"] {
            let n = if key == "small" { 60 } else { 400 };
            let mut args = s(&["GEOADD", key]);
            for i in 0..n {
                let (lon, lat) = if i % 3 == 0 {
                    (
                        rand(360_000_000) as f64 / 1e6 - 180.0,
                        rand(170_000_000) as f64 / 1e6 - 85.0,
                    )
                } else {
                    let (cx, cy) = [(13.4, 38.1), (-122.4, 37.7), (151.2, -33.8), (179.9, 0.0)][i % 4];
                    (
                        cx + (rand(2_000_000) as f64 / 1e6 - 1.0) * 0.1,
                        cy + (rand(2_000_000) as f64 / 1e6 - 1.0) * 2.0,
                    )
                };
                // Every fifth point repeats a fixed spot: equal distances, whose order comes
                // from the scan and the sort (a full sort, or a partial one under COUNT).
                let (lon, lat) = if i % 5 == 4 {
                    (13.4 + (i % 3) as f64 * 0.001, 38.1)
                } else {
                    (lon, lat)
                };
                let lon = lon.clamp(-180.0, 180.0);
                args.push(format!("{lon}"));
                args.push(format!("{lat}"));
                args.push(format!("m{i}"));
            }
            both(&args);
            both(&s(&["OBJECT", "ENCODING", key]));
        }
        for q in 0..600 {
            let key = if q % 2 == 0 { "small" } else { "big" };
            let mut args = vec!["GEOSEARCH".to_string(), key.to_string()];
            if rand(3) == 0 {
                args.extend(s(&["FROMMEMBER", &format!("m{}", rand(70))]));
            } else {
                let (cx, cy) =
                    [(13.4, 38.1), (-122.4, 37.7), (151.2, -33.8), (179.95, 0.0), (0.0, 0.0)][rand(5) as usize];
                args.extend(s(&["FROMLONLAT", &format!("{cx}"), &format!("{cy}")]));
            }
            let unit = ["m", "km", "ft", "mi", "KM"][rand(5) as usize];
            let scale = match unit {
                "m" => 1000.0,
                "ft" => 3000.0,
                _ => 1.0,
            };
            let size = |r: u64| format!("{}", (r as f64 / 10.0) * scale);
            if rand(2) == 0 {
                args.extend(s(&["BYRADIUS", &size(rand(5000)), unit]));
            } else {
                args.extend(s(&["BYBOX", &size(rand(8000)), &size(rand(8000)), unit]));
            }
            match rand(3) {
                0 => args.push("ASC".into()),
                1 => args.push("DESC".into()),
                _ => {}
            }
            if rand(2) == 0 {
                args.extend(s(&["COUNT", &format!("{}", 1 + rand(40))]));
                if rand(3) == 0 {
                    args.push("ANY".into());
                }
            }
            for w in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
                if rand(2) == 0 {
                    args.push(w.into());
                }
            }
            both(&args);
            // The circle searches again through GEORADIUS / GEORADIUSBYMEMBER (and _RO).
            if (args[2] == "FROMMEMBER" && args[4] == "BYRADIUS") || (args[2] == "FROMLONLAT" && args[5] == "BYRADIUS")
            {
                let (cmd, centre, rest) = if args[2] == "FROMMEMBER" {
                    ("GEORADIUSBYMEMBER", &args[3..4], &args[5..])
                } else {
                    ("GEORADIUS", &args[3..5], &args[6..])
                };
                for ro in ["", "_RO"] {
                    let mut g = vec![format!("{cmd}{ro}"), key.to_string()];
                    g.extend(centre.iter().cloned());
                    g.extend(rest.iter().cloned());
                    both(&g);
                }
            }
            // The same search stored, and as GEORADIUS when it is one.
            let mut st = vec!["GEOSEARCHSTORE".to_string(), "dst".to_string()];
            st.extend(args[1..].iter().filter(|a| !a.starts_with("WITH")).cloned());
            if rand(2) == 0 {
                st.push("STOREDIST".into());
            }
            both(&st);
            both(&s(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]));
        }
        // Scores ZADD put outside the geohash range decode as C's conversion does.
        both(&s(&[
            "ZADD",
            "small",
            "-5",
            "neg",
            "1e20",
            "huge",
            "1e-320",
            "tiny",
            "4503599627370496",
            "top",
        ]));
        for key in ["small", "big"] {
            let mut args = s(&["GEOPOS", key, "neg", "huge", "tiny", "top"]);
            both(&s(&["GEOHASH", key, "neg", "huge", "tiny", "top"]));
            both(&s(&["GEODIST", key, "neg", "huge"]));
            let mut h = s(&["GEOHASH", key]);
            for i in 0..70 {
                args.push(format!("m{i}"));
                h.push(format!("m{i}"));
            }
            both(&args);
            both(&h);
            for i in 0..30 {
                let u = ["m", "km", "ft", "mi"][i % 4];
                both(&s(&["GEODIST", key, &format!("m{i}"), &format!("m{}", i * 7 % 61), u]));
            }
        }
    }
}
