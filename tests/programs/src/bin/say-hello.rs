//! Prints one line and exits 0: the smallest real job.

fn main() {
    println!("Hello from wasmjob");
}
