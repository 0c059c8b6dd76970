//! Behaves by its JOB_COMPLETION_INDEX, for Indexed Job tests. Each argument is
//! `INDEX=ACTION` with ACTION `exit:N` or `spin`; an index not listed prints
//! `index N ok` and exits 0.

fn main() {
    let index = std::env::var("JOB_COMPLETION_INDEX").unwrap_or_default();
    let action = std::env::args()
        .skip(1)
        .find_map(|arg| arg.strip_prefix(&format!("{index}=")).map(str::to_owned));
    match action.as_deref() {
        None => println!("index {index} ok"),
        Some("spin") => {
            println!("index {index} spins");
            #[allow(clippy::empty_loop)]
            loop {}
        }
        Some(other) => {
            let code: i32 = other
                .strip_prefix("exit:")
                .and_then(|c| c.parse().ok())
                .expect("exit:N or spin");
            println!("index {index} exits {code}");
            std::process::exit(code);
        }
    }
}
