"""Outgoing HTTP through ``wasi:http``, read whole: ``get(url)`` or
``request(method, url, headers, body)``. A request leaves the sandbox only
where a NetworkPolicy grants the instance egress to its host and port; a
refused one raises ``HttpError`` saying ``HttpRequestDenied``, and the
instance's log names the destination. The Python counterpart of
``wasmjob_sdk::http``::

    report = http.get("http://reports.example/today.csv")
    report.status, report.body
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler as _handler
from wit_world.imports import streams as _streams
from wit_world.imports import wasi_http_types as _types


class HttpError(Exception):
    """A request that failed: the URL and what went wrong."""


@dataclass
class Response:
    """A response, read whole."""

    status: int
    headers: List[Tuple[str, bytes]] = field(default_factory=list)
    body: bytes = b""


_METHODS = {
    "GET": _types.Method_Get(),
    "HEAD": _types.Method_Head(),
    "POST": _types.Method_Post(),
    "PUT": _types.Method_Put(),
    "DELETE": _types.Method_Delete(),
    "PATCH": _types.Method_Patch(),
    "OPTIONS": _types.Method_Options(),
}


def _split(url: str) -> Tuple[str, str, str]:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise HttpError(f"{url}: not an http or https URL")
    authority, slash, path = rest.partition("/")
    if not authority:
        raise HttpError(f"{url}: the URL names no host")
    return scheme, authority, "/" + path if slash else "/"


def _code(e: Err) -> str:
    return type(e.value).__name__.removeprefix("ErrorCode_")


def get(url: str) -> Response:
    """GETs ``url``."""
    return request("GET", url)


def request(
    method: str, url: str, headers: Optional[List[Tuple[str, str]]] = None, body: bytes = b""
) -> Response:
    """Sends ``method`` to ``url`` and reads the whole response."""
    scheme, authority, path = _split(url)
    fields = _types.Fields()
    for name, value in headers or []:
        fields.append(name, value.encode())
    outgoing = _types.OutgoingRequest(fields)
    upper = method.upper()
    outgoing.set_method(_METHODS.get(upper, _types.Method_Other(upper)))
    outgoing.set_scheme(_types.Scheme_Https() if scheme == "https" else _types.Scheme_Http())
    outgoing.set_authority(authority)
    outgoing.set_path_with_query(path)
    outgoing_body = outgoing.body()
    try:
        future = _handler.handle(outgoing, None)
    except Err as e:
        raise HttpError(f"HTTP request to {url} failed: {_code(e)}") from None
    stream = outgoing_body.write()
    for at in range(0, len(body), 4096):
        stream.blocking_write_and_flush(body[at : at + 4096])
    del stream
    _types.OutgoingBody.finish(outgoing_body, None)
    future.subscribe().block()
    answer = future.get()
    if answer is None or isinstance(answer, Err):
        raise HttpError(f"HTTP request to {url} failed: no response")
    inner = answer.value
    if isinstance(inner, Err):
        raise HttpError(f"HTTP request to {url} failed: {_code(inner)}")
    response = inner.value if isinstance(inner, Ok) else inner
    status = response.status()
    entries = response.headers().entries()
    incoming = response.consume()
    reader = incoming.stream()
    data = bytearray()
    while True:
        try:
            data += reader.blocking_read(64 * 1024)
        except Err as e:
            if isinstance(e.value, _streams.StreamError_Closed):
                break
            raise HttpError(f"HTTP request to {url} failed reading the body") from None
    return Response(status=status, headers=entries, body=bytes(data))
