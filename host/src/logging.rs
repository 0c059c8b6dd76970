//! Where the binary's own diagnostics go: `tracing` events (and `log`
//! records of the libraries underneath) written to stderr.
//!
//! Without `RUST_LOG`, only warnings and errors are shown, and the writer
//! that formats them is built at the first one. Most commands log nothing;
//! building it (a span registry with its slab of per-thread slots) and an
//! `EnvFilter` for an unset `RUST_LOG` at every start cost a short
//! `wasmjob run` about 0.04 ms.

use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// Installs the process's subscriber: `RUST_LOG`'s directives when it is
/// set, otherwise warnings and errors.
pub fn init() {
    // Looked up first: an EnvFilter is built before it finds RUST_LOG unset.
    if std::env::var_os("RUST_LOG").is_some() {
        match tracing_subscriber::EnvFilter::try_from_env("RUST_LOG") {
            Ok(filter) => {
                tracing_subscriber::fmt()
                    .with_env_filter(filter)
                    .with_writer(std::io::stderr)
                    .init();
                return;
            }
            Err(e) => eprintln!("wasmjob: RUST_LOG ignored ({e}); showing warnings and errors"),
        }
    }
    // `log` records too (wasmtime and the database clients use it).
    let _ = tracing_log::LogTracer::init_with_filter(log::LevelFilter::Warn);
    let _ = tracing::subscriber::set_global_default(Warnings::default());
}

/// The usual formatter at warnings and above, built when first needed.
#[derive(Default)]
struct Warnings {
    inner: OnceLock<Box<dyn Subscriber + Send + Sync>>,
}

/// The most detailed level [`Warnings`] shows.
const SHOWN: LevelFilter = LevelFilter::WARN;

impl Warnings {
    fn inner(&self) -> &(dyn Subscriber + Send + Sync) {
        self.inner
            .get_or_init(|| {
                Box::new(
                    tracing_subscriber::fmt()
                        .with_max_level(SHOWN)
                        .with_writer(std::io::stderr)
                        .finish(),
                )
            })
            .as_ref()
    }
}

impl Subscriber for Warnings {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if SHOWN >= *metadata.level() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        SHOWN >= *metadata.level()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(SHOWN)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner().new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner().record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner().record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        let inner = self.inner();
        if inner.enabled(event.metadata()) {
            inner.event(event);
        }
    }

    fn enter(&self, span: &Id) {
        self.inner().enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner().exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner().try_close(id)
    }
}
