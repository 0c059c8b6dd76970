//! Kubernetes' compact form of index sets, as in `status.completedIndexes`.

use std::collections::BTreeSet;

/// `1,3-5,7` for {1, 3, 4, 5, 7}.
pub fn compact(indexes: &BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().expect("peeked");
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_print_in_kubernetes_compact_form() {
        assert_eq!(compact(&[1, 3, 4, 5, 7].into()), "1,3-5,7");
        assert_eq!(compact(&[0, 1].into()), "0-1");
        assert_eq!(compact(&BTreeSet::new()), "");
    }
}
