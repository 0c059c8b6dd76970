//! When each line of an attempt's output began, kept beside the output (a
//! few bytes a line): `logs --timestamps` and `--since` answer from it, as
//! kubectl's do, for a running attempt and for one kept in the history.
//!
//! Stored as LEB128 varints, two per line: the line's offset in the output
//! after the previous line's, and its time in microseconds after the
//! previous line's (the first line's after the Unix epoch).

use crate::time::Micros;

/// The start of every line of one attempt's output, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineTimes {
    starts: Vec<(usize, Micros)>,
}

impl LineTimes {
    /// Notes the lines that `bytes`, written at `now` and kept from
    /// `offset` on, begin: the first byte when it starts a line, and
    /// every byte after a newline that is not the last.
    pub fn note(&mut self, offset: usize, bytes: &[u8], starts_line: bool, now: Micros) {
        if bytes.is_empty() {
            return;
        }
        if starts_line {
            self.starts.push((offset, now));
        }
        for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            if i + 1 < bytes.len() {
                self.starts.push((offset + i + 1, now));
            }
        }
    }

    /// Adds `other`'s lines, whose output was appended at `offset`.
    pub fn extend_at(&mut self, offset: usize, other: &LineTimes) {
        self.starts
            .extend(other.starts.iter().map(|(o, t)| (offset + o, *t)));
    }

    /// Whether no line is noted.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The time of the first line, if any.
    pub fn first(&self) -> Option<Micros> {
        self.starts.first().map(|(_, t)| *t)
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.starts.len() * 4);
        let (mut offset, mut time) = (0usize, 0i64);
        for (o, t) in &self.starts {
            varint(&mut out, (o - offset) as u64);
            varint(&mut out, t.saturating_sub(time).max(0) as u64);
            (offset, time) = (*o, (*t).max(time));
        }
        out
    }

    /// Reads the stored form; what cannot be read ends the list (a row
    /// written before times were kept has none).
    pub fn decode(bytes: &[u8]) -> LineTimes {
        let mut starts = Vec::new();
        let (mut offset, mut time) = (0usize, 0i64);
        let mut rest = bytes;
        while let (Some(o), Some(t)) = (read(&mut rest), read(&mut rest)) {
            offset += o as usize;
            time += t as i64;
            starts.push((offset, time));
        }
        LineTimes { starts }
    }

    /// Each line of `data` (with its newline, when it has one): where it
    /// starts, the time it began when known, and its bytes.
    pub fn lines<'a>(&self, data: &'a [u8]) -> Vec<Line<'a>> {
        let mut lines = Vec::new();
        let mut start = 0;
        let mut noted = self.starts.iter().peekable();
        let mut last = None;
        while start < data.len() {
            let end = data[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |i| start + i + 1);
            while let Some((o, t)) = noted.peek() {
                if *o > start {
                    break;
                }
                last = Some(*t);
                noted.next();
            }
            lines.push(Line {
                offset: start,
                time: last,
                bytes: &data[start..end],
            });
            start = end;
        }
        lines
    }
}

/// One line of an attempt's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Where it starts in the output.
    pub offset: usize,
    /// When it began, when known.
    pub time: Option<Micros>,
    /// Its bytes, with its newline when it has one.
    pub bytes: &'a [u8],
}

impl Line<'_> {
    /// Whether it is whole (ends with its newline).
    pub fn is_whole(&self) -> bool {
        self.bytes.ends_with(b"\n")
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

/// A time as kubectl's `--timestamps` prints it.
pub fn stamp(time: Micros) -> String {
    let t = jiff::Timestamp::from_microsecond(time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let nanos = t.subsec_nanosecond();
    format!("{}.{nanos:09}Z", t.strftime("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_keeps_the_time_its_first_byte_was_written() {
        let mut times = LineTimes::default();
        times.note(0, b"one\ntw", true, 10);
        times.note(6, b"o\nthree\n", false, 20);
        times.note(14, b"four", true, 30);
        let data = b"one\ntwo\nthree\nfour";
        let lines = times.lines(data);
        let seen: Vec<(Option<Micros>, &str)> = lines
            .iter()
            .map(|l| (l.time, std::str::from_utf8(l.bytes).unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                (Some(10), "one\n"),
                (Some(10), "two\n"),
                (Some(20), "three\n"),
                (Some(30), "four")
            ]
        );
        assert_eq!(LineTimes::decode(&times.encode()), times);
    }

    #[test]
    fn stamps_read_as_kubectls_and_old_rows_have_no_times() {
        assert_eq!(
            stamp(1_796_551_201_000_123),
            "2026-12-06T10:00:01.000123000Z"
        );
        assert!(LineTimes::decode(&[]).is_empty());
        assert!(LineTimes::decode(&[0x80]).is_empty());
    }
}
