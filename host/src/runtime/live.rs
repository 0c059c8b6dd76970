//! The output of the attempts running in this process, readable while they
//! run: `wasmjob serve` turns it on, and `logs` of a running instance (the
//! Kubernetes API's, and `wasmjob logs NAME`) reads what it printed so far;
//! the runner keeps what grew in the history four times a second
//! ([`grown_since_kept`]), so a node killed meanwhile loses at most that.
//!
//! The executor names each attempt's task with its instance's uid and the
//! attempt's number (a task local, so the sandbox needs no new parameter),
//! and the sandbox registers its output buffer under that uid for as long
//! as it runs. Off (as in `wasmjob run`), an attempt pays one relaxed load.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use super::CapturedOutput;
use super::line_times::LineTimes;

tokio::task_local! {
    /// The uid of the instance whose attempt this task runs, and which
    /// attempt it is.
    static ATTEMPT: (String, u32);
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// A running attempt's output.
struct Running {
    attempt: u32,
    output: CapturedOutput,
    /// How much of it the history has.
    kept: usize,
}

/// The running attempts' output buffers, by instance uid.
static RUNNING: LazyLock<Mutex<HashMap<String, Running>>> = LazyLock::new(Default::default);

/// Makes running attempts' output readable (`wasmjob serve`).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether running attempts' output is readable.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Runs `future` as attempt `attempt` of instance `instance_uid`.
pub async fn attempt_of<F: Future>(instance_uid: &str, attempt: u32, future: F) -> F::Output {
    match ENABLED.load(Ordering::Relaxed) {
        true => {
            ATTEMPT
                .scope((instance_uid.to_owned(), attempt), future)
                .await
        }
        false => future.await,
    }
}

/// Registers `output` as the running attempt's, until the guard drops.
pub(super) fn register(output: &CapturedOutput) -> Option<Registered> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let (uid, attempt) = ATTEMPT.try_with(Clone::clone).ok()?;
    let mut running = RUNNING.lock().expect("running outputs");
    let entry = Running {
        attempt,
        output: output.clone(),
        kept: 0,
    };
    running.insert(uid.clone(), entry);
    Some(Registered(uid))
}

/// Removes a running attempt's output when its run ends.
pub(super) struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        RUNNING.lock().expect("running outputs").remove(&self.0);
    }
}

/// The running attempt of `instance_uid`: its number, what it has printed
/// so far, and when each of its lines began; none when no attempt of it
/// runs here.
pub fn output_so_far_timed(instance_uid: &str) -> Option<(u32, Vec<u8>, LineTimes)> {
    let running = RUNNING.lock().expect("running outputs");
    running.get(instance_uid).map(|r| {
        let (data, times) = r.output.so_far_timed();
        (r.attempt, data, times)
    })
}

/// How many bytes the running attempt of `instance_uid` has kept so far.
pub fn kept_len(instance_uid: &str) -> Option<usize> {
    let running = RUNNING.lock().expect("running outputs");
    running.get(instance_uid).map(|r| r.output.kept_len())
}

/// A receiver that wakes when the running attempt of `instance_uid`
/// writes more; none when no attempt of it runs in this process. Mark it
/// seen before reading the output, and nothing written after is missed.
pub fn written(instance_uid: &str) -> Option<tokio::sync::watch::Receiver<u64>> {
    let running = RUNNING.lock().expect("running outputs");
    running.get(instance_uid).map(|r| r.output.subscribe())
}

/// Whether any attempt runs with its output registered.
pub fn any_running() -> bool {
    enabled() && !RUNNING.lock().expect("running outputs").is_empty()
}

/// One running attempt's output that grew since it was last kept.
pub struct Grown {
    /// The instance.
    pub instance_uid: String,
    /// Which attempt.
    pub attempt: u32,
    /// Its output so far.
    pub data: Vec<u8>,
    /// When each line began.
    pub times: LineTimes,
}

/// The running attempts whose output grew since the last call, with what
/// they printed so far: the runner keeps it in the history.
pub fn grown_since_kept() -> Vec<Grown> {
    let mut running = RUNNING.lock().expect("running outputs");
    let mut grown = Vec::new();
    for (uid, r) in running.iter_mut() {
        let (data, times) = r.output.so_far_timed();
        if data.len() > r.kept {
            r.kept = data.len();
            grown.push(Grown {
                instance_uid: uid.clone(),
                attempt: r.attempt,
                data,
                times,
            });
        }
    }
    grown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_running_attempts_output_is_readable_until_it_ends() {
        enable();
        let output = CapturedOutput::new(1024);
        let so_far = |uid| output_so_far_timed(uid).map(|(_, data, _)| data);
        let seen = attempt_of("uid-live-1", 2, async {
            let registered = register(&output);
            let mut written = written("uid-live-1").expect("registered");
            output.append(b"hello ");
            assert!(written.has_changed().unwrap());
            written.borrow_and_update();
            let first = so_far("uid-live-1");
            let grown = grown_since_kept();
            let mine: Vec<_> = grown
                .iter()
                .filter(|g| g.instance_uid == "uid-live-1")
                .collect();
            assert_eq!((mine.len(), mine[0].attempt), (1, 2));
            // Nothing new, nothing to keep.
            assert!(
                !grown_since_kept()
                    .iter()
                    .any(|g| g.instance_uid == "uid-live-1")
            );
            output.append(b"world");
            let second = so_far("uid-live-1");
            drop(registered);
            (first, second)
        })
        .await;
        assert_eq!(seen.0.as_deref(), Some(&b"hello "[..]));
        assert_eq!(seen.1.as_deref(), Some(&b"hello world"[..]));
        assert_eq!(so_far("uid-live-1"), None);
        // Outside an attempt nothing is registered.
        assert!(register(&output).is_none());
    }
}
