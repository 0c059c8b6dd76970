//! `convert`: a one-time batch conversion between two volumes. Every `.csv`
//! file in the input directory becomes a `.jsonl` file (one JSON object per
//! row, keyed by the header) in the output directory. The input volume can
//! be mounted read-only; the output is written beside nothing else.
//!
//! Usage: `convert [INPUT_DIR] [OUTPUT_DIR]` (default `/in` and `/out`).
//! Exits 1 naming the file and line of the first malformed row.

use std::fs;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = args.first().map_or("/in", String::as_str);
    let output = args.get(1).map_or("/out", String::as_str);
    let mut names: Vec<String> = match fs::read_dir(input) {
        Ok(list) => list
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".csv"))
            .collect(),
        Err(e) => fail(&format!("cannot read {input}: {e}")),
    };
    names.sort();
    let mut total = 0;
    for name in &names {
        let text = fs::read_to_string(Path::new(input).join(name))
            .unwrap_or_else(|e| fail(&format!("cannot read {input}/{name}: {e}")));
        let jsonl =
            to_jsonl(&text).unwrap_or_else(|(line, why)| fail(&format!("{name}:{line}: {why}")));
        let target = format!("{}.jsonl", name.trim_end_matches(".csv"));
        fs::write(Path::new(output).join(&target), &jsonl.text)
            .unwrap_or_else(|e| fail(&format!("cannot write {output}/{target}: {e}")));
        println!("converted {name} -> {target} ({} rows)", jsonl.rows);
        total += jsonl.rows;
    }
    println!("{} files, {total} rows", names.len());
}

fn fail(message: &str) -> ! {
    eprintln!("convert: {message}");
    std::process::exit(1)
}

struct Converted {
    text: String,
    rows: usize,
}

/// CSV (RFC 4180 quoting) with a header line to JSON Lines.
fn to_jsonl(csv: &str) -> Result<Converted, (usize, String)> {
    let mut lines = csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Converted {
            text: String::new(),
            rows: 0,
        });
    };
    let keys = split(header).map_err(|why| (1, why))?;
    let mut text = String::new();
    let mut rows = 0;
    for (n, line) in lines {
        let values = split(line).map_err(|why| (n + 1, why))?;
        if values.len() != keys.len() {
            return Err((
                n + 1,
                format!("{} fields, the header has {}", values.len(), keys.len()),
            ));
        }
        let fields: Vec<String> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
            .collect();
        text.push('{');
        text.push_str(&fields.join(","));
        text.push_str("}\n");
        rows += 1;
    }
    Ok(Converted { text, rows })
}

fn split(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::to_jsonl;

    #[test]
    fn rows_become_objects_keyed_by_the_header() {
        let out = to_jsonl("name,qty\napple,3\n\"kiwi, gold\",\"say \"\"hi\"\"\"\n").unwrap();
        assert_eq!(out.rows, 2);
        assert_eq!(
            out.text,
            "{\"name\":\"apple\",\"qty\":\"3\"}\n{\"name\":\"kiwi, gold\",\"qty\":\"say \\\"hi\\\"\"}\n"
        );
    }

    #[test]
    fn a_short_row_names_its_line() {
        assert_eq!(
            to_jsonl("a,b\n1,2\n3\n").err(),
            Some((3, "1 fields, the header has 2".into()))
        );
    }
}
