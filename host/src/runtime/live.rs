//! The output of the attempts running in this process, readable while they
//! run: `wasmjob serve` turns it on, and `logs` of a running instance (the
//! Kubernetes API's, and `wasmjob logs NAME`) reads what it printed so far.
//!
//! The executor names each attempt's task with its instance's uid (a task
//! local, so the sandbox needs no new parameter), and the sandbox registers
//! its output buffer under that uid for as long as it runs. Off (as in
//! `wasmjob run`), an attempt pays one relaxed load.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use super::CapturedOutput;

tokio::task_local! {
    /// The uid of the instance whose attempt this task runs.
    static ATTEMPT: String;
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The running attempts' output buffers, by instance uid.
static RUNNING: LazyLock<Mutex<HashMap<String, CapturedOutput>>> = LazyLock::new(Default::default);

/// Makes running attempts' output readable (`wasmjob serve`).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Runs `attempt` as the attempt of instance `instance_uid`.
pub async fn attempt_of<F: Future>(instance_uid: &str, attempt: F) -> F::Output {
    match ENABLED.load(Ordering::Relaxed) {
        true => ATTEMPT.scope(instance_uid.to_owned(), attempt).await,
        false => attempt.await,
    }
}

/// Registers `output` as the running attempt's, until the guard drops.
pub(super) fn register(output: &CapturedOutput) -> Option<Registered> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let uid = ATTEMPT.try_with(String::clone).ok()?;
    let mut running = RUNNING.lock().expect("running outputs");
    running.insert(uid.clone(), output.clone());
    Some(Registered(uid))
}

/// Removes a running attempt's output when its run ends.
pub(super) struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        RUNNING.lock().expect("running outputs").remove(&self.0);
    }
}

/// What the running attempt of instance `instance_uid` has printed so far;
/// none when no attempt of it runs in this process.
pub fn output_so_far(instance_uid: &str) -> Option<Vec<u8>> {
    let running = RUNNING.lock().expect("running outputs");
    running.get(instance_uid).map(CapturedOutput::so_far)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_running_attempts_output_is_readable_until_it_ends() {
        enable();
        let output = CapturedOutput::new(1024);
        let seen = attempt_of("uid-live-1", async {
            let registered = register(&output);
            output.append(b"hello ");
            let first = output_so_far("uid-live-1");
            output.append(b"world");
            let second = output_so_far("uid-live-1");
            drop(registered);
            (first, second)
        })
        .await;
        assert_eq!(seen.0.as_deref(), Some(&b"hello "[..]));
        assert_eq!(seen.1.as_deref(), Some(&b"hello world"[..]));
        assert_eq!(output_so_far("uid-live-1"), None);
        // Outside an attempt nothing is registered.
        assert!(register(&output).is_none());
    }
}
