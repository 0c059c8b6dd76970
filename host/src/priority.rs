//! The scheduling priority of the threads that run instances in
//! `wasmjob run`, and of `serve`'s bulk workers (see `executor::lanes`).
//!
//! The runner (the main thread) and the executor threads share the cores,
//! and the runner is the one that keeps every executor fed: it records
//! what ended and hands each relaying slot its next instances. Woken while
//! both cores ran instances, it waited up to a whole scheduler tick (4 ms
//! here) for a core, and the slot it was about to top up ran dry
//! meanwhile. At a niceness 5 above the runner's, an executor thread yields
//! its core to the woken runner at once. Measured in `docs/PERFORMANCE.md`
//! (job-throughput, 12 alternating pairs: 85,000 against 81,000 inst/s).
//! Niceness only goes up, which needs no privilege; where it is refused,
//! the threads run as they are.

/// How much nicer an executor thread of `run`, or a bulk worker of
/// `serve`, is than the runner.
pub const EXECUTOR_NICENESS: i32 = 5;

/// The calling thread's id, by the system call itself: the static musl
/// build (`./dev dist`) linked `gettid` as a missing weak symbol, and the
/// first executor thread called address zero.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn this_thread_id() -> libc::id_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

/// Makes the calling thread [`EXECUTOR_NICENESS`] nicer (at most 19).
/// Returns whether the system took it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn lower_this_thread() -> bool {
    let tid = this_thread_id();
    // SAFETY: getpriority and setpriority only read and change the
    // scheduling attributes of the calling thread (`PRIO_PROCESS` with a
    // thread id names that one thread on Linux).
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + EXECUTOR_NICENESS).min(19)) == 0
    }
}

/// Makes the calling thread nicer: not on this system.
#[cfg(not(target_os = "linux"))]
pub fn lower_this_thread() -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[allow(unsafe_code)]
    fn niceness() -> i32 {
        let tid = super::this_thread_id();
        // SAFETY: reads the calling thread's niceness.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) }
    }

    #[test]
    fn an_executor_thread_is_nicer_and_the_others_are_not() {
        let before = niceness();
        let (inside, after) = std::thread::spawn(|| {
            let before = niceness();
            assert!(super::lower_this_thread());
            (before, niceness())
        })
        .join()
        .unwrap();
        assert_eq!(inside, before);
        assert_eq!(after, (before + super::EXECUTOR_NICENESS).min(19));
        assert_eq!(niceness(), before, "the calling thread is untouched");
    }
}
