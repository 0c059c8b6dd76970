//! Kubernetes' `$(VAR)` references in a container's `command`, `args` and
//! `env` values: `$(NAME)` is the value of the container's variable `NAME`
//! (for an `env` value, one declared before it), `$$` is a literal `$`, and
//! a reference to a variable not declared — or not closed — stays as
//! written, as the kubelet leaves it.

/// `text` with its references expanded by `lookup`.
pub fn expand<'a>(text: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            // `$$` is one `$`, never the start of a reference.
            out.push('$');
            rest = tail;
        } else if let Some(name_on) = after.strip_prefix('(')
            && let Some(close) = name_on.find(')')
        {
            let name = &name_on[..close];
            match lookup(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &name_on[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn vars(name: &str) -> Option<&'static str> {
        match name {
            "A" => Some("x"),
            "EMPTY" => Some(""),
            _ => None,
        }
    }

    #[test]
    fn references_expand_as_the_kubelet_expands_them() {
        assert_eq!(expand("$(A)-y", vars), "x-y");
        assert_eq!(expand("$(A)$(A)", vars), "xx");
        assert_eq!(expand("[$(EMPTY)]", vars), "[]");
        // Escaped, undeclared, unclosed or bare: as written.
        assert_eq!(expand("$$(A)", vars), "$(A)");
        assert_eq!(expand("$$$(A)", vars), "$x");
        assert_eq!(expand("$(B)", vars), "$(B)");
        assert_eq!(expand("$(A", vars), "$(A");
        assert_eq!(expand("cost: $5 and $A", vars), "cost: $5 and $A");
        assert_eq!(expand("end$", vars), "end$");
        assert_eq!(expand("", vars), "");
    }
}
