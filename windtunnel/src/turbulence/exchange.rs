//! HTTP/1.1 exchanges through a [`Proxy`](super::Proxy), so that an HTTP toxic
//! ([`Toxic::http`](super::Toxic::http)) acts per request rather than per connection.
//!
//! [`relay`] sits between the proxy's byte pipes (where the byte toxics act) and the upstream.
//! It reads one request head at a time, asks what to do with it, forwards the request and its
//! body, and relays the response, framed as RFC 9112 says (`Content-Length`, chunked, no body
//! for `HEAD`, 1xx, 204 and 304, or until the upstream closes), before it reads the next
//! request: pipelined requests wait in the client's buffer, so a synthetic answer always comes
//! in its request's place. Bytes are forwarded as they came; only heads are parsed.
//!
//! Anything it cannot frame with certainty (not HTTP/1.x, a head over 64 KiB, both
//! `Transfer-Encoding` and `Content-Length`, an upgrade, `CONNECT`, an upstream that speaks
//! first, a first request line that does not come whole within 200 ms) is relayed byte for
//! byte from there on, as without it, and no HTTP toxic acts on it. The one cost to another
//! protocol: a connection whose first message is a short run of letters with no space or line
//! end (`ping`) waits those 200 ms once, as it could be the start of a request line.

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest request or response head it parses; past it, bytes are relayed as they are.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields of one head.
const MAX_HEADERS: usize = 128;
/// The longest chunk-size or trailer line of a chunked body.
const MAX_LINE: usize = 8 * 1024;
/// How long a first request line may take to come whole before the bytes are taken for
/// another protocol's and relayed as they are.
const FIRST_LINE: Duration = Duration::from_millis(200);
/// The longest method it takes for one (the longest registered is 17 bytes).
const MAX_METHOD: usize = 32;
/// How much is read at once.
const READ: usize = 16 * 1024;

/// What an HTTP toxic does to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Act {
    /// Forward it.
    Pass,
    /// Forward it after this long.
    Delay(Duration),
    /// Answer with these bytes (a whole response) instead; the upstream never sees it.
    Answer(bytes::Bytes),
    /// Never answer; the client's own timeout ends it.
    Hang,
    /// Reset the connection instead of forwarding it.
    DropRequest,
    /// Forward it, then reset the connection when its answer comes.
    DropResponse,
}

/// How the relay ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Closed (or half-closed) as the two ends did.
    Closed,
    /// The connection is to be reset.
    Reset,
}

/// One side's reads, with what was read and not yet used.
struct Reader<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads more; `0` at the end.
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ);
        self.io.read_buf(&mut self.buf).await
    }
}

/// How a body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

/// A request head, as far as framing and matching go.
#[derive(Debug, PartialEq, Eq)]
struct RequestHead {
    len: usize,
    method: String,
    path: String,
    body: Body,
    expects_continue: bool,
}

/// A response head, as far as framing goes.
#[derive(Debug, PartialEq, Eq)]
struct ResponseHead {
    len: usize,
    status: u16,
    body: Body,
}

/// What parsing a head found.
#[derive(Debug, PartialEq, Eq)]
enum Parsed<T> {
    Complete(T),
    Partial,
    /// Not something to frame: relay bytes from here on.
    Opaque,
}

fn header<'a>(headers: &'a [httparse::Header<'_>], name: &str) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The framing the headers give: `Err` when they contradict themselves.
fn framing(headers: &[httparse::Header<'_>]) -> Result<Option<Body>, ()> {
    let codings: Vec<&[u8]> = header(headers, "transfer-encoding").collect();
    let lengths: Vec<&[u8]> = header(headers, "content-length").collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(());
        }
        let last = codings
            .last()
            .and_then(|v| v.rsplit(|&b| b == b',').next())
            .map(|c| c.trim_ascii());
        return Ok(Some(
            if last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
                Body::Chunked
            } else {
                Body::UntilClose
            },
        ));
    }
    let mut length = None;
    for value in lengths {
        for part in value.split(|&b| b == b',') {
            let n: u64 = std::str::from_utf8(part.trim_ascii())
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or(())?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        }
    }
    Ok(length.map(Body::Length))
}

