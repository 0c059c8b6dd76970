//! The harness is linked as `wasmjob` is (see `host/build/relr.rs`): its
//! naive-Wasm baseline is a process of this program, and a baseline that
//! started slower for the way it was linked would flatter wasmjob.

#[path = "../host/build/relr.rs"]
mod relr;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../host/build/relr.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    relr::pack_binaries(&out);
}
