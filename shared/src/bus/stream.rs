//! The chunked stream protocol between a gateway and an executor (docs/protocol.md).
//!
//! Each end owns an inbox subscription and publishes to the other's inbox, always with its own
//! inbox as reply subject: if the peer's subscription is gone (the process died, or gave up), the
//! NATS server answers with a no-responders status, so a vanished peer is noticed on the next
//! frame or heartbeat instead of after a timeout.
//!
//! Ordered frames (`accepted`, `head`, `data`, `end`, `error`) carry a sequence number per
//! direction; any gap (core NATS drops messages for slow consumers) ends the stream with an error
//! rather than delivering corrupted data. `data` frames are flow-controlled by a window of
//! unacknowledged bytes and messages: the receiver acknowledges what its consumer has taken, so
//! a slow agent slows the upstream instead of filling memory.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::{Client, HeaderMap, Subject, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::messages::{Accepted, ResponseHead, SshExit, StreamFailure};
use crate::config::StreamSettings;

pub const H_KIND: &str = "Sg-Kind";
pub const H_SEQ: &str = "Sg-Seq";
pub const H_ACK: &str = "Sg-Ack";
/// On the first frame of a direction: who sent it (the executor's id, for the audit record).
pub const H_ORIGIN: &str = "Sg-Origin";

/// Unacknowledged messages a sender may have in flight, whatever their size.
const WINDOW_MESSAGES: u64 = 1024;

/// An ordered frame of one direction of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Accepted(Accepted),
    Head(ResponseHead),
    Data(Bytes),
    End,
    Error(StreamFailure),
    /// A whole small response in one frame: head, body, end.
    Complete(ResponseHead, Bytes),
    /// How a remote SSH command ended (the last frame of an SSH stream).
    Exit(SshExit),
}

