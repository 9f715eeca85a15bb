"""HTTP/1.1 request framing as strict as the proxies in front of us: h11, made stricter.

Hypercorn parses HTTP/1.1 with h11, which is lenient where a proxy may not be. When two
parsers read the same bytes differently, a request can hide inside another (request
smuggling), so every head that h11 would read one way and a strict proxy another is refused:

    a bare LF (not CR LF) ending a line of the head or of a chunked trailer   400
    an obsolete line folding (a header line starting with a space or a tab)    400
    both Content-Length and Transfer-Encoding (RFC 9112 section 6.3)          400
    Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1)           400

h11 itself unfolds folded lines (`_obsolete_line_fold`), ends lines at a bare LF
(`ReceiveBuffer.maybe_extract_lines`), and lets Transfer-Encoding win over Content-Length.
What h11 refuses (these, and its own refusals: a malformed request line or header, a head over
its 16 KiB, 431) Hypercorn answers with an empty body and `Connection: close`, and closes the
connection. `install()` gives that answer the API's shape: a problem document (code
`malformed_request`, or `headers_too_large` for 431, `instance` `/`: no path could be read),
with the API's headers and an X-Request-ID. It is not counted in the metrics nor logged: no
request reached the app.

Why here: the ASGI scope holds the parsed headers, not the bytes, so the only place that sees
the framing is h11's reader of a request head. `install()` wraps h11's own readers (the
request head, and the chunked body for its trailer): they check the raw head, then let h11
parse it exactly as before. Nothing of Hypercorn is replaced, and a head that passes gives the
same event h11 would have given. It is installed when serving starts (api/serving.py); it
applies to every h11 server connection of the process, and to chunked trailers h11 reads.

Header names with an underscore are dropped where the WSGI environ is made (api/serving.py),
where they would become indistinguishable from the dashed names.
"""

import re
from typing import Any

import h11
import orjson
from h11 import _readers
from h11._receivebuffer import ReceiveBuffer
from hypercorn.protocol.h11 import H11Protocol

from api import problems
from api.observability import request_id
from api.problems import PROBLEM_JSON, problem_document
from api.security import API_HEADERS

# Where h11 ends a head: the first empty line, CR LF or bare LF (h11's own expression).
HEAD_END = re.compile(rb"\n\r?\n")
BARE_LF = re.compile(rb"(?<!\r)\n")
FOLDED_LINE = re.compile(rb"\n[ \t]")

h11_read_request_head = _readers.maybe_read_from_IDLE_client
H11ChunkedReader = _readers.ChunkedReader


def check_head(buffer: ReceiveBuffer) -> None:
    """Raise h11.LocalProtocolError (answered 400) when the head at the start of `buffer`, as
    far as it has arrived, has a bare LF or a folded line."""
    data = bytes(buffer)
    if data.startswith(b"\r\n"):  # an empty head (h11 refuses it, or ends a trailer)
        return
    end = HEAD_END.search(data)
    head = data if end is None else data[: end.end()]
    if BARE_LF.search(head):
        raise h11.LocalProtocolError("a line ends with a bare LF, not CR LF", 400)
    if FOLDED_LINE.search(head):
        raise h11.LocalProtocolError("obsolete line folding", 400)


def read_request_head(buffer: ReceiveBuffer) -> h11.Request | None:
    """h11's reader of a request head, refusing what a strict proxy would read otherwise."""
    check_head(buffer)
    request = h11_read_request_head(buffer)
    if request is None:
        return None
    names = {name for name, _ in request.headers}  # h11 gives them lowercased
    if b"transfer-encoding" in names:
        if b"content-length" in names:
            raise h11.LocalProtocolError("both Content-Length and Transfer-Encoding", 400)
        if request.http_version == b"1.0":
            raise h11.LocalProtocolError("Transfer-Encoding in an HTTP/1.0 request", 400)
    return request


class ChunkedReader(H11ChunkedReader):
    """h11's chunked body reader, with the trailer held to the rules of the head."""

    def __call__(self, buffer: ReceiveBuffer) -> Any:
        if self._reading_trailer:
            check_head(buffer)
        return super().__call__(buffer)


# What h11's refusals answer, by the status Hypercorn gives them; any other is malformed framing.
REFUSALS = {431: problems.HEADERS_TOO_LARGE}
_API_HEADERS = [(name.lower().encode(), value.encode()) for name, value in API_HEADERS.items()]


async def send_problem(protocol: H11Protocol, status_code: int) -> None:
    """Hypercorn's answer to a request h11 cannot read (`_send_error_response`), with a
    problem document for a body instead of none."""
    problem = REFUSALS.get(status_code, problems.MALFORMED_REQUEST)
    rid = request_id(None)
    document = problem_document(status_code, problem.code, problem.detail, path="/", request_id=rid)
    body = orjson.dumps(document) + b"\n"
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *_API_HEADERS,
        (b"x-request-id", rid.encode()),
        *protocol.config.response_headers("h11"),
    ]
    await protocol._send_h11_event(h11.Response(status_code=status_code, headers=headers))
    await protocol._send_h11_event(h11.Data(data=body))
    await protocol._send_h11_event(h11.EndOfMessage())


def install() -> None:
    """Put the strict readers in h11's table of readers, and the problem answer in Hypercorn's
    h11 protocol (once; calling again changes nothing)."""
    _readers.READERS[(h11.CLIENT, h11.IDLE)] = read_request_head
    body_readers: Any = _readers.READERS[h11.SEND_BODY]
    body_readers["chunked"] = ChunkedReader
    # Patched on the class, so `protocol` is the instance Hypercorn calls it on (mypy reads the
    # function as the method's unbound form, with `self` twice).
    H11Protocol._send_error_response = send_problem  # type: ignore[method-assign, assignment]
