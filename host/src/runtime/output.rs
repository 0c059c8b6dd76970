//! Captured stdout and stderr: one buffer per instance, capped, with a count of
//! what was dropped so the log can say so.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;

use super::line_times::LineTimes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a guest may write in one call; also bounds host allocation.
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: u64,
    times: LineTimes,
}

/// A capped output buffer shared by an instance's stdout and stderr, so the
/// log keeps their interleaving. Writes past the cap succeed for the guest and
/// are counted, not kept: a chatty module is never killed for its output.
#[derive(Debug, Clone)]
pub struct CapturedOutput {
    limit: usize,
    buffer: Arc<Mutex<Buffer>>,
    /// Bytes written so far: readers of a running attempt's output (see
    /// `live`) wait on it rather than look on a timer. None where nobody
    /// reads running output (`wasmjob run`).
    written: Option<Arc<tokio::sync::watch::Sender<u64>>>,
}

impl CapturedOutput {
    /// An empty buffer keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        CapturedOutput {
            limit,
            buffer: Arc::default(),
            written: super::live::enabled().then(|| Arc::new(tokio::sync::watch::Sender::new(0))),
        }
    }

    pub(crate) fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().expect("output buffer");
        let room = self.limit.saturating_sub(buffer.kept.len());
        let keep = room.min(bytes.len());
        if keep > 0 {
            let offset = buffer.kept.len();
            let starts_line = buffer.kept.last().is_none_or(|b| *b == b'\n');
            let now = crate::time::now();
            buffer.times.note(offset, &bytes[..keep], starts_line, now);
        }
        buffer.kept.extend_from_slice(&bytes[..keep]);
        buffer.dropped += (bytes.len() - keep) as u64;
        drop(buffer);
        if let Some(written) = &self.written {
            written.send_modify(|written| *written += bytes.len() as u64);
        }
    }

    /// A receiver that wakes when more is written (one that never does
    /// where running output is not read).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        match &self.written {
            Some(written) => written.subscribe(),
            None => tokio::sync::watch::channel(0).1,
        }
    }

    /// How many bytes are kept so far.
    pub fn kept_len(&self) -> usize {
        self.buffer.lock().expect("output buffer").kept.len()
    }

    /// The bytes kept so far and when each of their lines began.
    pub fn so_far_timed(&self) -> (Vec<u8>, LineTimes) {
        let buffer = self.buffer.lock().expect("output buffer");
        (buffer.kept.clone(), buffer.times.clone())
    }

    /// The kept bytes, with a marker line appended when some were dropped;
    /// whether any were; when each line began.
    pub fn finish(&self) -> (Vec<u8>, bool, LineTimes) {
        let mut buffer = self.buffer.lock().expect("output buffer");
        let mut kept = std::mem::take(&mut buffer.kept);
        let mut times = std::mem::take(&mut buffer.times);
        let truncated = buffer.dropped > 0;
        if truncated {
            if !kept.ends_with(b"\n") {
                kept.push(b'\n');
            }
            times.note(kept.len(), b"[", true, crate::time::now());
            kept.extend_from_slice(
                format!(
                    "[wasmjob: output truncated at {} bytes; {} more bytes were dropped]\n",
                    self.limit, buffer.dropped
                )
                .as_bytes(),
            );
        }
        (kept, truncated, times)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::CapturedOutput;

    #[test]
    fn output_past_the_cap_is_counted_and_marked() {
        let out = CapturedOutput::new(8);
        out.append(b"12345");
        out.append(b"67890abc");
        let (kept, truncated, _) = out.finish();
        assert!(truncated);
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            "12345678\n[wasmjob: output truncated at 8 bytes; 5 more bytes were dropped]\n"
        );
    }

    #[test]
    fn output_within_the_cap_is_untouched() {
        let out = CapturedOutput::new(8);
        out.append(b"hi\n");
        let (kept, truncated, times) = out.finish();
        assert_eq!((kept, truncated), (b"hi\n".to_vec(), false));
        assert!(times.first().is_some());
    }
}