fn parse_request(buf: &[u8]) -> Parsed<RequestHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::Opaque,
    };
    let method = req.method.unwrap_or_default();
    let upgrade = header(req.headers, "upgrade").next().is_some();
    if method.eq_ignore_ascii_case("CONNECT") || upgrade {
        return Parsed::Opaque;
    }
    let body = match framing(req.headers) {
        Ok(Some(Body::UntilClose)) | Err(()) => return Parsed::Opaque,
        Ok(body) => body.unwrap_or(Body::None),
    };
    let expects_continue =
        header(req.headers, "expect").any(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
    Parsed::Complete(RequestHead {
        len,
        method: method.to_owned(),
        path: path_of(req.path.unwrap_or("/")).to_owned(),
        body,
        expects_continue,
    })
}

/// The path of a request target, without its query (and without the scheme and authority of
/// an absolute URL).
fn path_of(target: &str) -> &str {
    let target = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    target.split(['?', '#']).next().unwrap_or(target)
}

fn parse_response(buf: &[u8], head_request: bool) -> Parsed<ResponseHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::Opaque,
    };
    let status = resp.code.unwrap_or(0);
    let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        Body::None
    } else {
        match framing(resp.headers) {
            Err(()) => return Parsed::Opaque,
            Ok(body) => body.unwrap_or(Body::UntilClose),
        }
    };
    Parsed::Complete(ResponseHead { len, status, body })
}

/// Where a chunked body's decoding is.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    /// The CRLF after a chunk's data: how many of its bytes are still to come.
    DataEnd(u8),
    Trailer,
}

impl Chunked {
    /// Consumes the bytes of `data` that belong to the body: how many, and whether the body
    /// ended there.
    fn feed(&mut self, data: &[u8]) -> io::Result<(usize, bool)> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
        let mut i = 0;
        while i < data.len() {
            match self.state {
                ChunkState::Data(n) => {
                    let take = n.min((data.len() - i) as u64);
                    i += take as usize;
                    self.state = if take == n {
                        ChunkState::DataEnd(2)
                    } else {
                        ChunkState::Data(n - take)
                    };
                }
                ChunkState::DataEnd(k) => {
                    match (k, data[i]) {
                        (2, b'\r') => self.state = ChunkState::DataEnd(1),
                        (_, b'\n') => self.state = ChunkState::Size,
                        _ => return Err(bad("a chunk's data does not end with CRLF")),
                    }
                    i += 1;
                }
                ChunkState::Size | ChunkState::Trailer => {
                    let b = data[i];
                    i += 1;
                    if b != b'\n' {
                        if self.line.len() >= MAX_LINE {
                            return Err(bad("a chunk line is too long"));
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
                    if self.state == ChunkState::Trailer {
                        if line.is_empty() {
                            return Ok((i, true));
                        }
                    } else {
                        let size = line.split(|&b| b == b';').next().unwrap_or_default();
                        let size = std::str::from_utf8(size.trim_ascii())
                            .ok()
                            .filter(|s| !s.is_empty() && s.len() <= 16)
                            .and_then(|s| u64::from_str_radix(s, 16).ok())
                            .ok_or_else(|| bad("a chunk size is not hexadecimal"))?;
                        self.state = if size == 0 {
                            ChunkState::Trailer
                        } else {
                            ChunkState::Data(size)
                        };
                    }
                    self.line.clear();
                }
            }
        }
        Ok((i, false))
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "closed within a message")
}

/// Relays one body framed as `body` from `src` to `dst` (or discards it). `Ok(true)`: ended by
/// the sender closing, as a body until close does.
async fn relay_body<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    src: &mut Reader<R>,
    mut dst: Option<&mut W>,
    body: Body,
) -> io::Result<bool> {
    let mut left = match body {
        Body::None => return Ok(false),
        Body::Length(n) => n,
        _ => u64::MAX,
    };
    let mut chunked = Chunked::default();
    loop {
        if src.buf.is_empty() && src.fill().await? == 0 {
            return match body {
                Body::UntilClose => Ok(true),
                _ => Err(eof()),
            };
        }
        let (take, done) = match body {
            Body::Chunked => chunked.feed(&src.buf)?,
            Body::Length(_) => {
                let take = left.min(src.buf.len() as u64);
                left -= take;
                (take as usize, left == 0)
            }
            _ => (src.buf.len(), false),
        };
        if let Some(dst) = dst.as_deref_mut() {
            dst.write_all(&src.buf[..take]).await?;
        }
        src.buf.advance(take);
        if done {
            return Ok(false);
        }
    }
}

/// How relaying a response ended.
enum Answered {
    /// The next request may come.
    KeepAlive,
    /// The upstream closed: nothing more can be answered.
    Closed,
    /// From here on, bytes only (`101 Switching Protocols`, or a head it cannot frame).
    Opaque,
}

