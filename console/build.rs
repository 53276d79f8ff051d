//! Builds the console and GraphiQL from `web/` and embeds the result.
//!
//! 1. `npm ci` in `web/` when `node_modules` is missing or was installed from another
//!    `package-lock.json` (the lock's hash is kept in `node_modules/.cmdb-lock`). Packages come
//!    from the npm registry by name and version, pinned by the lock; nothing is vendored.
//! 2. `node build.mjs $OUT_DIR/dist` (esbuild): bundles, stylesheets and the two HTML shells.
//! 3. `$OUT_DIR/assets.rs`: one `Asset` per file, bodies by `include_bytes!`.
//!
//! `CMDB_CONSOLE_DIST=/dir` skips 1 and 2 and embeds a directory built elsewhere (packagers,
//! image builds without Node.js). Without Node.js and without that variable the build fails
//! and says what to install.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let web = manifest.join("web");
    println!("cargo:rerun-if-env-changed=CMDB_CONSOLE_DIST");
    let dist = match std::env::var_os("CMDB_CONSOLE_DIST") {
        Some(d) => {
            let d = PathBuf::from(d);
            assert!(
                d.is_absolute(),
                "cmdb-console: CMDB_CONSOLE_DIST must be an absolute path (build scripts run in console/)"
            );
            // Its files, so a new bundle regenerates the table and its ETags.
            println!("cargo:rerun-if-changed={}", d.display());
            for f in fs::read_dir(&d).into_iter().flatten().flatten() {
                println!("cargo:rerun-if-changed={}", f.path().display());
            }
            d
        }
        None => {
            for p in ["src", "build.mjs", "package.json", "package-lock.json"] {
                println!("cargo:rerun-if-changed={}", web.join(p).display());
            }
            let dist = out.join("dist");
            npm_install(&web);
            run(
                Command::new("node")
                    .arg("build.mjs")
                    .arg(&dist)
                    .current_dir(&web),
                "node build.mjs (esbuild)",
            );
            dist
        }
    };
    write_table(&dist, &out.join("assets.rs"));
}

/// `npm ci` unless `node_modules` already holds what `package-lock.json` pins. Two builds
/// (say debug and the fuzz build) may get here at once: an exclusive lock on a file beside
/// the lock file makes the second wait and then find the install done.
fn npm_install(web: &Path) {
    let lock_text = fs::read(web.join("package-lock.json")).expect("console/web/package-lock.json");
    // node_modules holds platform binaries (esbuild's): a lock installed for another system or
    // Node.js (a checkout copied into an image) must be installed again.
    let node = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let mut h = DefaultHasher::new();
    lock_text.hash(&mut h);
    std::env::consts::OS.hash(&mut h);
    std::env::consts::ARCH.hash(&mut h);
    node.hash(&mut h);
    let want = format!("{:016x}\n", h.finish());
    let guard = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(web.join(".npm-install.lock"))
        .expect("console/web/.npm-install.lock");
    guard.lock().expect("lock console/web/.npm-install.lock");
    let stamp = web.join("node_modules").join(".cmdb-lock");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return;
    }
    run(
        Command::new("npm")
            // No install scripts: nothing the packages ship runs at build time (esbuild finds
            // its platform binary without its postinstall).
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(web),
        "npm ci",
    );
    fs::write(&stamp, want).expect("write node_modules/.cmdb-lock");
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "cmdb-console: `{what}` failed ({s}); see its output above. Without access to the npm \
             registry, set CMDB_CONSOLE_DIST to the absolute path of a bundle built elsewhere \
             (`npm run build` in console/web writes console/web/dist)"
        ),
        Err(e) => panic!(
            "cmdb-console: cannot run `{what}`: {e}. The console is built from npm packages: \
             install Node.js 18+ and npm (Debian: `apt install nodejs npm`), or set \
             CMDB_CONSOLE_DIST to the absolute path of a bundle built by `npm run build` in console/web"
        ),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn write_table(dist: &Path, dest: &Path) {
    let mut files: Vec<PathBuf> = fs::read_dir(dist)
        .unwrap_or_else(|e| panic!("cmdb-console: reading {}: {e}", dist.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.iter().any(|p| p.ends_with("index.html")),
        "cmdb-console: {} holds no index.html",
        dist.display()
    );
    let mut src = String::from("pub static ASSETS: &[Asset] = &[\n");
    for p in &files {
        let name = p
            .file_name()
            .unwrap()
            .to_str()
            .expect("asset names are UTF-8");
        let body = fs::read(p).unwrap();
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        src.push_str(&format!(
            "    Asset {{ name: {name:?}, content_type: {ct:?}, etag: \"\\\"{tag:016x}\\\"\", body: include_bytes!({path:?}) }},\n",
            ct = content_type(name),
            tag = h.finish(),
            path = p.display().to_string(),
        ));
    }
    src.push_str("];\n");
    fs::write(dest, src).expect("write assets.rs");
}
