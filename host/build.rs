//! Links GCC's unwinder into the binaries statically on Linux with glibc,
//! so that `wasmjob` does not load `libgcc_s.so.1` at every start.
//!
//! Why: the Rust standard library asks for `-lgcc_s` (its panics unwind
//! through GCC's unwinder). Loading that library costs every process an
//! `openat`, four `mmap`s, symbol binding, and its constructor
//! (`__cpu_indicator_init`), which runs 12 `CPUID` instructions; on a
//! virtual machine each one traps to the hypervisor (~10 µs here). That was
//! 4–5% of a `wasmjob run` of one instance and 8% of `wasmjob --version`
//! (docs/PERFORMANCE.md). The same unwinder also comes as a static archive,
//! `libgcc_eh.a`, which is what `-C target-feature=+crt-static` links; a
//! linker script named `libgcc_s.so`, found before the system's, points
//! `-lgcc_s` at it. The binaries then need only libc and libm.
//!
//! When the archive cannot be found (another C toolchain, another target),
//! nothing changes and the binaries load `libgcc_s.so.1` as usual. A cross
//! build asks the target's C compiler (`CC_<target>` or `TARGET_CC`, as the
//! `cc` crate reads them; `./dev dist` sets them), never the machine's own,
//! whose archive is for another architecture.
//!
//! The binary's relative relocations are packed too, where the toolchain
//! can (see `build/relr.rs`).

use std::path::PathBuf;
use std::process::Command;

#[path = "build/relr.rs"]
mod relr;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/relr.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=TARGET_CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    relr::pack_binaries(&out);
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os != "linux" || target_env != "gnu" {
        return;
    }
    let Some(archive) = target_cc().and_then(|cc| static_unwinder(&cc)) else {
        println!("cargo:warning=libgcc_eh.a not found: wasmjob will load libgcc_s.so.1 at start");
        return;
    };
    let dir = out.join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("creating OUT_DIR/static-unwinder");
    let script = format!("INPUT(\"{}\")\n", archive.display());
    std::fs::write(dir.join("libgcc_s.so"), script).expect("writing the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}

/// The C compiler for the target being built: the one named for the target,
/// else `CC` or `cc` when building for this machine, else none (a cross
/// build with no compiler named for it).
fn target_cc() -> Option<String> {
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    for key in [
        format!("CC_{target}"),
        format!("CC_{}", target.replace('-', "_")),
    ] {
        println!("cargo:rerun-if-env-changed={key}");
        if let Ok(cc) = std::env::var(&key) {
            return Some(cc);
        }
    }
    if let Ok(cc) = std::env::var("TARGET_CC") {
        return Some(cc);
    }
    (target == host).then(|| std::env::var("CC").unwrap_or_else(|_| "cc".into()))
}

/// The absolute path of `libgcc_eh.a` as the C compiler `cc` (rustc's
/// linker driver) finds it.
fn static_unwinder(cc: &str) -> Option<PathBuf> {
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // A compiler that does not know the file prints its bare name back.
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}
