//! The table the benchmark prints, and the few statistics it needs.

use std::time::Duration;

/// Whether a figure met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It did.
    Met,
    /// It did not.
    Missed,
}

impl Verdict {
    /// `Met` when `ok`.
    pub fn of(ok: bool) -> Self {
        if ok { Verdict::Met } else { Verdict::Missed }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub scenario: String,
    /// wasmjob's figure.
    pub wasmjob: String,
    /// The baseline's figure, or `—` for an absolute target.
    pub baseline: String,
    /// wasmjob against the baseline, or `—`.
    pub ratio: String,
    /// The target as the issue states it.
    pub target: String,
    /// Met or missed.
    pub verdict: Verdict,
}

/// The markdown table of every row.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | wasmjob | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let met = match r.verdict {
            Verdict::Met => "yes",
            Verdict::Missed => "**no**",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {met} |\n",
            r.scenario, r.wasmjob, r.baseline, r.ratio, r.target
        ));
    }
    out
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no samples");
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of durations, in milliseconds.
pub fn median_ms(samples: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    median(&mut ms)
}

/// The median of values (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(values, 0.5)
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), 50.0);
        assert_eq!(quantile(&s, 0.99), 99.0);
        assert_eq!(quantile(&s, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.0), "12,345");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }
}
