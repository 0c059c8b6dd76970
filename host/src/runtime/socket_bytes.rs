//! Bytes an instance sends through raw `wasi:sockets`, counted against its
//! `wasmjob.dev/max-egress-bytes` (see [`super::network`]). wasmtime-wasi
//! offers no hook on socket streams, so two of its functions are replaced
//! in the component linker by ones that call its own and count: a TCP
//! connection's output stream is wrapped as `finish-connect` hands it out,
//! and a UDP send counts its datagrams' bytes before it goes.

use bytes::Bytes;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Host as _};
use wasmtime_wasi::p2::bindings::sockets::tcp::HostTcpSocket as _;
use wasmtime_wasi::p2::bindings::sockets::udp::{
    HostOutgoingDatagramStream as _, OutgoingDatagram, OutgoingDatagramStream,
};
use wasmtime_wasi::p2::{
    DynOutputStream, OutputStream, Pollable, SocketError, StreamError, StreamResult, TcpSocket,
};
use wasmtime_wasi::sockets::WasiSocketsView;

use super::network::Network;

/// The WASI sockets version the linker defines (guests of any 0.2.x match
/// it).
const SOCKETS: &str = "0.2.12";

/// What the replaced functions need of a store's data.
pub trait CountsSockets: WasiSocketsView + 'static {
    /// The instance's egress.
    fn network(&self) -> &Network;
}

/// Replaces `tcp-socket.finish-connect` and `outgoing-datagram-stream.send`
/// with counting versions of wasmtime-wasi's own.
pub fn add_to_linker<T: CountsSockets>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut tcp = linker.instance(&format!("wasi:sockets/tcp@{SOCKETS}"))?;
    tcp.func_wrap(
        "[method]tcp-socket.finish-connect",
        |mut store: wasmtime::StoreContextMut<'_, T>, (this,): (Resource<TcpSocket>,)| {
            let network = store.data().network().clone();
            let mut view = store.data_mut().sockets();
            let streams = match view.finish_connect(this) {
                Ok(streams) => streams,
                Err(e) => return error(&mut view, e),
            };
            let output = view.table.get_mut(&streams.1)?;
            let inner = std::mem::replace(output, Box::new(Spent));
            *output = Box::new(Counted { inner, network });
            Ok((Ok(streams),))
        },
    )?;
    let mut udp = linker.instance(&format!("wasi:sockets/udp@{SOCKETS}"))?;
    udp.func_wrap(
        "[method]outgoing-datagram-stream.send",
        |mut store: wasmtime::StoreContextMut<'_, T>,
         (this, datagrams): (Resource<OutgoingDatagramStream>, Vec<OutgoingDatagram>)| {
            let bytes: usize = datagrams.iter().map(|d| d.data.len()).sum();
            if !store.data().network().sent(bytes as u64) {
                return Ok((Err(ErrorCode::AccessDenied),));
            }
            let mut view = store.data_mut().sockets();
            match view.send(this, datagrams) {
                Ok(sent) => Ok((Ok(sent),)),
                Err(e) => error(&mut view, e),
            }
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A socket error as the guest gets it (or the trap it is).
fn error<V>(
    view: &mut wasmtime_wasi::sockets::WasiSocketsCtxView<'_>,
    e: SocketError,
) -> wasmtime::Result<(Result<V, ErrorCode>,)> {
    Ok((Err(view.convert_error_code(e)?),))
}

/// A TCP connection's output stream, its bytes counted.
struct Counted {
    inner: DynOutputStream,
    network: Network,
}

#[async_trait::async_trait]
impl Pollable for Counted {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[async_trait::async_trait]
impl OutputStream for Counted {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        // Past the limit the attempt is stopped; the stream says so first.
        if !self.network.sent(bytes.len() as u64) {
            return Err(StreamError::Closed);
        }
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

/// What stands in the table for an instant while a stream is wrapped.
struct Spent;

#[async_trait::async_trait]
impl Pollable for Spent {
    async fn ready(&mut self) {}
}

impl OutputStream for Spent {
    fn write(&mut self, _: Bytes) -> StreamResult<()> {
        Err(StreamError::Closed)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Err(StreamError::Closed)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Err(StreamError::Closed)
    }
}
