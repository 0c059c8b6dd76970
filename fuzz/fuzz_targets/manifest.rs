//! Any text as a manifest file: loading and validating it must return a
//! document list or a message, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wasmjob::manifest::load_str(text, "fuzz.yaml", std::path::Path::new("/nonexistent"));
    }
});
