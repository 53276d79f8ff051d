//! Time the search box (`GraphStore::search`) and `identifiers_of` on an embedded store holding
//! the synthetic estate, and report what the recorded identification costs per CI row
//! (docs/benchmarks.md, "Search"):
//!
//!     cargo run --release -p cmdb-graphql --example bench_estate -- DIR HOSTS SERVICES
//!     cargo run --release -p cmdb-store --example search_bench -- DIR/cmdb.sqlite [REPEAT]
//!
//! Texts are chosen from `model::synthetic`'s estate (host 300's MAC, serial, IP and name, a
//! name prefix shared by 100 hosts, `eth0` held by every host's first interface, a tag on a
//! third of the hosts, a text nothing matches); each is searched REPEAT times (default 20)
//! for a first page of 20.

use std::time::Instant;

use cmdb_store::{
    CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, NameMatch, PageRequest,
    SearchQuery,
};

fn median_ms(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(
        args.get(1)
            .expect("usage: search_bench DIR/cmdb.sqlite [REPEAT]"),
    );
    let repeat: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let store = EmbeddedStore::open(&path, EmbeddedOptions::default()).expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stats = rt.block_on(store.stats()).unwrap();
    println!(
        "cis={} relationships={} repeat={repeat}",
        stats.cis, stats.relationships
    );
    {
        let c = rusqlite::Connection::open(&path).expect("open file");
        let (n, with_i, all, without): (i64, i64, f64, f64) = c
            .query_row(
                "SELECT COUNT(*), SUM(json_type(body, '$.i') IS NOT NULL), AVG(length(body)), AVG(length(json_remove(body, '$.i'))) FROM cis",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("body sizes");
        println!(
            "body: {n} rows, {with_i} with identification; mean {all:.0} bytes, {without:.0} without it (+{:.0})",
            all - without
        );
    }
    let texts = [
        (
            "MAC, other notation (host + interface)",
            "52-54-00-00-01-2C",
        ),
        ("serial, lower case", "sn000000300"),
        ("IP address", "10.16.1.45"),
        ("host name", "host0000300"),
        ("name substring (100 hosts)", "host00003"),
        ("interface name (every host's eth0)", "eth0"),
        ("tag (a third of the hosts)", "prod"),
        ("nothing matches", "zz-no-such-thing"),
    ];
    println!("| text | what | totalCount | min ms | median ms |");
    println!("|---|---|---|---|---|");
    for (what, text) in texts {
        let q = SearchQuery {
            text: text.into(),
            classes: vec![],
        };
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..repeat {
            let t = Instant::now();
            let p = rt
                .block_on(store.search(&q, &PageRequest::first(20)))
                .expect("search");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            total = p.total_count;
        }
        let (min, med) = median_ms(times);
        println!("| `{text}` | {what} | {total} | {min:.1} | {med:.1} |");
    }
    // For comparison: the name filter `cis` already had (also a scan of every name).
    let mut times = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        rt.block_on(store.find(
            &CiFilter {
                name: Some((NameMatch::Contains, "host00003".into())),
                ..Default::default()
            },
            CiOrder::default(),
            &PageRequest::first(20),
        ))
        .expect("find");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (min, med) = median_ms(times);
    println!("| (`cis(filter: {{name: {{contains: \"host00003\"}}}})`) | the existing name filter | | {min:.1} | {med:.1} |");
    // identifiers_of for a page of 100 CIs.
    let ids: Vec<_> = rt
        .block_on(store.find(
            &CiFilter::default(),
            CiOrder::default(),
            &PageRequest::first(100),
        ))
        .unwrap()
        .items
        .into_iter()
        .map(|(_, c)| c.id)
        .collect();
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..repeat {
        let t = Instant::now();
        n = rt.block_on(store.identifiers_of(&ids)).unwrap().len();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (min, med) = median_ms(times);
    println!("identifiers_of(100 CIs) -> {n} keys: min {min:.2} ms, median {med:.2} ms");
}
