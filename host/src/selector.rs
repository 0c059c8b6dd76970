//! Kubernetes label selectors (`-l`): `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
//! `a notin (x,y)`, `a`, `!a`, joined by commas (all must hold).

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value`: absent keys match too, as in Kubernetes.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`: absent keys match too.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Requirement>);

/// A selector that does not parse, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {text:?}: {problem}")]
pub struct SelectorError {
    /// The selector as given.
    pub text: String,
    /// What is wrong.
    pub problem: String,
}

impl Selector {
    /// Parses `-l` syntax.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fail = |problem: String| SelectorError {
            text: text.to_owned(),
            problem,
        };
        let mut requirements = Vec::new();
        for part in split_top_level(text).map_err(fail)? {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(requirement(part).map_err(fail)?);
        }
        Ok(Selector(requirements))
    }

    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err("unbalanced ')'".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn key(text: &str) -> Result<String, String> {
    let key = text.trim();
    crate::manifest::validate::qualified_name(key)?;
    Ok(key.to_owned())
}

fn value(text: &str) -> Result<String, String> {
    let value = text.trim();
    crate::manifest::validate::label_value(value)?;
    Ok(value.to_owned())
}

fn set(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or("expected a list in parentheses, as in (a,b)")?;
    inner.split(',').map(value).collect()
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if let Some(rest) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key(rest)?));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key(k)?, value(v)?));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let (k, rest) = (words[0], words[1].trim_start());
        if let Some(list) = rest.strip_prefix("notin") {
            return Ok(Requirement::NotIn(key(k)?, set(list)?));
        }
        if let Some(list) = rest.strip_prefix("in") {
            return Ok(Requirement::In(key(k)?, set(list)?));
        }
        return Err(format!(
            "unknown operator in {part:?}: use =, ==, !=, in or notin"
        ));
    }
    Ok(Requirement::Exists(key(part)?))
}

/// A field selector (`status.phase=Failed,metadata.name!=x`): every term
/// compares the text of a field of an object's JSON, a missing field
/// being `""`, as the API server compares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Reads `a=b`, `a==b` and `a!=b` terms, comma-joined.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(format!(
                    "invalid field selector {term:?}: expected FIELD=VALUE, FIELD==VALUE or \
                     FIELD!=VALUE"
                ));
            };
            terms.push((path.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether `object` meets every term.
    pub fn matches(&self, object: &serde_json::Value) -> bool {
        self.0
            .iter()
            .all(|(path, equal, value)| (field_text(object, path) == *value) == *equal)
    }
}

/// The text of field `path` (`status.phase`) in `object`; `""` if missing.
fn field_text(object: &serde_json::Value, path: &str) -> String {
    let mut at = object;
    for part in path.split('.') {
        at = &at[part];
    }
    match at {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_kubernetes_form_parses() {
        let s = Selector::parse("a=b, c==d,e!=f,g in (x, y),h notin (z),i,!j").unwrap();
        assert_eq!(
            s.0,
            vec![
                Requirement::Equals("a".into(), "b".into()),
                Requirement::Equals("c".into(), "d".into()),
                Requirement::NotEquals("e".into(), "f".into()),
                Requirement::In("g".into(), vec!["x".into(), "y".into()]),
                Requirement::NotIn("h".into(), vec!["z".into()]),
                Requirement::Exists("i".into()),
                Requirement::DoesNotExist("j".into()),
            ]
        );
    }

    #[test]
    fn matching_follows_kubernetes() {
        let l = labels(&[("jobgroup", "jobexample"), ("tier", "b")]);
        assert!(Selector::parse("jobgroup=jobexample").unwrap().matches(&l));
        assert!(!Selector::parse("jobgroup=other").unwrap().matches(&l));
        assert!(
            Selector::parse("missing!=x").unwrap().matches(&l),
            "absent keys satisfy !="
        );
        assert!(Selector::parse("tier in (a,b)").unwrap().matches(&l));
        assert!(Selector::parse("missing notin (a)").unwrap().matches(&l));
        assert!(!Selector::parse("tier notin (b)").unwrap().matches(&l));
        assert!(Selector::parse("tier,!missing").unwrap().matches(&l));
        assert!(Selector::parse("").unwrap().matches(&l));
    }

    #[test]
    fn bad_selectors_say_what_is_wrong() {
        let err = Selector::parse("a in (b").unwrap_err().to_string();
        assert!(err.contains("unbalanced '('"), "{err}");
        let err = Selector::parse("a within (b)").unwrap_err().to_string();
        assert!(err.contains("unknown operator"), "{err}");
        assert!(Selector::parse("Bad Key=x").is_err());
    }

    #[test]
    fn a_field_selector_compares_field_text_and_says_what_is_wrong() {
        let object = serde_json::json!({"status": {"phase": "Failed", "n": 2}});
        let failed = FieldSelector::parse("status.phase=Failed,status.n==2").unwrap();
        assert!(failed.matches(&object));
        assert!(
            !FieldSelector::parse("status.phase!=Failed")
                .unwrap()
                .matches(&object)
        );
        assert!(
            FieldSelector::parse("status.missing=")
                .unwrap()
                .matches(&object)
        );
        assert!(FieldSelector::parse("").unwrap().matches(&object));
        assert!(FieldSelector::parse("status.phase").is_err());
    }
}
