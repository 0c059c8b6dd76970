//! Where manifests come from: files, directories, or stdin; Jinja2 templates
//! (`.jinja2`, `.j2`) rendered with `--set` variables; and `--expand
//! VAR=a,b,c`, which makes one copy per value with `$VAR` substituted, as the
//! seed's shell loop does with sed.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::manifest::{self, Document};

/// How to read `-f` arguments.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--set key=value` for templates.
    pub sets: Vec<(String, String)>,
    /// `--expand VAR=a,b,c`.
    pub expand: Option<(String, Vec<String>)>,
    /// `--strict`: what would be a warning is a refusal.
    pub strict: bool,
}

impl Sources {
    /// Parses `--set` and `--expand` flags.
    pub fn new(sets: &[String], expand: Option<&str>) -> Result<Self, CliError> {
        let pair = |flag: &str, text: &str| {
            text.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| CliError::BadInput(format!("{flag} {text:?}: expected NAME=VALUE")))
        };
        let sets = sets
            .iter()
            .map(|s| pair("--set", s))
            .collect::<Result<_, _>>()?;
        let expand = match expand {
            None => None,
            Some(text) => {
                let (var, values) = pair("--expand", text)?;
                let values: Vec<String> = values
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect();
                if values.is_empty() {
                    return Err(CliError::BadInput(format!(
                        "--expand {text:?}: give at least one value"
                    )));
                }
                Some((var, values))
            }
        };
        Ok(Sources {
            sets,
            expand,
            strict: false,
        })
    }

    /// The flags of a verb that reads manifests.
    pub fn of(args: &super::TemplateArgs) -> Result<Self, CliError> {
        let mut sources = Sources::new(&args.sets, args.expand.as_deref())?;
        sources.strict = args.strict;
        Ok(sources)
    }

    /// The documents named by `-f`: files, directories (their `.yaml`, `.yml`,
    /// `.json`, `.jinja2` and `.j2` files, in name order) or `-` for stdin.
    pub fn load(&self, paths: &[PathBuf]) -> Result<Vec<Document>, CliError> {
        let mut docs = Vec::new();
        for path in paths {
            if path.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::BadInput(format!("<stdin>: cannot read: {e}")))?;
                let base = std::env::current_dir().unwrap_or_default();
                docs.extend(self.parse(text, "<stdin>", &base)?);
            } else if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| {
                        CliError::BadInput(format!("{}: cannot list: {e}", path.display()))
                    })?
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension().is_some_and(|e| {
                            ["yaml", "yml", "json", "jinja2", "j2"]
                                .iter()
                                .any(|x| e == *x)
                        })
                    })
                    .collect();
                files.sort();
                for file in files {
                    docs.extend(self.load_file(&file)?);
                }
            } else {
                docs.extend(self.load_file(path)?);
            }
        }
        self.warn(&docs)?;
        Ok(docs)
    }

    /// Prints each document's warnings as kubectl prints the API server's
    /// (`Warning: …` on stderr); with `--strict`, refuses the first.
    fn warn(&self, docs: &[Document]) -> Result<(), CliError> {
        for doc in docs {
            for warning in &doc.warnings {
                if self.strict {
                    return Err(CliError::BadInput(format!(
                        "{}: document {}: {warning} (refused: --strict)",
                        doc.file, doc.index
                    )));
                }
                eprintln!("Warning: {warning}");
            }
        }
        Ok(())
    }

    fn load_file(&self, path: &Path) -> Result<Vec<Document>, CliError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::BadInput(format!("{shown}: cannot read the manifest: {e}")))?;
        let text = if path.extension().is_some_and(|e| e == "jinja2" || e == "j2") {
            render(&text, &shown, &self.sets)?
        } else {
            text
        };
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        self.parse(text, &shown, base)
    }

    fn parse(&self, text: String, file: &str, base: &Path) -> Result<Vec<Document>, CliError> {
        let bad = |e: manifest::ManifestError| CliError::BadInput(e.to_string());
        match &self.expand {
            None => manifest::load_str(&text, file, base).map_err(bad),
            Some((var, values)) => {
                let mut docs = Vec::new();
                for value in values {
                    let expanded = text
                        .replace(&format!("${{{var}}}"), value)
                        .replace(&format!("${var}"), value);
                    let name = format!("{file} ({var}={value})");
                    docs.extend(manifest::load_str(&expanded, &name, base).map_err(bad)?);
                }
                Ok(docs)
            }
        }
    }
}

/// Renders a Jinja2 template. Undefined variables are errors, and every
/// error names the template line.
fn render(text: &str, file: &str, sets: &[(String, String)]) -> Result<String, CliError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    let fail = |e: minijinja::Error| {
        let line = e
            .line()
            .map(|l| format!("template line {l}: "))
            .unwrap_or_default();
        let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
        CliError::BadInput(format!("{file}: {line}{}{detail}", e.kind()))
    };
    env.add_template("manifest", text).map_err(fail)?;
    let context: std::collections::BTreeMap<&str, &str> =
        sets.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.get_template("manifest")
        .and_then(|t| t.render(context))
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_template_renders_three_documents() {
        let template = r#"{% set params = [{ "name": "apple", "url": "http://dbpedia.org/resource/Apple", },
                  { "name": "banana", "url": "http://dbpedia.org/resource/Banana", },
                  { "name": "cherry", "url": "http://dbpedia.org/resource/Cherry" }]
%}
{% for p in params %}
{% set name = p["name"] %}
---
name: jobexample-{{ name }}
{% endfor %}
"#;
        let text = render(template, "job.yaml.jinja2", &[]).unwrap();
        assert_eq!(text.matches("name: jobexample-").count(), 3);
        assert!(text.contains("jobexample-cherry"));
    }

    #[test]
    fn set_supplies_variables_and_missing_ones_name_the_line() {
        let sets = vec![("who".to_owned(), "world".to_owned())];
        assert_eq!(
            render("hello {{ who }}\n", "t.j2", &sets).unwrap(),
            "hello world\n"
        );
        let err = render("a\nhello {{ nobody }}\n", "t.j2", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.j2: template line 2: undefined value"),
            "{err}"
        );
        let err = render("{% for %}", "t.j2", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("t.j2: template line 1: syntax error"),
            "{err}"
        );
    }

    #[test]
    fn expand_and_set_flags_are_checked() {
        assert!(Sources::new(&["x".into()], None).is_err());
        assert!(Sources::new(&[], Some("ITEM=")).is_err());
        let s = Sources::new(&[], Some("ITEM=apple, banana")).unwrap();
        assert_eq!(
            s.expand,
            Some(("ITEM".into(), vec!["apple".into(), "banana".into()]))
        );
    }
}
