//! What `wasmjob run` shows while it runs: a progress bar on a terminal
//! (plain lines otherwise), each instance's output when it ends (prefixed
//! by its name when there are several), and a line per Job as it ends.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use indicatif::{ProgressBar, ProgressStyle};

use crate::manifest::{JobStatus, Phase};
use crate::runner::Observer;
use crate::store::InstanceRecord;
use crate::time::human_duration;

/// Progress and output on the terminal while a run goes on. What instances
/// print, and their one-line summaries, are buffered and written when the
/// runner catches up, in a few writes rather than two per instance.
pub(super) struct Console {
    progress: ProgressBar,
    tty: bool,
    several: bool,
    quiet: bool,
    /// For stdout: the instances' output.
    out: Vec<u8>,
    /// For stderr: a line per ended instance.
    err: Vec<u8>,
    /// The line of the last ended instance, its buffer reused.
    line: String,
}

impl Console {
    /// The run ended: what is buffered is written, the bar goes.
    pub(super) fn finish(&mut self) {
        self.write_out();
        self.progress.finish_and_clear();
    }

    fn write_out(&mut self) {
        if self.out.is_empty() && self.err.is_empty() {
            return;
        }
        let (out, err) = (&mut self.out, &mut self.err);
        self.progress.suspend(|| {
            let _ = std::io::stdout().lock().write_all(out);
            let _ = std::io::stderr().lock().write_all(err);
        });
        // Emptied, not dropped: the buffers fill again at the next pass.
        out.clear();
        err.clear();
    }
}

impl Console {
    pub(super) fn new(expected: u64, several: bool, quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let progress = if tty {
            let bar = ProgressBar::new(expected);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {bar:30} {pos}/{len} instances  {elapsed}  {msg}",
                )
                .expect("valid template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        Console {
            progress,
            tty,
            several,
            quiet,
            out: Vec::new(),
            err: Vec::new(),
            line: String::new(),
        }
    }
}

impl Console {
    /// The summary line of an ended instance, written into `line`.
    fn summary(line: &mut String, instance: &InstanceRecord, attempt: u32) {
        let _ = write!(line, "{} {}", instance.name, instance.phase.as_str());
        if let Some(reason) = &instance.reason {
            let _ = write!(line, " ({reason})");
        }
        if attempt > 0 {
            let _ = write!(line, " attempt {}", attempt + 1);
        }
        line.push_str(" in ");
        if let (Some(s), Some(f)) = (instance.start_time, instance.finish_time) {
            line.push_str(&human_duration(f - s));
        }
        let failed = instance.phase != Phase::Succeeded;
        if let Some(message) = instance.message.as_deref().filter(|_| failed) {
            let _ = write!(line, ": {message}");
        }
    }

    /// An instance's output, each line prefixed by its name when there
    /// are several.
    fn output(&mut self, instance: &InstanceRecord, output: &[u8]) {
        let text = String::from_utf8_lossy(output);
        for l in text.lines() {
            if self.several {
                let _ = write!(self.out, "[{}] ", instance.name);
            }
            self.out.extend_from_slice(l.as_bytes());
            self.out.push(b'\n');
        }
    }
}

impl Observer for Console {
    fn instance_ended(
        &mut self,
        _job: &str,
        instance: &InstanceRecord,
        attempt: u32,
        output: &[u8],
    ) {
        // One line per instance, written straight into its buffer (this
        // runs ten thousand times in a Job of ten thousand).
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        Console::summary(&mut line, instance, attempt);
        if instance.phase == Phase::Succeeded {
            self.progress.inc(1);
        }
        if !self.quiet && !output.is_empty() {
            self.output(instance, output);
        }
        if self.tty {
            self.progress.set_message(line.clone());
        } else if !self.quiet || instance.phase != Phase::Succeeded {
            self.err.extend_from_slice(line.as_bytes());
            self.err.push(b'\n');
        }
        self.line = line;
    }

    fn caught_up(&mut self) {
        self.write_out();
    }

    fn job_ended(&mut self, job: &str, status: &JobStatus) {
        self.write_out();
        let line = match status.conditions.last() {
            Some(c) if c.kind == "Failed" => {
                format!("job.batch/{job} Failed: {} ({})", c.message, c.reason)
            }
            _ => format!("job.batch/{job} {}", status.phase()),
        };
        self.progress.suspend(|| eprintln!("{line}"));
    }
}
