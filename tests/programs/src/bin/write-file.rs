//! Writes argv[2] to the file argv[1] and reports what happened; exits 1 when
//! the write is refused (a read-only volume, a path outside every volume).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, text) = (
        &args[1],
        args.get(2)
            .map(String::as_str)
            .unwrap_or("written by guest\n"),
    );
    match std::fs::write(path, text) {
        Ok(()) => println!("wrote {path}"),
        Err(e) => {
            println!("cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}