/// Relays the response (after any 1xx) to a request whose method was `HEAD` or not.
async fn relay_response<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    src: &mut Reader<R>,
    dst: &mut W,
    head_request: bool,
) -> io::Result<Answered> {
    loop {
        let head = match parse_response(&src.buf, head_request) {
            Parsed::Complete(head) => head,
            Parsed::Opaque => return Ok(Answered::Opaque),
            Parsed::Partial => {
                if src.fill().await? == 0 {
                    if !src.buf.is_empty() {
                        return Ok(Answered::Opaque);
                    }
                    return Ok(Answered::Closed);
                }
                continue;
            }
        };
        dst.write_all(&src.buf[..head.len]).await?;
        src.buf.advance(head.len);
        match head.status {
            101 => return Ok(Answered::Opaque),
            100..=199 => continue,
            _ => {}
        }
        return Ok(if relay_body(src, Some(dst), head.body).await? {
            Answered::Closed
        } else {
            Answered::KeepAlive
        });
    }
}

/// Both ends of a relayed connection: what was read from each and not used yet, and where to
/// write to each.
struct Ends<CR, CW, UR, UW> {
    client: Reader<CR>,
    client_write: CW,
    upstream: Reader<UR>,
    upstream_write: UW,
}

/// What comes next from the client.
enum Next {
    Request(RequestHead),
    /// Bytes to relay as they are.
    Opaque,
    /// Nothing: the connection is over.
    Done,
}

impl<CR, CW, UR, UW> Ends<CR, CW, UR, UW>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    /// The next request's head, while watching the upstream: one that speaks first ends the
    /// framing, and one that closes between requests ends the connection.
    async fn next_request(&mut self, first: bool) -> Next {
        loop {
            match parse_request(&self.client.buf) {
                Parsed::Complete(head) => return Next::Request(head),
                Parsed::Opaque => return Next::Opaque,
                Parsed::Partial => {}
            }
            // A first request line that does not come whole is not HTTP from a client (which
            // writes its head at once), but another protocol's message that happens to look
            // like the start of one: after a moment, it passes; at once if no method is that
            // long.
            let buf = &self.client.buf;
            let unsure = first && !buf.is_empty() && !buf.contains(&b'\n');
            if unsure && buf.len() > MAX_METHOD && !buf[..=MAX_METHOD].contains(&b' ') {
                return Next::Opaque;
            }
            tokio::select! {
                () = tokio::time::sleep(FIRST_LINE), if unsure => return Next::Opaque,
                read = self.client.fill() => match read {
                    Ok(0) if self.client.buf.is_empty() => {
                        // The client is done: so is the upstream, once it has answered.
                        let _ = self.upstream_write.shutdown().await;
                        let _ = tokio::io::copy(&mut self.upstream.io, &mut self.client_write).await;
                        let _ = self.client_write.shutdown().await;
                        return Next::Done;
                    }
                    Ok(0) => return Next::Opaque,
                    Ok(_) => {}
                    Err(_) => return Next::Done,
                },
                read = self.upstream.fill() => match read {
                    Ok(0) | Err(_) => {
                        let _ = self.client_write.shutdown().await;
                        return Next::Done;
                    }
                    Ok(_) => return Next::Opaque,
                },
            }
        }
    }

    /// Relays bytes as they are, both ways, what was read already first; until the upstream
    /// ends (the client's end alone half-closes).
    async fn opaque(&mut self) -> Ended {
        let (client, client_write) = (&mut self.client, &mut self.client_write);
        let (upstream, upstream_write) = (&mut self.upstream, &mut self.upstream_write);
        let up = async {
            upstream_write.write_all(&client.buf).await?;
            client.buf.clear();
            tokio::io::copy(&mut client.io, upstream_write).await?;
            upstream_write.shutdown().await
        };
        let down = async {
            client_write.write_all(&upstream.buf).await?;
            upstream.buf.clear();
            tokio::io::copy(&mut upstream.io, client_write).await?;
            client_write.shutdown().await
        };
        tokio::pin!(up, down);
        let mut up_done = false;
        loop {
            tokio::select! {
                _ = &mut up, if !up_done => up_done = true,
                _ = &mut down => return Ended::Closed,
            }
        }
    }

    /// Forwards a request whose head was read, with its body, and relays its answer; with
    /// `drop_answer`, the connection is reset instead when the answer starts to come.
    async fn exchange(&mut self, head: &RequestHead, drop_answer: bool) -> Result<Answered, Ended> {
        let client = &mut self.client;
        let upstream_write = &mut self.upstream_write;
        if upstream_write
            .write_all(&client.buf[..head.len])
            .await
            .is_err()
        {
            return Err(Ended::Closed);
        }
        client.buf.advance(head.len);
        let head_request = head.method.eq_ignore_ascii_case("HEAD");
        let send = relay_body(client, Some(upstream_write), head.body);
        let (upstream, client_write) = (&mut self.upstream, &mut self.client_write);
        let answer = async {
            if drop_answer {
                // The upstream handled it; its answer is lost on the way.
                let _ = upstream.fill().await;
                return Err(io::Error::other("the answer is dropped"));
            }
            relay_response(upstream, client_write, head_request).await
        };
        tokio::pin!(send, answer);
        let mut sent: Option<io::Result<bool>> = None;
        let answered = loop {
            tokio::select! {
                s = &mut send, if sent.is_none() => sent = Some(s),
                a = &mut answer => break a,
            }
        };
        if drop_answer {
            return Err(Ended::Reset);
        }
        if matches!(answered, Ok(Answered::KeepAlive | Answered::Opaque)) && sent.is_none() {
            // The request's body goes on to its end (a cut write could not be resumed).
            sent = Some(send.await);
        }
        match (answered, sent) {
            (Ok(Answered::Closed), _) => Ok(Answered::Closed),
            (Ok(answered), Some(Ok(_))) => Ok(answered),
            _ => Err(Ended::Closed),
        }
    }
}

