//! kubectl's JSONPath templates, for `get -o jsonpath=…`, `-o
//! custom-columns=…` and `--sort-by`: text with `{…}` actions — a path
//! (`.items[*].metadata.name`, `..name`, `['a.b']`, `[0]`, `[1:3]`,
//! `[?(@.status.phase=="Failed")]`), a quoted string (`{"\n"}`), and
//! `{range PATH}…{end}` — printed as kubectl prints them: strings as they
//! are, other values as JSON, several results of one path joined by spaces.

use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Node>);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Path(Path),
    Range(Path, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
struct Path(Vec<Step>);

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Recursive(String),
    All,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Path, Option<(String, Value)>),
}

/// Why a template could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("error parsing jsonpath {template:?}: {reason}")]
pub struct JsonPathError {
    template: String,
    reason: String,
}

impl Template {
    /// Reads a template.
    pub fn parse(text: &str) -> Result<Template, JsonPathError> {
        let error = |reason: String| JsonPathError {
            template: text.to_owned(),
            reason,
        };
        let mut stack: Vec<(Option<Path>, Vec<Node>)> = vec![(None, Vec::new())];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                stack
                    .last_mut()
                    .expect("a level")
                    .1
                    .push(Node::Text(rest.to_owned()));
                break;
            };
            if open > 0 {
                let text = rest[..open].to_owned();
                stack.last_mut().expect("a level").1.push(Node::Text(text));
            }
            let close = closing(&rest[open..]).ok_or_else(|| error("unclosed action".into()))?;
            let action = rest[open + 1..open + close].trim();
            rest = &rest[open + close + 1..];
            if let Some(path) = action.strip_prefix("range ") {
                stack.push((Some(path_of(path.trim()).map_err(error)?), Vec::new()));
            } else if action == "end" {
                if stack.len() < 2 {
                    return Err(error("{end} without {range}".into()));
                }
                let (path, nodes) = stack.pop().expect("a range");
                let node = Node::Range(path.expect("a range's path"), nodes);
                stack.last_mut().expect("a level").1.push(node);
            } else if action.starts_with('"') || action.starts_with('\'') {
                let literal =
                    unquote(action).ok_or_else(|| error(format!("bad string {action}")))?;
                stack
                    .last_mut()
                    .expect("a level")
                    .1
                    .push(Node::Text(literal));
            } else {
                let path = path_of(action).map_err(error)?;
                stack.last_mut().expect("a level").1.push(Node::Path(path));
            }
        }
        if stack.len() != 1 {
            return Err(error("{range} without {end}".into()));
        }
        Ok(Template(stack.pop().expect("the top").1))
    }

    /// A path alone, with or without braces (`--sort-by`, custom columns).
    pub fn relaxed(text: &str) -> Result<Template, JsonPathError> {
        let text = text.trim();
        match text.starts_with('{') {
            true => Template::parse(text),
            false => Template::parse(&format!("{{{text}}}")),
        }
    }

    /// The template applied to `root`.
    pub fn render(&self, root: &Value) -> String {
        let mut out = String::new();
        render(&self.0, root, &mut out);
        out
    }

    /// The values the template's first path finds in `root`.
    pub fn values<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        match self.0.iter().find_map(|n| match n {
            Node::Path(p) => Some(p),
            _ => None,
        }) {
            Some(path) => eval(path, root),
            None => Vec::new(),
        }
    }
}

fn render(nodes: &[Node], at: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Path(path) => {
                let found: Vec<String> = eval(path, at).into_iter().map(text).collect();
                out.push_str(&found.join(" "));
            }
            Node::Range(path, body) => {
                for item in eval(path, at) {
                    render(body, item, out);
                }
            }
        }
    }
}

/// A value as kubectl prints it.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The length of `{…}` up to its closing brace, quotes respected.
fn closing(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '}') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(text: &str) -> Option<String> {
    let quote = text.chars().next()?;
    let inner = text.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            other => out.push(other),
        }
    }
    Some(out)
}

fn path_of(text: &str) -> Result<Path, String> {
    let mut steps = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    if matches!(chars.first(), Some('$' | '@')) {
        i = 1;
    }
    while i < chars.len() {
        match chars[i] {
            '.' if chars.get(i + 1) == Some(&'.') => {
                let (name, next) = name_at(&chars, i + 2);
                steps.push(Step::Recursive(name));
                i = next;
            }
            '.' if chars.get(i + 1) == Some(&'*') => {
                steps.push(Step::All);
                i += 2;
            }
            '.' => {
                let (name, next) = name_at(&chars, i + 1);
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
                i = next;
            }
            '[' => {
                let close = bracket_end(&chars, i).ok_or("unclosed [")?;
                let inside: String = chars[i + 1..close].iter().collect();
                steps.push(bracket(inside.trim())?);
                i = close + 1;
            }
            c if c.is_whitespace() => i += 1,
            c => return Err(format!("unexpected {c:?} in {text:?}")),
        }
    }
    Ok(Path(steps))
}

/// A field name after `.`, up to the next `.` or `[` (`\.` escapes a dot).
fn name_at(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < chars.len() && !matches!(chars[i], '.' | '[') && !chars[i].is_whitespace() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            i += 1;
        }
        name.push(chars[i]);
        i += 1;
    }
    (name, i)
}

