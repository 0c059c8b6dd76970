//! `wasmjob new plugin NAME --lang rust|python|js`, like `spin new`: a
//! directory with the plugin's source, the host's WIT package (so the
//! toolchain needs nothing else), a Job and a CronJob manifest and a README
//! whose two commands build and run it. The templates are in
//! `host/templates/plugin/`; `{{name}}` and the like are filled in here.

use std::path::{Path, PathBuf};

use super::CliError;

// `wasmjob new`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// What to make: `plugin`.
    pub what: What,
    /// Its name: a DNS-1123 label (the Job's and the module's name).
    pub name: String,
    /// The plugin's language.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Where [default: ./NAME]; it must not exist yet.
    #[arg(short = 'o', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// What `new` makes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum What {
    /// A plugin.
    Plugin,
}

/// A plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, built with cargo for wasm32-wasip2 and wit-bindgen.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
}

/// The host's WIT package and the WASI packages its `job` world includes.
const WIT: [(&str, &str); 10] = [
    ("plugin.wit", include_str!("../../../wit/plugin.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    (
        "deps/config.wit",
        include_str!("../../../wit/deps/config.wit"),
    ),
    (
        "deps/keyvalue.wit",
        include_str!("../../../wit/deps/keyvalue.wit"),
    ),
];

const JOB: &str = include_str!("../../templates/plugin/job.yaml");
const CRONJOB: &str = include_str!("../../templates/plugin/cronjob.yaml");
const README: &str = include_str!("../../templates/plugin/README.md");

/// What differs by language: the files, the build command, the module.
struct Template {
    files: Vec<(String, &'static str)>,
    language: &'static str,
    build: &'static str,
    image: &'static str,
    toolchain: &'static str,
}

fn template(lang: Lang) -> Template {
    match lang {
        Lang::Rust => Template {
            files: vec![
                (
                    "Cargo.toml".into(),
                    include_str!("../../templates/plugin/rust/Cargo.toml"),
                ),
                (
                    "src/main.rs".into(),
                    include_str!("../../templates/plugin/rust/src/main.rs"),
                ),
            ],
            language: "Rust",
            build: "cargo build --target wasm32-wasip2 --release",
            image: "target/wasm32-wasip2/release/{{name}}.wasm",
            toolchain: "\nThe build needs Rust's `wasm32-wasip2` target \
                        (`rustup target add wasm32-wasip2`).\n",
        },
        Lang::Python => Template {
            files: vec![(
                "app.py".into(),
                include_str!("../../templates/plugin/python/app.py"),
            )],
            language: "Python",
            build: "componentize-py -d wit -w job componentize app -o {{name}}.wasm",
            image: "{{name}}.wasm",
            toolchain: "\nThe build needs componentize-py (`pip install componentize-py==0.25.1`, \
                        the version wasmjob is tested with).\n",
        },
        Lang::Js => Template {
            files: vec![
                (
                    "{{name}}.js".into(),
                    include_str!("../../templates/plugin/js/plugin.js"),
                ),
                (
                    "package.json".into(),
                    include_str!("../../templates/plugin/js/package.json"),
                ),
            ],
            language: "JavaScript",
            build: "npm install && npm run build",
            image: "{{name}}.wasm",
            toolchain: "\nThe build needs Node.js and npm; `npm install` brings componentize-js \
                        0.22.0, the version wasmjob is tested with.\n",
        },
    }
}

/// Makes the plugin's directory; prints what it wrote and what to do next.
pub fn new(args: &NewArgs) -> Result<(), CliError> {
    let What::Plugin = args.what;
    crate::manifest::validate::dns_label(&args.name).map_err(CliError::BadInput)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        return Err(CliError::BadInput(format!(
            "{} already exists: choose another name or --dir",
            dir.display()
        )));
    }
    let lang = match args.lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
        Lang::Js => "js",
    };
    let t = template(args.lang);
    let fill = |text: &str| {
        let text = text
            .replace("{{image}}", t.image)
            .replace("{{build}}", t.build)
            .replace("{{language}}", t.language)
            .replace("{{toolchain}}", t.toolchain)
            .replace("{{lang}}", lang);
        text.replace("{{name}}", &args.name)
    };
    let mut files: Vec<(String, String)> = (t.files.iter())
        .map(|(path, text)| (fill(path), fill(text)))
        .collect();
    files.push(("job.yaml".into(), fill(JOB)));
    files.push(("cronjob.yaml".into(), fill(CRONJOB)));
    files.push(("README.md".into(), fill(README)));
    for (path, text) in WIT {
        files.push((format!("wit/{path}"), text.to_owned()));
    }
    write_all(&dir, &files).map_err(|e| {
        // Nothing half-written stays behind.
        let _ = std::fs::remove_dir_all(&dir);
        CliError::Failed(format!("cannot write {}: {e}", dir.display()))
    })?;
    outln!(
        "created {} ({} plugin {})",
        dir.display(),
        t.language,
        args.name
    );
    outln!(
        "next:\n  cd {}\n  {}\n  wasmjob run -f job.yaml",
        dir.display(),
        fill(t.build)
    );
    Ok(())
}

fn write_all(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}