/// Relays HTTP/1.1 between `client` and `upstream`, asking `decide` (with the request's number
/// on this connection, from 0, its method and its path) what to do with each request.
pub(crate) async fn relay<C, U>(
    client: C,
    upstream: U,
    mut decide: impl FnMut(u64, &str, &str) -> Act,
) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (upstream_read, upstream_write) = tokio::io::split(upstream);
    let mut ends = Ends {
        client: Reader {
            io: client_read,
            buf: BytesMut::new(),
        },
        client_write,
        upstream: Reader {
            io: upstream_read,
            buf: BytesMut::new(),
        },
        upstream_write,
    };
    let mut number = 0u64;
    loop {
        let head = match ends.next_request(number == 0).await {
            Next::Request(head) => head,
            Next::Opaque => return ends.opaque().await,
            Next::Done => return Ended::Closed,
        };
        let act = decide(number, &head.method, &head.path);
        number += 1;
        match act {
            Act::Pass => {}
            Act::Delay(delay) => tokio::time::sleep(delay).await,
            Act::DropResponse => {}
            Act::DropRequest => return Ended::Reset,
            Act::Hang => {
                // Nothing is answered again on this connection: swallow until the client goes.
                loop {
                    ends.client.buf.clear();
                    if !matches!(ends.client.fill().await, Ok(1..)) {
                        return Ended::Closed;
                    }
                }
            }
            Act::Answer(answer) => {
                ends.client.buf.advance(head.len);
                if head.expects_continue && head.body != Body::None {
                    // The client may or may not send the body it announced: close rather
                    // than guess where the next request starts.
                    let _ = ends.client_write.write_all(&answer).await;
                    let _ = ends.client_write.shutdown().await;
                    return Ended::Closed;
                }
                let discard = None::<&mut tokio::io::Sink>;
                if relay_body(&mut ends.client, discard, head.body)
                    .await
                    .is_err()
                    || ends.client_write.write_all(&answer).await.is_err()
                {
                    return Ended::Closed;
                }
                continue;
            }
        }
        match ends.exchange(&head, act == Act::DropResponse).await {
            Ok(Answered::KeepAlive) => {}
            Ok(Answered::Closed) => {
                let _ = ends.client_write.shutdown().await;
                return Ended::Closed;
            }
            Ok(Answered::Opaque) => return ends.opaque().await,
            Err(ended) => return ended,
        }
    }
}

