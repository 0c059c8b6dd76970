//! {{name}}: a wasmjob plugin, a WASI command that also uses the host's
//! plugin interfaces (wit/plugin.wit): log, checkpoint, queue, context.

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "wasmjob:plugin/plugin",
    });
}

use bindings::wasmjob::plugin::{context, log};

fn main() {
    println!("Hello from {{name}}, instance {}", context::instance_name());
    let field = log::Field {
        key: "lang".into(),
        value: "rust".into(),
    };
    log::log(log::Level::Info, "greeted", &[field]);
}
