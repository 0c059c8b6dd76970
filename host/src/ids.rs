//! Generated identifiers: object uids and Kubernetes-style name suffixes.

/// A time-ordered (version 7) UUID: 48 bits of Unix milliseconds, then
/// random bits. Kubernetes uses random (version 4) uids; any UUID is a valid
/// `metadata.uid`, and time order makes every history index keyed by uid grow
/// at its end, so recording ten thousand instances dirties a few pages per
/// commit instead of one random page per instance.
pub fn uid() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        & 0xffff_ffff_ffff;
    let random = fastrand::u128(..);
    // 48 bits of time, version 7, 12 random bits, variant 10, 62 random bits.
    let value = (u128::from(millis) << 80)
        | (0x7 << 76)
        | ((random >> 64) & 0xfff) << 64
        | (0b10 << 62)
        | (random & 0x3fff_ffff_ffff_ffff);
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
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
    fn uids_are_uuid_v7_in_time_order() {
        let first = super::uid();
        assert_eq!(first.len(), 36);
        assert_eq!(&first[14..15], "7");
        assert!(matches!(&first[19..20], "8" | "9" | "a" | "b"));
        assert!(first.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = super::uid();
        assert!(later > first, "{later} sorts before {first}");
    }
}