fn bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn bracket(inside: &str) -> Result<Step, String> {
    if inside == "*" {
        return Ok(Step::All);
    }
    if let Some(quoted) = unquote(inside).filter(|_| inside.starts_with(['\'', '"'])) {
        return Ok(Step::Field(quoted));
    }
    if let Some(filter) = inside.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return filter_of(filter.trim());
    }
    let number = |t: &str| -> Result<Option<i64>, String> {
        match t.trim() {
            "" => Ok(None),
            n => n.parse().map(Some).map_err(|_| format!("bad index {n:?}")),
        }
    };
    match inside.split_once(':') {
        Some((from, to)) => Ok(Step::Slice(
            number(from)?,
            number(to.split(':').next().unwrap_or(""))?,
        )),
        None => Ok(Step::Index(number(inside)?.ok_or("an empty index")?)),
    }
}

fn filter_of(text: &str) -> Result<Step, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((left, right)) = text.split_once(op) {
            let right = right.trim();
            let value = match unquote(right) {
                Some(s) if right.starts_with(['\'', '"']) => Value::String(s),
                _ => serde_json::from_str(right).map_err(|_| format!("bad value {right:?}"))?,
            };
            return Ok(Step::Filter(
                path_of(left.trim())?,
                Some((op.to_owned(), value)),
            ));
        }
    }
    Ok(Step::Filter(path_of(text)?, None))
}

fn eval<'v>(path: &Path, at: &'v Value) -> Vec<&'v Value> {
    let mut current = vec![at];
    for step in &path.0 {
        let mut next = Vec::new();
        for value in current {
            apply(step, value, &mut next);
        }
        current = next;
    }
    current
}

fn apply<'v>(step: &Step, value: &'v Value, out: &mut Vec<&'v Value>) {
    match step {
        Step::Field(name) => out.extend(value.get(name)),
        Step::Recursive(name) => recursive(value, name, out),
        Step::All => match value {
            Value::Array(items) => out.extend(items),
            Value::Object(map) => out.extend(map.values()),
            _ => {}
        },
        Step::Index(i) => {
            if let Value::Array(items) = value {
                let at = if *i < 0 { items.len() as i64 + i } else { *i };
                out.extend(usize::try_from(at).ok().and_then(|a| items.get(a)));
            }
        }
        Step::Slice(from, to) => {
            if let Value::Array(items) = value {
                let len = items.len() as i64;
                let clamp = |v: i64| (if v < 0 { len + v } else { v }).clamp(0, len) as usize;
                let (a, b) = (clamp(from.unwrap_or(0)), clamp(to.unwrap_or(len)));
                if a < b {
                    out.extend(&items[a..b]);
                }
            }
        }
        Step::Filter(path, test) => {
            if let Value::Array(items) = value {
                out.extend(items.iter().filter(|item| {
                    let found = eval(path, item);
                    match test {
                        None => !found.is_empty(),
                        Some((op, want)) => found.iter().any(|v| compare(v, op, want)),
                    }
                }));
            }
        }
    }
}

fn recursive<'v>(value: &'v Value, name: &str, out: &mut Vec<&'v Value>) {
    match value {
        Value::Object(map) => {
            out.extend(map.get(name));
            for child in map.values() {
                recursive(child, name, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| recursive(i, name, out)),
        _ => {}
    }
}

fn compare(have: &Value, op: &str, want: &Value) -> bool {
    let order = match (have.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        _ => Some(text(have).cmp(&text(want))),
    };
    let Some(order) = order else { return false };
    match op {
        "==" => order.is_eq(),
        "!=" => order.is_ne(),
        "<" => order.is_lt(),
        ">" => order.is_gt(),
        "<=" => order.is_le(),
        _ => order.is_ge(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}}, "status": {"phase": "Failed", "n": 3}},
            {"metadata": {"name": "b"}, "status": {"phase": "Succeeded", "n": 1}},
        ]})
    }

    fn render(template: &str) -> String {
        Template::parse(template).unwrap().render(&list())
    }

    #[test]
    fn paths_ranges_and_strings_print_as_kubectl_prints_them() {
        assert_eq!(render("{.items[*].metadata.name}"), "a b");
        assert_eq!(
            render("{range .items[*]}{.metadata.name}{\"\\n\"}{end}"),
            "a\nb\n"
        );
        assert_eq!(render("{.items[0].status}"), r#"{"n":3,"phase":"Failed"}"#);
        assert_eq!(render("{.items[-1].metadata.name}"), "b");
        assert_eq!(render("{.items[0:1].metadata.name}"), "a");
        assert_eq!(render("{..phase}"), "Failed Succeeded");
        assert_eq!(
            render("{.items[?(@.status.phase==\"Failed\")].metadata.name}"),
            "a"
        );
        assert_eq!(render("{.items[?(@.status.n>1)].metadata.name}"), "a");
        assert_eq!(render("{.items[?(@.metadata.labels)].metadata.name}"), "a");
        assert_eq!(
            render(r"{.items[0].metadata.labels.app\.kubernetes\.io/name}"),
            "x"
        );
        assert_eq!(
            render("{.items[0].metadata.labels['app.kubernetes.io/name']}"),
            "x"
        );
        assert_eq!(render("names: {.items[*].metadata.name}!"), "names: a b!");
        assert_eq!(render("{.nothing}"), "");
    }

    #[test]
    fn a_relaxed_path_needs_no_braces_and_bad_templates_say_why() {
        let sort = Template::relaxed(".status.n").unwrap();
        assert_eq!(sort.values(&list()["items"][1]), [&json!(1)]);
        assert!(Template::parse("{.items[*]").is_err());
        assert!(Template::parse("{range .items[*]}{.a}").is_err());
        assert!(Template::parse("{end}").is_err());
        let error = Template::parse("{.a b}").unwrap_err();
        assert!(
            error.to_string().starts_with("error parsing jsonpath"),
            "{error}"
        );
    }
}
