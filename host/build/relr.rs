//! Packed relative relocations (`DT_RELR`) for a package's binaries, when
//! the C toolchain and the system's loader support them.
//!
//! Why: `wasmjob` is a position-independent executable, and at every start
//! the loader applies ~50,000 relative relocations to it. Written the usual
//! way (`RELA`, 24 bytes each) the table is 1.2 MB that each process reads;
//! packed (`RELR`, a bitmap of the words to adjust) it is 13 KB. The binary
//! stays position independent, its address still randomised. After another
//! program has run (the run-hello scenario alternates with a 40 ms compile),
//! reading the large table from cold caches cost a `wasmjob run` ~0.4 ms of
//! its ~4.5 (docs/PERFORMANCE.md).
//!
//! Packing needs binutils 2.38 (or lld) to write and glibc 2.36 to load, so
//! a small C program is built with it and run first; where that fails, the
//! binaries are linked as usual.

use std::path::Path;
use std::process::Command;

/// The linker option.
const PACK: &str = "-Wl,-z,pack-relative-relocs";

/// Asks cargo to link this package's binaries with packed relative
/// relocations if a probe in `out_dir` shows that they work here.
pub fn pack_binaries(out_dir: &Path) {
    println!("cargo:rerun-if-env-changed=CC");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    // The probe runs here, so only for this machine's own kind of target.
    let native = target("CARGO_CFG_TARGET_OS") == "linux"
        && target("CARGO_CFG_TARGET_ENV") == "gnu"
        && target("CARGO_CFG_TARGET_ARCH") == std::env::consts::ARCH;
    if native && probe(out_dir) {
        println!("cargo:rustc-link-arg-bins={PACK}");
    }
}

/// Whether a program linked with [`PACK`] links without complaint and runs.
fn probe(out_dir: &Path) -> bool {
    let source = out_dir.join("relr-probe.c");
    let program = out_dir.join("relr-probe");
    // A pointer to static data: at least one relative relocation to pack.
    let text = "static int answer;\nint *volatile at = &answer;\nint main(void) { return *at; }\n";
    if std::fs::write(&source, text).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(linked) = Command::new(cc)
        .args(["-fPIE", "-pie", PACK, "-o"])
        .arg(&program)
        .arg(&source)
        .output()
    else {
        return false;
    };
    // An older GNU ld ignores an unknown `-z` keyword and only says so.
    if !linked.status.success() || !linked.stderr.is_empty() {
        return false;
    }
    // An older glibc refuses to start a program that needs GLIBC_ABI_DT_RELR.
    Command::new(&program)
        .output()
        .is_ok_and(|ran| ran.status.success())
}
