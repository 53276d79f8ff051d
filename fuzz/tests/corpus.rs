//! The short fuzzing run CI does on the stable toolchain, inside `cargo test` (docs/fuzzing.md):
//! every target replays its committed corpus (`fuzz/corpus/<target>/`, seeds and past crashes),
//! then a bounded number of inputs mutated from it. A panic fails the test with the input saved
//! for `cargo fuzz`; an input running longer than the time limit aborts the run with the input
//! printed (a hang).
//!
//! Knobs: `CMDB_FUZZ_MUTATIONS` (mutated inputs per target, default 2000), `CMDB_FUZZ_SEED`
//! (the mutator's seed, default fixed: CI runs are reproducible), `CMDB_FUZZ_INPUT_SECS`
//! (default 20: debug builds are slow). libFuzzer, with coverage guidance, is the long run:
//! `fuzz/run.sh`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cmdb_fuzz::{Target, TARGETS};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'\n', b'{', b'}', b'[', b'"', b'|', b'.', b'-', b'9', b'\\', b' ',
];

/// One mutated input: a corpus entry with one to four edits (bit flips, interesting bytes,
/// insertions, deletions, duplicated or repeated chunks, splices with another entry, tokens).
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], tokens: &[&[u8]]) -> Vec<u8> {
    let mut d = if corpus.is_empty() {
        Vec::new()
    } else {
        corpus[rng.below(corpus.len())].clone()
    };
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below(64.min(len - at));
                d.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below(256.min(len - at));
                let chunk = d[at..at + n].to_vec();
                let to = rng.below(d.len() + 1);
                d.splice(to..to, chunk);
            }
            5 if len > 0 => {
                // a chunk repeated many times: deep nesting, long lines, huge tables
                let at = rng.below(len);
                let n = 1 + rng.below(8.min(len - at));
                let chunk = d[at..at + n].to_vec();
                let times = 1 + rng.below(2000);
                let rep: Vec<u8> = chunk.iter().copied().cycle().take(n * times).collect();
                d.splice(at..at, rep);
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(d.len() + 1);
                let from = rng.below(other.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            7 if !tokens.is_empty() => {
                let t = tokens[rng.below(tokens.len())];
                let at = rng.below(len + 1);
                d.splice(at..at, t.iter().copied());
            }
            8 if len > 0 => {
                d.truncate(rng.below(len));
            }
            _ => {
                let t = tokens
                    .get(rng.below(tokens.len().max(1)))
                    .copied()
                    .unwrap_or(b"\0");
                let at = rng.below(len + 1);
                let n = 1 + rng.below(64);
                let rep: Vec<u8> = t.iter().copied().cycle().take(t.len() * n).collect();
                d.splice(at..at, rep);
            }
        }
    }
    d.truncate(256 * 1024);
    d
}

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

fn load_corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(name);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let data = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().to_string(), data)
        })
        .collect();
    out.sort();
    out
}

fn hex_head(d: &[u8]) -> String {
    d.iter()
        .take(2048)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Save a failing input where `cargo fuzz run` can take it, and describe it.
fn report(target: &str, what: &str, data: &[u8]) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!(
        "{target}-{}",
        &format!("{:016x}", fxhash(data))[..16]
    ));
    let _ = std::fs::write(&path, data);
    format!(
        "fuzz target `{target}` failed on {what} ({} bytes), saved as {}\n\
         reproduce: copy it to fuzz/corpus/{target}/regression-<name> (it stays there once \
         fixed) and run `cargo test -p cmdb-fuzz --test corpus {target}`\n\
         first bytes (hex): {}",
        data.len(),
        path.display(),
        hex_head(data)
    )
}

fn fxhash(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Aborts the process when one input runs past the limit: a hang must fail CI, not stall it.
struct Watchdog {
    current: Arc<Mutex<Option<Running>>>,
}

/// The input being run: since when, what it is, its bytes.
type Running = (Instant, String, Vec<u8>);

impl Watchdog {
    fn start(target: &'static str, limit: Duration) -> Watchdog {
        let current: Arc<Mutex<Option<Running>>> = Arc::new(Mutex::new(None));
        let c = Arc::downgrade(&current);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let Some(c) = c.upgrade() else { return };
            let g = c.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, what, data)) = g.as_ref() {
                if at.elapsed() > limit {
                    eprintln!(
                        "HANG: {}",
                        report(
                            target,
                            &format!("{what}, still running after {limit:?}"),
                            data
                        )
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog { current }
    }
    fn run(&self, t: &Target, what: String, data: &[u8]) -> Result<(), String> {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), what.clone(), data.to_vec()));
        let r = std::panic::catch_unwind(|| (t.run)(data));
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        r.map_err(|_| report(t.name, &what, data))
    }
}

fn fuzz(name: &'static str) {
    let t = TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("target in TARGETS");
    let mutations = env_num("CMDB_FUZZ_MUTATIONS", 2000);
    let seed = env_num("CMDB_FUZZ_SEED", 0x5eed_cafe) ^ fxhash(name.as_bytes());
    let limit = Duration::from_secs(env_num("CMDB_FUZZ_INPUT_SECS", 20));
    let dog = Watchdog::start(name, limit);
    let started = Instant::now();

    let corpus = load_corpus(name);
    assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty");
    for (file, data) in &corpus {
        if let Err(e) = dog.run(t, format!("corpus file {file}"), data) {
            panic!("{e}");
        }
    }
    let inputs: Vec<Vec<u8>> = corpus.into_iter().map(|(_, d)| d).collect();
    let mut rng = Rng(seed | 1);
    for i in 0..mutations {
        let data = mutate(&mut rng, &inputs, t.tokens);
        if let Err(e) = dog.run(t, format!("mutation {i} (CMDB_FUZZ_SEED={seed:#x})"), &data) {
            panic!("{e}");
        }
    }
    eprintln!(
        "{name}: {} corpus inputs and {mutations} mutations in {:.1}s",
        inputs.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    let this = include_str!("corpus.rs");
    for t in TARGETS {
        assert!(
            this.contains(&format!("fn {}()", t.name)),
            "no test for target {}",
            t.name
        );
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("fuzz_targets/{}.rs", t.name))
                .exists(),
            "no fuzz_targets/{}.rs",
            t.name
        );
        assert!(corpus_dir(t.name).is_dir(), "no corpus for {}", t.name);
    }
}

#[test]
fn snmp_ber() {
    fuzz("snmp_ber");
}

#[test]
fn snmp_walk() {
    fuzz("snmp_walk");
}

#[test]
fn linux_parsers() {
    fuzz("linux_parsers");
}

#[test]
fn linux_output() {
    fuzz("linux_output");
}

#[test]
fn import_lines() {
    fuzz("import_lines");
}

#[test]
fn graphql_request() {
    fuzz("graphql_request");
}

#[test]
fn config() {
    fuzz("config");
}

#[test]
fn event_intake() {
    fuzz("event_intake");
}
