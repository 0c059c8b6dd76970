//! `pi`: prints π to N significant digits (N from argv, default 2000).
//!
//! The wasmjob counterpart of the Kubernetes Job example's
//! `perl -Mbignum=bpi -wle 'print bpi(2000)'`, and the same text: the digits are
//! rounded to nearest at the last place, and N = 1 prints `3` without a point.
//!
//! It uses Machin's formula, π = 16·atan(1/5) − 4·atan(1/239), on fixed-point
//! numbers held as base-10⁹ limbs. Only division by small numbers is needed, so
//! there is no big-number dependency and the module stays small.

use std::process::ExitCode;

/// One limb holds nine decimal digits.
const BASE: u64 = 1_000_000_000;
/// Extra digits computed past the requested ones, so truncation error in the
/// series never reaches the digit that decides rounding.
const GUARD_DIGITS: usize = 20;
const DEFAULT_DIGITS: usize = 2000;

fn main() -> ExitCode {
    let digits = match std::env::args().nth(1) {
        None => DEFAULT_DIGITS,
        Some(arg) => match arg.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                eprintln!("pi: expected a number of digits >= 1, got {arg:?}");
                return ExitCode::from(2);
            }
        },
    };
    println!("{}", pi(digits));
    ExitCode::SUCCESS
}

/// π rounded to `digits` significant digits.
fn pi(digits: usize) -> String {
    let limbs = (digits + GUARD_DIGITS) / 9 + 2;
    let mut value = arctan_inverse(5, limbs);
    mul_small(&mut value, 16);
    let mut minus = arctan_inverse(239, limbs);
    mul_small(&mut minus, 4);
    sub(&mut value, &minus);
    let mut all = value[0].to_string();
    for limb in &value[1..] {
        all.push_str(&format!("{limb:09}"));
    }
    let rounded = round_digits(&all, digits);
    match rounded.split_at(1) {
        (int, "") => int.to_owned(),
        (int, frac) => format!("{int}.{frac}"),
    }
}

/// atan(1/x) as a fixed-point number: limb 0 is the integer part.
fn arctan_inverse(x: u64, limbs: usize) -> Vec<u64> {
    let mut power = vec![0; limbs];
    power[0] = 1;
    div_small(&mut power, x);
    let mut sum = power.clone();
    let mut term = vec![0; limbs];
    for k in 1u64.. {
        div_small(&mut power, x * x);
        if power.iter().all(|&l| l == 0) {
            break;
        }
        term.copy_from_slice(&power);
        div_small(&mut term, 2 * k + 1);
        if k % 2 == 1 {
            sub(&mut sum, &term);
        } else {
            add(&mut sum, &term);
        }
    }
    sum
}

fn div_small(a: &mut [u64], d: u64) {
    let mut rem = 0;
    for limb in a.iter_mut() {
        let cur = rem * BASE + *limb;
        *limb = cur / d;
        rem = cur % d;
    }
}

fn mul_small(a: &mut [u64], m: u64) {
    let mut carry = 0;
    for limb in a.iter_mut().rev() {
        let cur = *limb * m + carry;
        *limb = cur % BASE;
        carry = cur / BASE;
    }
    a[0] += carry * BASE;
}

fn add(a: &mut [u64], b: &[u64]) {
    let mut carry = 0;
    for (x, y) in a.iter_mut().zip(b).rev() {
        let cur = *x + y + carry;
        *x = cur % BASE;
        carry = cur / BASE;
    }
    a[0] += carry * BASE;
}

fn sub(a: &mut [u64], b: &[u64]) {
    let mut borrow = 0;
    for (x, y) in a.iter_mut().zip(b).rev() {
        let need = y + borrow;
        if *x >= need {
            *x -= need;
            borrow = 0;
        } else {
            *x = *x + BASE - need;
            borrow = 1;
        }
    }
}

/// The first `n` digits of the decimal string `all`, rounded half up.
fn round_digits(all: &str, n: usize) -> String {
    let mut kept: Vec<u8> = all.as_bytes()[..n].to_vec();
    if all.as_bytes()[n] >= b'5' {
        for d in kept.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                break;
            }
        }
    }
    String::from_utf8(kept).expect("digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::pi;

    #[test]
    fn matches_perl_bpi_for_small_precisions() {
        // What `perl -Mbignum=bpi -wle 'print bpi(N)'` prints.
        assert_eq!(pi(1), "3");
        assert_eq!(pi(2), "3.1");
        assert_eq!(pi(5), "3.1416");
        assert_eq!(pi(10), "3.141592654");
    }

    #[test]
    fn two_thousand_digits_end_as_known() {
        let text = pi(2000);
        assert_eq!(text.len(), 2001);
        assert!(text.starts_with("3.14159265358979323846264338327950288419716939937510"));
        // The tail the Kubernetes Job example's perl container prints, checked
        // against an independent computation with Python's `decimal`.
        assert!(
            text.ends_with("59958133904780275901"),
            "{}",
            &text[text.len() - 20..]
        );
    }
}