impl Frame {
    fn kind(&self) -> &'static str {
        match self {
            Frame::Accepted(_) => "accepted",
            Frame::Head(_) => "head",
            Frame::Data(_) => "data",
            Frame::End => "end",
            Frame::Error(_) => "error",
            Frame::Complete(..) => "complete",
            Frame::Exit(_) => "exit",
        }
    }

    /// Whether nothing follows this frame in its direction.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Frame::End | Frame::Error(_) | Frame::Complete(..) | Frame::Exit(_)
        )
    }

    fn payload(&self) -> Result<Bytes, StreamError> {
        let json = |v: Result<Vec<u8>, serde_json::Error>| {
            v.map(Bytes::from).map_err(|e| StreamError::Protocol(e.to_string()))
        };
        match self {
            Frame::Accepted(a) => json(serde_json::to_vec(a)),
            Frame::Head(h) => json(serde_json::to_vec(h)),
            Frame::Data(b) => Ok(b.clone()),
            Frame::End => Ok(Bytes::new()),
            Frame::Error(f) => json(serde_json::to_vec(f)),
            Frame::Exit(x) => json(serde_json::to_vec(x)),
            Frame::Complete(h, body) => {
                let head = serde_json::to_vec(h).map_err(|e| StreamError::Protocol(e.to_string()))?;
                let mut buf = bytes::BytesMut::with_capacity(4 + head.len() + body.len());
                buf.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_be_bytes());
                buf.extend_from_slice(&head);
                buf.extend_from_slice(body);
                Ok(buf.freeze())
            }
        }
    }

    fn decode(kind: &str, payload: Bytes) -> Result<Self, StreamError> {
        let bad = |e: serde_json::Error| StreamError::Protocol(e.to_string());
        Ok(match kind {
            "accepted" => Frame::Accepted(serde_json::from_slice(&payload).map_err(bad)?),
            "head" => Frame::Head(serde_json::from_slice(&payload).map_err(bad)?),
            "data" => Frame::Data(payload),
            "end" => Frame::End,
            "error" => Frame::Error(serde_json::from_slice(&payload).map_err(bad)?),
            "exit" => Frame::Exit(serde_json::from_slice(&payload).map_err(bad)?),
            "complete" => {
                let mut payload = payload;
                if payload.len() < 4 {
                    return Err(StreamError::Protocol("short complete frame".into()));
                }
                let len = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) as usize;
                if payload.len() < 4 + len {
                    return Err(StreamError::Protocol("short complete frame".into()));
                }
                let head = payload.split_to(4 + len);
                Frame::Complete(serde_json::from_slice(&head[4..]).map_err(bad)?, payload)
            }
            other => {
                return Err(StreamError::Protocol(format!("unknown frame kind {other:?}")));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the other end of the stream is gone")]
    PeerGone,
    #[error("stream frames were lost (expected {expected}, got {got})")]
    Gap { expected: u64, got: u64 },
    #[error("stream idle for too long")]
    Idle,
    #[error("stream protocol violation: {0}")]
    Protocol(String),
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("peer exceeded the flow-control window")]
    Overflow,
}

#[derive(Debug, Clone, Default)]
struct PeerState {
    /// The peer has consumed all our ordered frames with seq < acked.
    acked: u64,
    gone: Option<StreamError>,
}

/// Aborts the pump task when both halves of a link are dropped.
struct PumpGuard(tokio::task::AbortHandle);

impl Drop for PumpGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Counters {
    /// Incoming ordered frames consumed so far (= next seq the consumer will take).
    consumed: AtomicU64,
    /// Incoming data bytes buffered but not yet consumed.
    buffered: AtomicUsize,
}

/// Sending half of a link.
pub struct Sender {
    client: Client,
    own: Subject,
    peer: Subject,
    settings: StreamSettings,
    next_seq: u64,
    inflight: VecDeque<(u64, usize)>,
    inflight_bytes: usize,
    state: watch::Receiver<PeerState>,
    origin: Option<String>,
    _guard: Arc<PumpGuard>,
}

/// Receiving half of a link.
pub struct Receiver {
    client: Client,
    own: Subject,
    peer: Subject,
    settings: StreamSettings,
    frames: mpsc::UnboundedReceiver<Result<(u64, Frame), StreamError>>,
    counters: Arc<Counters>,
    unacked_bytes: usize,
    unacked_msgs: u64,
    done: bool,
    _guard: Arc<PumpGuard>,
}

fn headers(kind: &str, seq: Option<u64>, ack: Option<u64>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(H_KIND, kind);
    if let Some(seq) = seq {
        h.insert(H_SEQ, seq.to_string().as_str());
    }
    if let Some(ack) = ack {
        h.insert(H_ACK, ack.to_string().as_str());
    }
    h
}

async fn publish(
    client: &Client,
    peer: &Subject,
    own: &Subject,
    h: HeaderMap,
    payload: Bytes,
) -> Result<(), StreamError> {
    client
        .publish_with_reply_and_headers(peer.clone(), own.clone(), h, payload)
        .await
        .map_err(|e| StreamError::Publish(e.to_string()))
}

fn header_str(msg: &async_nats::Message, name: &str) -> Option<String> {
    Some(msg.headers.as_ref()?.get(name)?.as_str().to_string())
}

fn header_u64(msg: &async_nats::Message, name: &str) -> Option<u64> {
    msg.headers.as_ref()?.get(name)?.as_str().parse().ok()
}

/// Joins a stream whose other end publishes to `own_sub` (subscribed to `own`) and listens on
/// `peer`. `first_seq` is the first incoming sequence number still expected (1 when the caller
/// already read frame 0 itself); `out_seq` the first outgoing one.
pub fn link(
    client: Client,
    settings: StreamSettings,
    own_sub: Subscriber,
    own: Subject,
    peer: Subject,
    first_seq: u64,
    out_seq: u64,
) -> (Sender, Receiver) {
    let (state_tx, state_rx) = watch::channel(PeerState::default());
    let (frames_tx, frames_rx) = mpsc::unbounded_channel();
    let counters = Arc::new(Counters {
        consumed: AtomicU64::new(first_seq),
        buffered: AtomicUsize::new(0),
    });
    let pump = Pump {
        client: client.clone(),
        own: own.clone(),
        peer: peer.clone(),
        settings,
        sub: own_sub,
        expected: first_seq,
        frames: frames_tx,
        state: state_tx,
        counters: counters.clone(),
    };
    let handle = tokio::spawn(pump.run());
    let guard = Arc::new(PumpGuard(handle.abort_handle()));
    let sender = Sender {
        client: client.clone(),
        own: own.clone(),
        peer: peer.clone(),
        settings,
        next_seq: out_seq,
        inflight: VecDeque::new(),
        inflight_bytes: 0,
        state: state_rx,
        origin: None,
        _guard: guard.clone(),
    };
    let receiver = Receiver {
        client,
        own,
        peer,
        settings,
        frames: frames_rx,
        counters,
        unacked_bytes: 0,
        unacked_msgs: 0,
        done: false,
        _guard: guard,
    };
    (sender, receiver)
}

struct Pump {
    client: Client,
    own: Subject,
    peer: Subject,
    settings: StreamSettings,
    sub: Subscriber,
    expected: u64,
    frames: mpsc::UnboundedSender<Result<(u64, Frame), StreamError>>,
    state: watch::Sender<PeerState>,
    counters: Arc<Counters>,
}

impl Pump {
    async fn run(mut self) {
        let first_beat = Instant::now() + self.settings.heartbeat;
        let mut heartbeat = tokio::time::interval_at(first_beat, self.settings.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_progress = Instant::now();
        loop {
            tokio::select! {
                msg = self.sub.next() => {
                    let Some(msg) = msg else {
                        self.fail(StreamError::PeerGone);
                        return;
                    };
                    match self.handle(msg).await {
                        Ok(true) => last_progress = Instant::now(),
                        Ok(false) => {}
                        Err(e) => {
                            self.fail(e);
                            return;
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    if last_progress.elapsed() >= self.settings.idle_timeout {
                        self.fail(StreamError::Idle);
                        return;
                    }
                    let consumed = self.counters.consumed.load(Ordering::SeqCst);
                    if let Err(e) = publish(&self.client, &self.peer, &self.own, headers("ping", None, Some(consumed)), Bytes::new()).await {
                        self.fail(e);
                        return;
                    }
                }
            }
        }
    }

    fn fail(&self, e: StreamError) {
        self.state.send_modify(|s| {
            if s.gone.is_none() {
                s.gone = Some(e.clone());
            }
        });
        let _ = self.frames.send(Err(e));
    }

    /// Ok(true) when the message was progress (a frame or an ack).
    async fn handle(&mut self, msg: async_nats::Message) -> Result<bool, StreamError> {
        if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Err(StreamError::PeerGone);
        }
        let kind = header_str(&msg, H_KIND).unwrap_or_default();
        if let Some(ack) = header_u64(&msg, H_ACK) {
            self.state.send_if_modified(|s| {
                let advanced = ack > s.acked;
                if advanced {
                    s.acked = ack;
                }
                advanced
            });
        }
        match kind.as_str() {
            "ack" => Ok(true),
            "ping" => {
                // Answer with where we are, which also recovers a lost ack.
                let consumed = self.counters.consumed.load(Ordering::SeqCst);
                publish(
                    &self.client,
                    &self.peer,
                    &self.own,
                    headers("ack", None, Some(consumed)),
                    Bytes::new(),
                )
                .await?;
                Ok(false)
            }
            _ => {
                let seq =
                    header_u64(&msg, H_SEQ).ok_or_else(|| StreamError::Protocol("frame without sequence".into()))?;
                if seq != self.expected {
                    return Err(StreamError::Gap {
                        expected: self.expected,
                        got: seq,
                    });
                }
                self.expected += 1;
                let frame = Frame::decode(&kind, msg.payload)?;
                if let Frame::Data(b) = &frame {
                    let buffered = self.counters.buffered.fetch_add(b.len(), Ordering::SeqCst) + b.len();
                    if buffered > 2 * self.settings.window_bytes + self.settings.chunk_bytes {
                        return Err(StreamError::Overflow);
                    }
                }
                let _ = self.frames.send(Ok((seq, frame)));
                Ok(true)
            }
        }
    }
}

impl Sender {
    /// Sends a frame that is not flow-controlled (`accepted`, `head`, `end`, `error`).
    pub async fn send(&mut self, frame: Frame) -> Result<(), StreamError> {
        if let Frame::Data(b) = frame {
            return self.send_data(b).await;
        }
        self.check_gone()?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut h = headers(frame.kind(), Some(seq), None);
        if seq == 0
            && let Some(origin) = &self.origin
        {
            h.insert(H_ORIGIN, origin.as_str());
        }
        publish(&self.client, &self.peer, &self.own, h, frame.payload()?).await
    }

    /// Names the sender on the first frame (see `H_ORIGIN`).
    pub fn set_origin(&mut self, origin: &str) {
        self.origin = Some(origin.to_string());
    }

    /// Whether any ordered frame has been sent yet.
    pub fn has_sent(&self) -> bool {
        self.next_seq > 0
    }

    /// Resolves when the other end is gone (or the link failed): lets a sender waiting on
    /// something else (a slow upstream) notice that nobody is listening any more.
    pub fn gone(&self) -> impl std::future::Future<Output = StreamError> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            loop {
                if let Some(e) = state.borrow().gone.clone() {
                    return e;
                }
                if state.changed().await.is_err() {
                    return StreamError::PeerGone;
                }
            }
        }
    }

    /// After the last frame: waits until the peer has consumed everything sent (its final ack),
    /// so this end's inbox outlives every frame in flight, and the peer can never mistake a
    /// completed stream for a vanished sender. Bounded by the idle timeout.
    pub async fn linger(&mut self) {
        let deadline = tokio::time::Instant::now() + self.settings.idle_timeout;
        loop {
            let (acked, gone) = {
                let s = self.state.borrow();
                (s.acked, s.gone.is_some())
            };
            if acked >= self.next_seq || gone {
                return;
            }
            if tokio::time::timeout_at(deadline, self.state.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                return;
            }
        }
    }

    fn check_gone(&self) -> Result<(), StreamError> {
        match &self.state.borrow().gone {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Sends body bytes, split into chunks, waiting for window space.
    pub async fn send_data(&mut self, data: Bytes) -> Result<(), StreamError> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(self.settings.chunk_bytes);
            let chunk = rest.split_to(n);
            self.wait_for_window(n).await?;
            let seq = self.next_seq;
            self.next_seq += 1;
            self.inflight.push_back((seq, n));
            self.inflight_bytes += n;
            publish(
                &self.client,
                &self.peer,
                &self.own,
                headers("data", Some(seq), None),
                chunk,
            )
            .await?;
        }
        Ok(())
    }

    fn release_acked(&mut self) {
        let acked = self.state.borrow().acked;
        while let Some(&(seq, len)) = self.inflight.front() {
            if seq >= acked {
                break;
            }
            self.inflight.pop_front();
            self.inflight_bytes -= len;
        }
    }

    async fn wait_for_window(&mut self, n: usize) -> Result<(), StreamError> {
        loop {
            self.check_gone()?;
            self.release_acked();
            let fits_bytes = self.inflight.is_empty() || self.inflight_bytes + n <= self.settings.window_bytes;
            if fits_bytes && (self.inflight.len() as u64) < WINDOW_MESSAGES {
                return Ok(());
            }
            match tokio::time::timeout(self.settings.idle_timeout, self.state.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(StreamError::PeerGone),
                Err(_) => return Err(StreamError::Idle),
            }
        }
    }
}

impl Receiver {
    /// The next ordered frame; `None` after `end` or `error` has been returned.
    pub async fn next(&mut self) -> Option<Result<Frame, StreamError>> {
        if self.done {
            return None;
        }
        let item = match self.frames.recv().await {
            Some(item) => item,
            None => Err(StreamError::PeerGone),
        };
        match item {
            Ok((seq, frame)) => {
                self.counters.consumed.store(seq + 1, Ordering::SeqCst);
                if let Frame::Data(b) = &frame {
                    self.counters.buffered.fetch_sub(b.len(), Ordering::SeqCst);
                    self.unacked_bytes += b.len();
                    self.unacked_msgs += 1;
                    if self.unacked_bytes >= self.settings.window_bytes / 4 || self.unacked_msgs >= WINDOW_MESSAGES / 4
                    {
                        self.unacked_bytes = 0;
                        self.unacked_msgs = 0;
                        let h = headers("ack", None, Some(seq + 1));
                        if let Err(e) = publish(&self.client, &self.peer, &self.own, h, Bytes::new()).await {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
                if frame.is_terminal() {
                    self.done = true;
                    // The final ack releases the sender, which keeps its inbox until then.
                    let h = headers("ack", None, Some(seq + 1));
                    let _ = publish(&self.client, &self.peer, &self.own, h, Bytes::new()).await;
                }
                Some(Ok(frame))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// Acknowledges frames read outside the link (the first frame, read by `first_frame`): a
    /// terminal first frame releases the sender at once.
    pub async fn acknowledge(&self, consumed: u64) {
        let h = headers("ack", None, Some(consumed));
        let _ = publish(&self.client, &self.peer, &self.own, h, Bytes::new()).await;
    }

    /// Waits up to `timeout` for the next frame.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<Result<Frame, StreamError>> {
        match tokio::time::timeout(timeout, self.next()).await {
            Ok(v) => v,
            Err(_) => Some(Err(StreamError::Idle)),
        }
    }
}

/// Reads the first message of a stream directly from a fresh subscription (before a link
/// exists): the executor's `accepted` frame, or the server's no-responders status when no
/// executor listens. Returns the frame and the peer's inbox.
pub async fn first_frame(
    sub: &mut Subscriber,
    timeout: Duration,
) -> Result<(Frame, Subject, Option<String>), FirstFrameError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let msg = match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) => return Err(FirstFrameError::Timeout),
            Ok(None) => return Err(FirstFrameError::Stream(StreamError::PeerGone)),
            Ok(Some(m)) => m,
        };
        if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Err(FirstFrameError::NoResponders);
        }
        let kind = header_str(&msg, H_KIND).unwrap_or_default();
        // A heartbeat may overtake the first frame while the executor is still working.
        if matches!(kind.as_str(), "ping" | "ack") {
            continue;
        }
        if header_u64(&msg, H_SEQ) != Some(0) {
            return Err(FirstFrameError::Stream(StreamError::Protocol(
                "first frame must have sequence 0".into(),
            )));
        }
        let reply = msg
            .reply
            .clone()
            .ok_or_else(|| FirstFrameError::Stream(StreamError::Protocol("first frame without reply".into())))?;
        let origin = header_str(&msg, H_ORIGIN);
        let frame = Frame::decode(&kind, msg.payload).map_err(FirstFrameError::Stream)?;
        return Ok((frame, reply, origin));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FirstFrameError {
    #[error("no executor is subscribed")]
    NoResponders,
    #[error("no executor answered in time")]
    Timeout,
    #[error(transparent)]
    Stream(StreamError),
}
