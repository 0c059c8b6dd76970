//! A node's labels, changed by `label node`: kubectl's rules — `key=value`
//! sets, `key-` removes, and changing a label's value needs `--overwrite`.

use std::collections::BTreeMap;

/// What `label node` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relabel {
    /// Labels to set.
    pub set: BTreeMap<String, String>,
    /// Label keys to remove.
    pub remove: Vec<String>,
    /// Whether a label may change value.
    pub overwrite: bool,
}

/// The node's labels after `change`, or why it is refused.
pub fn relabeled(
    labels: &BTreeMap<String, String>,
    change: Relabel,
) -> Result<BTreeMap<String, String>, String> {
    for (key, value) in &change.set {
        if let Some(old) = labels.get(key)
            && old != value
            && !change.overwrite
        {
            return Err(format!(
                "{key:?} already has a value ({old}), and --overwrite is false"
            ));
        }
    }
    let mut labels = labels.clone();
    for key in &change.remove {
        labels.remove(key);
    }
    labels.extend(change.set);
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changing_a_value_needs_overwrite_and_removing_does_not() {
        let labels = BTreeMap::from([("zone".to_owned(), "a".to_owned())]);
        let mut change = Relabel {
            set: [("zone".to_owned(), "b".to_owned())].into(),
            ..Relabel::default()
        };
        let refused = relabeled(&labels, change.clone()).unwrap_err();
        assert!(refused.contains("--overwrite is false"), "{refused}");
        change.overwrite = true;
        assert_eq!(relabeled(&labels, change).unwrap()["zone"], "b");
        let remove = Relabel {
            remove: vec!["zone".into()],
            ..Relabel::default()
        };
        assert!(relabeled(&labels, remove).unwrap().is_empty());
    }
}
