//! Kubernetes resource quantities (`64Mi`, `1G`, `1.5Gi`, `129e6`) as bytes.

/// Bytes as Kubernetes writes memory quantities: in whole Gi or Mi where
/// exact, else in bytes (`64Mi`, `16Gi`, `1500 bytes`).
pub fn memory_quantity(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{}Gi", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{}Mi", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Parses a memory quantity into bytes, rounding fractions of a byte up as
/// Kubernetes does.
pub fn parse_memory_quantity(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid quantity {text:?}: expected a number with an optional suffix \
             (Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E), such as 64Mi or 1G"
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number == "." {
        return Err(bad());
    }
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| bad())?;
            10f64.powi(exp)
        }
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (value * multiplier).ceil();
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("quantity {text:?} is too large"));
    }
    Ok(bytes as u64)
}

/// A quantity as YAML gives it, kept as its text: `64Mi`, or a bare number
/// (`cpu: 1`, `cpu: 0.5`, `memory: 134217728`), which Kubernetes takes too.
pub(super) fn quantity_text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a quantity such as 64Mi, 500m or 1")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Text)
}

#[cfg(test)]
mod tests {
    use super::parse_memory_quantity as q;

    #[test]
    fn binary_and_decimal_suffixes() {
        assert_eq!(q("64Mi"), Ok(64 << 20));
        assert_eq!(q("1G"), Ok(1_000_000_000));
        assert_eq!(q("1.5Gi"), Ok(3 << 29));
        assert_eq!(q("128974848"), Ok(128_974_848));
        assert_eq!(q("129e6"), Ok(129_000_000));
        assert_eq!(q("1k"), Ok(1000));
    }

    #[test]
    fn nonsense_is_refused_with_an_example() {
        for bad in ["", "Mi", "64MB", "-1Mi", "1..2", "x"] {
            let err = q(bad).unwrap_err();
            assert!(err.contains("64Mi"), "{bad}: {err}");
        }
    }
}
