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

/// The suffixes of one Job's instances: five characters of the same
/// alphabet, counting up from a random start. Random suffixes repeat within
/// a large Job (ten thousand instances drawn from 27⁵ names share one with
/// another about three times) and land all over the name index; counted
/// ones are distinct for the first 14 million instances of a run, sort in
/// the order the instances were made, and grow the index at one end.
#[derive(Debug)]
pub struct NameSuffixes {
    next: std::cell::Cell<u32>,
}

/// The alphabet in ASCII order, so that suffixes sort as they count.
const SORTED_ALPHABET: &[u8; 27] = b"2456789bcdfghjklmnpqrstvwxz";

/// How many suffixes there are: 27⁵.
const SUFFIXES: u32 = 27 * 27 * 27 * 27 * 27;

impl Default for NameSuffixes {
    fn default() -> Self {
        NameSuffixes::starting_at(fastrand::u32(..SUFFIXES))
    }
}

impl NameSuffixes {
    /// Suffixes from the `start`-th on.
    pub fn starting_at(start: u32) -> Self {
        NameSuffixes {
            next: std::cell::Cell::new(start % SUFFIXES),
        }
    }

    /// The next suffix.
    pub fn next_suffix(&self) -> [u8; 5] {
        let n = self.next.get();
        self.next.set((n + 1) % SUFFIXES);
        let mut suffix = [0; 5];
        let mut rest = n;
        for digit in suffix.iter_mut().rev() {
            *digit = SORTED_ALPHABET[(rest % 27) as usize];
            rest /= 27;
        }
        suffix
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_jobs_name_suffixes_count_up_in_the_kubernetes_alphabet() {
        let suffixes = super::NameSuffixes::starting_at(0);
        let first: Vec<[u8; 5]> = (0..30).map(|_| suffixes.next_suffix()).collect();
        assert_eq!(&first[0], b"22222");
        assert_eq!(&first[1], b"22224");
        assert_eq!(&first[27], b"22242");
        assert!(
            first.windows(2).all(|w| w[0] < w[1]),
            "suffixes sort as they count"
        );
        // The last suffix wraps to the first.
        let last = super::NameSuffixes::starting_at(super::SUFFIXES - 1);
        assert_eq!(&last.next_suffix(), b"zzzzz");
        assert_eq!(&last.next_suffix(), b"22222");
        // Every character is one of Kubernetes' (no vowels, no look-alikes).
        let random = super::NameSuffixes::default();
        for _ in 0..1000 {
            let suffix = random.next_suffix();
            assert!(
                suffix
                    .iter()
                    .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(c))
            );
        }
    }

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
