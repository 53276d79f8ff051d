//! A cap on the size of one WebSocket message. The WebSocket handler of
//! async-graphql-actix-web collects a fragmented message (continuation frames) without limit,
//! so a client could grow one message until memory runs out. This adapter reads the frame
//! headers of the client's byte stream as it passes — the bytes go through unchanged — and
//! ends the stream with an error once the data frames of one message add up to more than the
//! limit; the handler then closes the connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures::Stream;

/// Where in the client's frame sequence the next byte falls.
enum State {
    /// Collecting a frame header (at most 14 bytes).
    Header(Vec<u8>),
    /// Inside a frame's payload: this many bytes to go.
    Payload(u64),
}

pub struct LimitMessages<S> {
    inner: S,
    limit: u64,
    state: State,
    /// Payload bytes of data frames of the current message so far.
    message: u64,
    /// The current frame ends a message.
    fin: bool,
    failed: bool,
}

impl<S> LimitMessages<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        LimitMessages {
            inner,
            limit: limit as u64,
            state: State::Header(Vec::with_capacity(14)),
            message: 0,
            fin: false,
            failed: false,
        }
    }

    /// Account for `chunk`; false once a message is over the limit.
    fn observe(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() {
            match &mut self.state {
                State::Payload(left) => {
                    let n = (*left).min(chunk.len() as u64);
                    *left -= n;
                    chunk = &chunk[n as usize..];
                    if *left == 0 {
                        self.end_frame();
                    }
                }
                State::Header(h) => {
                    h.push(chunk[0]);
                    chunk = &chunk[1..];
                    if h.len() < 2 {
                        continue;
                    }
                    let len7 = h[1] & 0x7f;
                    let masked = h[1] & 0x80 != 0;
                    let need =
                        2 + match len7 {
                            126 => 2,
                            127 => 8,
                            _ => 0,
                        } + if masked { 4 } else { 0 };
                    if h.len() < need {
                        continue;
                    }
                    let len = match len7 {
                        126 => u16::from_be_bytes([h[2], h[3]]) as u64,
                        127 => u64::from_be_bytes(h[2..10].try_into().unwrap_or([0xff; 8])),
                        n => n as u64,
                    };
                    let opcode = h[0] & 0x0f;
                    let fin = h[0] & 0x80 != 0;
                    // Data frames (continuation, text, binary) make up messages; control
                    // frames (close, ping, pong) may come between their fragments.
                    if opcode < 0x8 {
                        self.message = self.message.saturating_add(len);
                        if self.message > self.limit {
                            return false;
                        }
                        self.fin = fin;
                    } else {
                        self.fin = false;
                    }
                    self.state = State::Payload(len);
                    if len == 0 {
                        self.end_frame();
                    }
                }
            }
        }
        true
    }

    fn end_frame(&mut self) {
        if self.fin {
            self.message = 0;
            self.fin = false;
        }
        self.state = State::Header(Vec::with_capacity(14));
    }
}

impl<S: Stream<Item = Result<Bytes, PayloadError>> + Unpin> Stream for LimitMessages<S> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.observe(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    self.failed = true;
                    tracing::warn!(
                        limit = self.limit,
                        "websocket message over the size limit: closing the connection"
                    );
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        if len < 126 {
            f.push(0x80 | len as u8);
        } else if len < 65536 {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    fn run(bytes: &[u8], chunk: usize, limit: usize) -> bool {
        let mut l = LimitMessages::new(
            futures::stream::empty::<Result<Bytes, PayloadError>>(),
            limit,
        );
        bytes.chunks(chunk).all(|c| l.observe(c))
    }

    #[test]
    fn messages_within_and_over_the_limit() {
        let mut ok = Vec::new();
        for _ in 0..50 {
            ok.extend(frame(true, 1, 900));
        }
        ok.extend(frame(false, 1, 500));
        ok.extend(frame(true, 9, 4)); // ping between fragments
        ok.extend(frame(true, 0, 500));
        ok.extend(frame(true, 1, 70_000 - 69_000));
        for chunk in [1, 3, 7, 1000, 1 << 20] {
            assert!(run(&ok, chunk, 1000), "chunk {chunk}");
        }
        let mut over = Vec::new();
        for _ in 0..3 {
            over.extend(frame(false, 1, 400));
        }
        over.extend(frame(true, 0, 1));
        assert!(!run(&over, 5, 1000));
        assert!(!run(&frame(true, 2, 70_000), 4096, 65_536));
        assert!(
            !run(&frame(true, 1, 1 << 17)[..20], 1, 65_536),
            "refused from the header alone"
        );
    }
}
