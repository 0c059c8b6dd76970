//! Generated identifiers: object uids and Kubernetes-style name suffixes.

/// A random (version 4) UUID, as Kubernetes uses for `metadata.uid`.
pub fn uid() -> String {
    let a = fastrand::u128(..);
    let hex = format!("{a:032x}");
    // Set the version (4) and variant (10xx) bits.
    let variant = ["8", "9", "a", "b"][fastrand::usize(..4)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant,
        &hex[17..20],
        &hex[20..32]
    )
}

/// Five characters from Kubernetes' suffix alphabet (no vowels, no look-alikes),
/// as in `pi-x7k2q`.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uids_look_like_uuid_v4() {
        let uid = super::uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(uid.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }
}
