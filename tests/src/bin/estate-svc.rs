//! A small long-running network service for the lab estate (tests/lab/estate): it listens on
//! the given ports and holds real TCP connections to its upstreams, so `ss`, `/proc/net/tcp`
//! and net-snmp's TCP-MIB on each lab host report real sockets with a real owning process.
//!
//! The lab copies this binary under the name of the role it plays (`nginx`, `gunicorn`, `java`,
//! `postgres`, `redis-server`), so the process name a probe sees is the role's.
//!
//! ```text
//! estate-svc --listen PORT [--listen PORT …] [--connect HOST:PORT …] [--conns N]
//! ```
//! Every upstream gets `N` (default 2) connections, re-established a second after they drop.
//! Accepted connections are read and discarded until the peer closes them. Standard library
//! only: the lab must not depend on anything the tests crate does not already build.

use std::io::Read;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: estate-svc --listen PORT [--listen PORT …] [--connect HOST:PORT …] [--conns N]"
    );
    std::process::exit(64);
}

fn main() {
    let mut listen: Vec<u16> = Vec::new();
    let mut connect: Vec<String> = Vec::new();
    let mut conns = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--listen" => listen.push(v.parse().unwrap_or_else(|_| usage())),
            "--connect" => connect.push(v),
            "--conns" => conns = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if listen.is_empty() && connect.is_empty() {
        usage();
    }
    for port in listen {
        let l = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
            eprintln!("estate-svc: cannot listen on port {port}: {e}");
            std::process::exit(1);
        });
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                thread::spawn(move || drain(s));
            }
        });
    }
    for up in connect {
        for _ in 0..conns {
            let up = up.clone();
            thread::spawn(move || hold(&up));
        }
    }
    loop {
        thread::park();
    }
}

/// Read until the peer closes: an accepted client stays connected as long as it wants.
fn drain(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// Keep one connection to `upstream` open, reconnecting a second after it fails or closes.
fn hold(upstream: &str) {
    loop {
        let addr = upstream.to_socket_addrs().ok().and_then(|mut a| a.next());
        if let Some(addr) = addr {
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                drain(s);
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
}
