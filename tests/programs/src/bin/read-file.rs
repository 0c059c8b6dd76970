//! Prints the file argv[1]; exits 1 when it cannot be read (outside every
//! volume, a `..` or symlink escape).

fn main() {
    let path = std::env::args().nth(1).expect("a path to read");
    match std::fs::read_to_string(&path) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            println!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    }
}
