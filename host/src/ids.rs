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
    // Written digit by digit into one string: this runs for every instance,
    // and formatting the hex and then the groups was two more allocations.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut uid = String::with_capacity(36);
    for digit in 0..32 {
        if matches!(digit, 8 | 12 | 16 | 20) {
            uid.push('-');
        }
        let nibble = (value >> (124 - 4 * digit)) & 0xf;
        uid.push(HEX[nibble as usize] as char);
    }
    uid
}

/// Five characters from Kubernetes' suffix alphabet (no vowels, no look-alikes),
/// as in `pi-x7k2q`.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut suffix = String::with_capacity(5);
    for _ in 0..5 {
        suffix.push(ALPHABET[fastrand::usize(..ALPHABET.len())] as char);
    }
    suffix
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
        assert!(
            first
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        // The first 48 bits are the time in milliseconds.
        let millis = u64::from_str_radix(&first[..13].replace('-', ""), 16).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now - millis < 60_000, "{first} is not of now");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = super::uid();
        assert!(later > first, "{later} sorts before {first}");
    }
}
