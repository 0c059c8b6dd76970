//! Prints its whole environment and argv, one entry a line, so tests can
//! check exactly what the sandbox exposes.

fn main() {
    for (key, value) in std::env::vars() {
        println!("env {key}={value}");
    }
    for arg in std::env::args() {
        println!("arg {arg}");
    }
}