/// A whole HTTP/1.1 response with `status`, `headers` and `body` (none for a `HEAD` request,
/// which learns its length all the same).
pub(crate) fn answer(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_request: bool,
) -> bytes::Bytes {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_request {
        bytes.extend_from_slice(body);
    }
    bytes.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` to a chunked decoder in pieces of `step` bytes: where it ended.
    fn chunked_end(body: &[u8], step: usize) -> io::Result<Option<usize>> {
        let mut c = Chunked::default();
        let mut at = 0;
        for piece in body.chunks(step) {
            let (used, done) = c.feed(piece)?;
            if done {
                return Ok(Some(at + used));
            }
            assert_eq!(used, piece.len());
            at += used;
        }
        Ok(None)
    }

    #[test]
    fn a_chunked_body_ends_where_its_last_chunk_and_trailers_end_however_it_is_cut() {
        let body = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-sum: 1\r\n\r\n";
        for step in [1, 2, 3, 7, body.len()] {
            let mut with_next = body.to_vec();
            with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(
                chunked_end(&with_next, step).unwrap(),
                Some(body.len()),
                "{step}"
            );
        }
        assert_eq!(chunked_end(b"0\r\n\r\n", 1).unwrap(), Some(5));
        assert_eq!(chunked_end(b"3\r\nabc\r\n", 4).unwrap(), None, "not ended");
        assert!(chunked_end(b"zz\r\n", 1).is_err());
        assert!(chunked_end(b"3\r\nabcX", 1).is_err());
        assert!(chunked_end(&[b'1'; MAX_LINE + 1], 1000).is_err());
    }

    #[test]
    fn requests_are_framed_as_rfc_9112_says() {
        let head = |text: &str| match parse_request(text.as_bytes()) {
            Parsed::Complete(h) => Some((h.method, h.path, h.body, h.expects_continue)),
            Parsed::Partial => None,
            Parsed::Opaque => Some(("opaque".into(), String::new(), Body::None, false)),
        };
        assert_eq!(
            head("GET /a?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET".into(), "/a".into(), Body::None, false))
        );
        assert_eq!(
            head("POST /b HTTP/1.1\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"),
            Some(("POST".into(), "/b".into(), Body::Length(5), true))
        );
        assert_eq!(
            head("POST http://h:1/c/d#f HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Some(("POST".into(), "/c/d".into(), Body::Chunked, false))
        );
        assert_eq!(head("GET / HTTP/1.1\r\nHost: x\r\n"), None, "partial");
        let opaque = Some(("opaque".into(), String::new(), Body::None, false));
        for text in [
            "\x00\x00\x00\x08\x04\x12\x16/",
            "PING\r\n",
            "CONNECT h:443 HTTP/1.1\r\n\r\n",
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: -3\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n",
        ] {
            assert_eq!(head(text), opaque, "{text:?}");
        }
        assert_eq!(
            head("POST / HTTP/1.1\r\ncontent-length: 3, 3\r\n\r\n")
                .unwrap()
                .2,
            Body::Length(3)
        );
    }

    #[test]
    fn responses_are_framed_by_method_status_and_headers() {
        let body = |text: &str, head: bool| match parse_response(text.as_bytes(), head) {
            Parsed::Complete(h) => Some(h.body),
            _ => None,
        };
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n";
        assert_eq!(body(ok, false), Some(Body::Length(12)));
        assert_eq!(
            body(ok, true),
            Some(Body::None),
            "a HEAD answer has no body"
        );
        for status in ["100 Continue", "204 No Content", "304 Not Modified"] {
            let text = format!("HTTP/1.1 {status}\r\ncontent-length: 12\r\n\r\n");
            assert_eq!(body(&text, false), Some(Body::None), "{status}");
        }
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                false
            ),
            Some(Body::Chunked)
        );
        assert_eq!(
            body("HTTP/1.0 200 OK\r\n\r\n", false),
            Some(Body::UntilClose)
        );
        assert_eq!(body("HTTP/1.1 200 OK\r\n", false), None, "partial");
    }

    #[test]
    fn a_synthetic_answer_is_a_whole_response() {
        let headers = [("retry-after".to_owned(), "1".to_owned())];
        let a = answer(503, &headers, b"busy", false);
        assert_eq!(
            &a[..],
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nretry-after: 1\r\n\r\nbusy"
        );
        let head = answer(503, &headers, b"busy", true);
        assert!(
            head.ends_with(b"retry-after: 1\r\n\r\n"),
            "no body for HEAD"
        );
        assert!(matches!(
            parse_response(&a, false),
            Parsed::Complete(ResponseHead {
                status: 503,
                body: Body::Length(4),
                ..
            })
        ));
    }

    #[test]
    fn paths_lose_their_query_scheme_and_authority() {
        assert_eq!(path_of("/a/b?x=1"), "/a/b");
        assert_eq!(path_of("http://h:8/a"), "/a");
        assert_eq!(path_of("http://h:8"), "/");
        assert_eq!(path_of("*"), "*");
    }
}
