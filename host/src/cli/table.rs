//! kubectl-style tables: columns separated by at least three spaces, aligned.

/// Renders a header and rows as aligned text, one line each.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
        out
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_like_kubectl() {
        let text = super::render(
            &["NAME", "STATUS"],
            &[
                vec!["pi".into(), "Complete".into()],
                vec!["hello-world".into(), "Failed".into()],
            ],
        );
        assert_eq!(
            text,
            "NAME          STATUS\npi            Complete\nhello-world   Failed\n"
        );
    }
}
