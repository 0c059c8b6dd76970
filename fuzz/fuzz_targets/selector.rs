//! Any text as a label selector (`-l`): parsing must return a selector or a
//! message, and a parsed selector must match labels without panicking.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use wasmjob::selector::Selector;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selector) = Selector::parse(text) {
        let labels = BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), "".to_owned()),
            ("example.com/zone".to_owned(), "a-1".to_owned()),
        ]);
        let _ = selector.matches(&labels);
        let _ = selector.is_empty();
    }
});
