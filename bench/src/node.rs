//! Driving the real `wasmjob` binary: one state directory per scenario, the
//! CLI verbs as a user types them, `wasmjob serve` as a child process whose
//! memory and CPU time are read from `/proc`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A state directory and the binary that uses it.
pub struct Node {
    binary: PathBuf,
    state: tempfile::TempDir,
}

impl Node {
    /// A node with a fresh, empty state directory.
    pub fn new(binary: &Path) -> Result<Self> {
        Ok(Node {
            binary: binary.to_path_buf(),
            state: tempfile::Builder::new()
                .prefix("wasmjob-bench-")
                .tempdir()
                .context("creating a state directory")?,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        self.state.path()
    }

    /// The state database.
    pub fn db(&self) -> PathBuf {
        self.dir().join("wasmjob.db")
    }

    /// A command of the binary on this state directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("WASMJOB_HOME", self.dir())
            .env_remove("WASMJOB_SERVER")
            .stdin(Stdio::null());
        command
    }

    /// Runs a verb to its end, output discarded; fails on a non-zero exit.
    /// Returns the wall time.
    pub fn time(&self, args: &[&str]) -> Result<Duration> {
        let started = Instant::now();
        let out = self.command(args).stdout(Stdio::null()).output()?;
        let took = started.elapsed();
        check(args, &out)?;
        Ok(took)
    }

    /// Runs a verb and returns its stdout; fails on a non-zero exit.
    pub fn output(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output()?;
        check(args, &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Writes a file into the state directory.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.dir().join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Starts `wasmjob serve` on a free port and waits until it listens.
    pub fn serve(&self, extra: &[&str]) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen];
        args.extend_from_slice(extra);
        let child = self
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting wasmjob serve")?;
        let mut server = Server {
            child,
            listen: listen.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&listen).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("wasmjob serve exited before listening: {status}");
            }
            if Instant::now() > deadline {
                bail!("wasmjob serve did not listen on {listen} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Runs a client verb against `server` and returns its stdout; fails on
    /// a non-zero exit.
    pub fn client(&self, server: &Server, args: &[&str]) -> Result<String> {
        let out = self
            .command(args)
            .env("WASMJOB_SERVER", &server.listen)
            .output()?;
        check(args, &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn check(args: &[&str], out: &Output) -> Result<()> {
    if !out.status.success() {
        bail!(
            "wasmjob {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A running `wasmjob serve`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    listen: String,
}

impl Server {
    /// `host:port` of the API.
    pub fn address(&self) -> &str {
        &self.listen
    }

    /// Resident memory in bytes, from `/proc/<pid>/status`.
    pub fn rss(&self) -> Result<u64> {
        self.status_bytes("VmRSS:")
    }

    /// The address space the process has mapped (`VmSize`), in bytes.
    pub fn virtual_size(&self) -> Result<u64> {
        self.status_bytes("VmSize:")
    }

    /// A `kB` field of `/proc/<pid>/status`, in bytes.
    fn status_bytes(&self, field: &str) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
        Ok(kib * 1024)
    }

    /// CPU time of the process's main thread so far, in nanoseconds from
    /// `/proc/<pid>/task/<pid>/schedstat` (a `serve` node's runner).
    pub fn main_thread_cpu(&self) -> Result<Duration> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/schedstat"))?;
        let nanos: u64 = stat
            .split_whitespace()
            .next()
            .context("empty schedstat")?
            .parse()?;
        Ok(Duration::from_nanos(nanos))
    }

    /// User plus system CPU time so far, from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th fields of the line, in clock ticks.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("malformed /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        // USER_HZ is 100 on every Linux this runs on.
        Ok(Duration::from_millis(ticks * 10))
    }

    /// Stops the server: SIGTERM, and the wait for it.
    pub fn stop(mut self) -> Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // No libc here: `kill` sends the SIGTERM that lets it finish writing.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}
