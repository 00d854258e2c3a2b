//! The session: the stream table and its rules (a synchronous state machine over frames),
//! and the two tasks that move frames between it and the IO.

use std::{
    collections::{HashMap, VecDeque},
    mem,
    sync::{Arc, Mutex, MutexGuard, Weak},
    task::Waker,
    time::{Duration, Instant},
};

use bytes::{Buf, Bytes, BytesMut};
use mycel_core::{BoxedIo, BudgetShare, BufferBudget, Relief, Role};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf},
    sync::Notify,
};

#[cfg(test)]
use crate::DEFAULT_MAX_WINDOW;
use crate::{
    Config, YamuxError,
    frame::{ACK, FIN, FrameType, GO_AWAY_NORMAL, HEADER_LEN, Header, RST, SYN},
};

/// Every stream starts with this receive window (spec: 256 KiB).
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// Data bytes queued for the writer before writers wait.
const MAX_QUEUED_DATA: usize = 1024 * 1024;
/// Queued frames of any kind past which the reader stops reading (a peer that makes us
/// answer pings or open streams but never reads our answers).
const MAX_QUEUED_FRAMES: usize = 4096;
/// How long a reader waits for a spent buffer budget to free up before resetting its
/// connection's stream with the most unread data.
const BUDGET_GRACE: Duration = Duration::from_secs(1);
/// Bytes asked of the IO per read.
const READ_CHUNK: usize = 64 * 1024;
/// Size of a fresh read buffer under load.
const READ_BLOCK: usize = 1024 * 1024;

pub(crate) struct Frame {
    header: Header,
    payload: Bytes,
}

pub(crate) struct StreamState {
    pub(crate) recv: VecDeque<Bytes>,
    /// When the application last read from it (when it opened, if never): the stream
    /// unread longest is the one the buffer budget's relief resets.
    pub(crate) last_read: Instant,
    /// Credit the remote still has: bytes it may send before our next window update.
    pub(crate) recv_window: u32,
    /// The window we aim to give (grows with auto-tuning).
    pub(crate) window_max: u32,
    /// Bytes read by the application but not yet returned as credit.
    pub(crate) pending_credit: u32,
    pub(crate) last_update: Instant,
    pub(crate) send_window: u32,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) flush_waker: Option<Waker>,
    /// Sequence number of the last frame this stream queued.
    pub(crate) last_seq: u64,
    pub(crate) local_fin: bool,
    pub(crate) remote_fin: bool,
    pub(crate) reset: bool,
    /// We threw away data the remote sent (the buffer budget needed relief): the read
    /// side fails with a reset from then on, even if the remote's FIN came before or
    /// comes after, so a reader never takes a clean end for the whole stream.
    pub(crate) discarded: bool,
    /// We opened it and the remote has not acknowledged it yet.
    pub(crate) unacked: bool,
}

impl StreamState {
    fn new(send_window: u32, unacked: bool) -> Self {
        StreamState {
            recv: VecDeque::new(),
            recv_window: INITIAL_WINDOW,
            window_max: INITIAL_WINDOW,
            pending_credit: 0,
            last_read: Instant::now(),
            last_update: Instant::now(),
            send_window,
            read_waker: None,
            write_waker: None,
            flush_waker: None,
            last_seq: 0,
            local_fin: false,
            remote_fin: false,
            reset: false,
            discarded: false,
            unacked,
        }
    }

    fn wake_all(&mut self) {
        for waker in [
            self.read_waker.take(),
            self.write_waker.take(),
            self.flush_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            waker.wake();
        }
    }
}

pub(crate) struct State {
    pub(crate) config: Config,
    role: Role,
    pub(crate) streams: HashMap<u32, StreamState>,
    next_id: u32,
    highest_inbound: u32,
    accept_queue: VecDeque<u32>,
    pub(crate) accept_waker: Option<Waker>,
    outbound: VecDeque<Frame>,
    queued_data: usize,
    queued_seq: u64,
    flushed_seq: u64,
    /// Streams waiting for room in the outbound queue.
    queue_waiters: Vec<u32>,
    ack_backlog: usize,
    /// The ACK backlog shrank: a waiting opener may go on.
    backlog_freed: bool,
    total_window: usize,
    rtt: Option<Duration>,
    ping: Option<(u32, Instant)>,
    remote_go_away: bool,
    /// A go-away is queued: no new streams.
    closing: bool,
    /// Why the session ended, once it has.
    closed: Option<String>,
    /// The writer task has stopped: nothing queued will be written any more.
    writer_done: bool,
    /// Bytes received and not yet read, over all streams (charged to `budget`).
    buffered: usize,
    budget: Option<BudgetShare>,
}

impl State {
    fn new(config: Config, role: Role) -> Self {
        State {
            budget: None,
            buffered: 0,
            config,
            role,
            streams: HashMap::new(),
            next_id: if role == Role::Initiator { 1 } else { 2 },
            highest_inbound: 0,
            accept_queue: VecDeque::new(),
            accept_waker: None,
            outbound: VecDeque::new(),
            queued_data: 0,
            queued_seq: 0,
            flushed_seq: 0,
            queue_waiters: Vec::new(),
            ack_backlog: 0,
            backlog_freed: false,
            total_window: 0,
            rtt: None,
            ping: None,
            remote_go_away: false,
            closing: false,
            closed: None,
            writer_done: false,
        }
    }

    fn is_remote_id(&self, id: u32) -> bool {
        // The dialer (initiator) uses odd ids, the listener even ones.
        (id % 2 == 1) == (self.role == Role::Responder)
    }

    fn queue(&mut self, header: Header, payload: Bytes) -> u64 {
        self.queued_data += payload.len();
        self.queued_seq += 1;
        self.outbound.push_back(Frame { header, payload });
        self.queued_seq
    }

    fn queue_stream_flags(&mut self, id: u32, flags: u16, delta: u32) -> u64 {
        self.queue(
            Header::new(FrameType::WindowUpdate, flags, id, delta),
            Bytes::new(),
        )
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Whether a flush that has not completed yet never will: the writer has stopped.
    pub(crate) fn flush_failed(&self) -> bool {
        self.writer_done
    }

    pub(crate) fn closed_error(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            format!(
                "yamux connection closed: {}",
                self.closed.as_deref().unwrap_or("closing")
            ),
        )
    }

    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    pub(crate) fn has_queue_room(&self) -> bool {
        self.queued_data < MAX_QUEUED_DATA
    }

    /// Handles one frame from the remote. An error ends the session.
    pub(crate) fn on_frame(&mut self, header: Header, payload: Bytes) -> Result<(), YamuxError> {
        match header.kind {
            FrameType::Ping => {
                if header.flags & SYN != 0 {
                    self.queue(
                        Header::new(FrameType::Ping, ACK, 0, header.length),
                        Bytes::new(),
                    );
                } else if header.flags & ACK != 0 {
                    if let Some((value, sent)) = self.ping {
                        if value == header.length {
                            self.rtt = Some(sent.elapsed());
                            self.ping = None;
                        }
                    }
                }
                Ok(())
            }
            FrameType::GoAway if header.length == GO_AWAY_NORMAL => {
                tracing::debug!("remote is going away");
                self.remote_go_away = true;
                Ok(())
            }
            FrameType::GoAway => Err(YamuxError::RemoteGoAway(header.length)),
            FrameType::Data | FrameType::WindowUpdate => self.on_stream_frame(header, payload),
        }
    }

    fn on_stream_frame(&mut self, header: Header, payload: Bytes) -> Result<(), YamuxError> {
        let id = header.stream_id;
        if id == 0 {
            return Err(YamuxError::UnknownStream(0));
        }
        if header.flags & SYN != 0 {
            if !self.is_remote_id(id) || self.streams.contains_key(&id) {
                return Err(YamuxError::InvalidSyn(id));
            }
            self.highest_inbound = self.highest_inbound.max(id);
            if self.closing || self.streams.len() >= self.config.max_streams {
                tracing::debug!(stream = id, "refusing inbound stream: limit reached");
                self.queue_stream_flags(id, RST, 0);
                return Ok(());
            }
            self.streams
                .insert(id, StreamState::new(INITIAL_WINDOW, false));
            self.total_window += INITIAL_WINDOW as usize;
            self.accept_queue.push_back(id);
            if let Some(w) = self.accept_waker.take() {
                w.wake();
            }
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            let seen = if self.is_remote_id(id) {
                id <= self.highest_inbound
            } else {
                id < self.next_id
            };
            // A stream that existed and is gone (reset, or dropped on our side): frames
            // still in flight are expected and dropped.
            return if seen {
                Ok(())
            } else {
                Err(YamuxError::UnknownStream(id))
            };
        };
        if header.flags & ACK != 0 && stream.unacked {
            stream.unacked = false;
            self.ack_backlog -= 1;
            self.backlog_freed = true;
        }
        if header.kind == FrameType::Data && !payload.is_empty() {
            let len = payload.len() as u32;
            if len > stream.recv_window {
                return Err(YamuxError::WindowViolation(id));
            }
            stream.recv_window -= len;
            if !stream.reset && !stream.remote_fin {
                stream.recv.push_back(payload);
                if let Some(w) = stream.read_waker.take() {
                    w.wake();
                }
                // Fields, not `self.charge`: `stream` still borrows the table.
                self.buffered += len as usize;
                if let Some(budget) = &mut self.budget {
                    budget.charge(len as usize);
                }
            }
        }
        if header.kind == FrameType::WindowUpdate && header.length > 0 {
            stream.send_window = stream
                .send_window
                .checked_add(header.length)
                .ok_or(YamuxError::WindowOverflow(id))?;
            if let Some(w) = stream.write_waker.take() {
                w.wake();
            }
        }
        if header.flags & FIN != 0 {
            stream.remote_fin = true;
            if let Some(w) = stream.read_waker.take() {
                w.wake();
            }
        }
        if header.flags & RST != 0 {
            stream.reset = true;
            stream.wake_all();
        }
        Ok(())
    }

    /// Opens an outbound stream, or says why not. `Ok(None)`: the ACK backlog is full.
    pub(crate) fn open(&mut self) -> Result<Option<u32>, YamuxError> {
        if self.closed.is_some() || self.closing || self.remote_go_away {
            return Err(YamuxError::Closed);
        }
        if self.streams.len() >= self.config.max_streams {
            return Err(YamuxError::TooManyStreams);
        }
        if self.ack_backlog >= self.config.max_ack_backlog {
            return Ok(None);
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).ok_or(YamuxError::StreamIdsExhausted)?;
        self.streams
            .insert(id, StreamState::new(INITIAL_WINDOW, true));
        self.total_window += INITIAL_WINDOW as usize;
        self.ack_backlog += 1;
        self.queue_stream_flags(id, SYN, 0);
        Ok(Some(id))
    }

    /// The next inbound stream, acknowledged as it is handed out.
    pub(crate) fn accept(&mut self) -> Option<u32> {
        while let Some(id) = self.accept_queue.pop_front() {
            if self.streams.contains_key(&id) {
                self.queue_stream_flags(id, ACK, 0);
                return Some(id);
            }
        }
        None
    }

    /// Takes up to `buf.len()` buffered bytes of stream `id`; returns credit to the
    /// remote when half the window has been read, growing the window when updates come
    /// faster than the round trip.
    pub(crate) fn read(&mut self, id: u32, buf: &mut tokio::io::ReadBuf<'_>) -> usize {
        let Some(stream) = self.streams.get_mut(&id) else {
            return 0;
        };
        let mut n = 0;
        while buf.remaining() > 0 {
            let Some(chunk) = stream.recv.front_mut() else {
                break;
            };
            let take = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..take]);
            chunk.advance(take);
            if chunk.is_empty() {
                stream.recv.pop_front();
            }
            n += take;
        }
        if n > 0 {
            stream.last_read = Instant::now();
        }
        stream.pending_credit += n as u32;
        if stream.pending_credit >= stream.window_max / 2 && !stream.remote_fin && !stream.reset {
            let now = Instant::now();
            let mut credit = stream.pending_credit;
            if let Some(rtt) = self.rtt {
                let fast = now.duration_since(stream.last_update) < rtt * 4;
                let grow = stream
                    .window_max
                    .min(self.config.max_window.saturating_sub(stream.window_max));
                if fast
                    && grow > 0
                    && self.total_window + grow as usize <= self.config.max_connection_window
                {
                    stream.window_max += grow;
                    self.total_window += grow as usize;
                    credit += grow;
                }
            }
            stream.recv_window += credit;
            stream.pending_credit = 0;
            stream.last_update = now;
            self.queue_stream_flags(id, 0, credit);
        }
        self.refund(n);
        n
    }

    fn refund(&mut self, n: usize) {
        self.buffered -= n;
        if let Some(budget) = &mut self.budget {
            budget.release(n);
        }
    }

    /// The stream holding unread data whose application read it least recently, and
    /// since when.
    pub(crate) fn stalest_unread(&self) -> Option<(Instant, u32)> {
        self.streams
            .iter()
            .filter(|(_, s)| !s.recv.is_empty())
            .map(|(id, s)| (s.last_read, *id))
            .min()
    }

    /// The node's buffer budget stayed spent: reset this session's stalest stream
    /// holding unread data, so one reader that never reads cannot stall every
    /// connection (and one busy draining its stream is not cut off).
    pub(crate) fn reset_stalest_unread(&mut self) {
        let Some((_, id)) = self.stalest_unread() else {
            return;
        };
        let unread: usize = self.streams[&id].recv.iter().map(Bytes::len).sum();
        tracing::debug!(
            stream = id,
            unread,
            "buffer budget spent: resetting the stream unread longest"
        );
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.recv.clear();
            stream.reset = true;
            stream.discarded = true;
            stream.wake_all();
        }
        self.refund(unread);
        self.queue_stream_flags(id, RST, 0);
    }

    /// Whether the node's buffer budget is spent (the reader then waits).
    pub(crate) fn budget_spent(&self) -> Option<BufferBudget> {
        self.budget
            .as_ref()
            .map(|share| share.budget().clone())
            .filter(|b| b.is_over())
    }

    /// Queues up to `data.len()` bytes as one data frame; returns how many.
    pub(crate) fn write(&mut self, id: u32, data: &[u8]) -> usize {
        let max = self.config.max_frame_payload;
        let Some(stream) = self.streams.get_mut(&id) else {
            return 0;
        };
        let n = data.len().min(stream.send_window as usize).min(max);
        stream.send_window -= n as u32;
        let seq = self.queue(
            Header::new(FrameType::Data, 0, id, n as u32),
            Bytes::copy_from_slice(&data[..n]),
        );
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.last_seq = seq;
        }
        n
    }

    pub(crate) fn stream(&mut self, id: u32) -> Option<&mut StreamState> {
        self.streams.get_mut(&id)
    }

    pub(crate) fn wait_for_queue_room(&mut self, id: u32) {
        if !self.queue_waiters.contains(&id) {
            self.queue_waiters.push(id);
        }
    }

    /// Half-closes our side of stream `id`.
    pub(crate) fn finish(&mut self, id: u32) {
        if let Some(stream) = self.streams.get_mut(&id) {
            if stream.local_fin || stream.reset {
                return;
            }
            stream.local_fin = true;
            let seq = self.queue_stream_flags(id, FIN, 0);
            if let Some(stream) = self.streams.get_mut(&id) {
                stream.last_seq = seq;
            }
        }
    }

    pub(crate) fn is_flushed(&self, id: u32) -> bool {
        self.streams
            .get(&id)
            .is_none_or(|s| s.last_seq <= self.flushed_seq)
    }

    /// The stream handle is gone. As rust-libp2p's yamux does: a stream open both ways
    /// is reset; one the remote finished gets our FIN, so what we wrote before dropping
    /// it still arrives (a reset makes the remote discard data it has not read); one we
    /// finished is left alone, and what the remote still sends on it is dropped.
    pub(crate) fn drop_stream(&mut self, id: u32) {
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        self.refund(stream.recv.iter().map(Bytes::len).sum());
        self.total_window -= stream.window_max as usize;
        if stream.unacked {
            self.ack_backlog -= 1;
            self.backlog_freed = true;
        }
        if stream.reset || stream.local_fin || self.closed.is_some() {
            return;
        }
        let flag = if stream.remote_fin { FIN } else { RST };
        self.queue_stream_flags(id, flag, 0);
    }

    /// Ends the session: every stream and waiter learns of it.
    pub(crate) fn fail(&mut self, reason: String) {
        if self.closed.is_some() {
            return;
        }
        tracing::debug!(%reason, "yamux session closed");
        self.closed = Some(reason);
        // Nothing more arrives: what streams still hold no longer counts against the
        // node (their handles may live on, unread).
        if let Some(budget) = &mut self.budget {
            budget.release_all();
        }
        for stream in self.streams.values_mut() {
            stream.wake_all();
        }
        if let Some(w) = self.accept_waker.take() {
            w.wake();
        }
    }
}

/// State shared by the connection handle, its streams and its tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Frames were queued (or the session is closing): the writer has work.
    pub(crate) writer: Notify,
    /// The writer made progress: the reader may resume, openers may retry.
    pub(crate) progress: Notify,
}

impl Relief for Shared {
    fn stalest(&self) -> Option<std::time::Instant> {
        self.with(|state| state.stalest_unread().map(|(since, _)| since))
    }

    fn relieve(&self) {
        self.with(|state| state.reset_stalest_unread());
    }
}

impl Shared {
    pub(crate) fn new(config: Config, role: Role) -> Arc<Self> {
        let budget = config.buffer_budget.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config, role)),
            writer: Notify::new(),
            progress: Notify::new(),
        });
        if let Some(budget) = budget {
            let relief: Weak<dyn Relief> = Arc::downgrade(&shared) as Weak<Shared>;
            shared.lock().budget = Some(budget.holder(relief));
        }
        shared
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks, runs `f`, and wakes the writer if `f` queued frames.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let before = state.queued_seq;
        let result = f(&mut state);
        let queued = state.queued_seq != before;
        let freed = mem::take(&mut state.backlog_freed);
        drop(state);
        if queued {
            self.writer.notify_one();
        }
        if freed {
            self.progress.notify_waiters();
        }
        result
    }

    /// Ends the session, telling the remote why with a go-away when that makes sense.
    pub(crate) fn fail(&self, error: &YamuxError) {
        self.with(|state| {
            if state.closed.is_none() && !matches!(error, YamuxError::Io(_)) && !state.closing {
                state.closing = true;
                let code = error.go_away_code();
                state.queue(Header::new(FrameType::GoAway, 0, 0, code), Bytes::new());
            }
            state.fail(error.to_string());
        });
        self.progress.notify_waiters();
    }

    /// Queues a normal go-away: no new streams; the writer then shuts the IO down.
    pub(crate) fn go_away(&self) {
        self.with(|state| {
            if !state.closing && state.closed.is_none() {
                state.closing = true;
                state.queue(
                    Header::new(FrameType::GoAway, 0, 0, GO_AWAY_NORMAL),
                    Bytes::new(),
                );
            }
        });
    }

    pub(crate) fn send_ping(&self) {
        let value: u32 = rand::random();
        self.with(|state| {
            state.ping = Some((value, Instant::now()));
            state.queue(Header::new(FrameType::Ping, SYN, 0, value), Bytes::new());
        });
    }
}

/// Ends the session if a task stops for any reason (including a panic), so that no
/// stream or caller waits forever on a session nobody drives.
struct EndOnDrop {
    shared: Arc<Shared>,
    writer: bool,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        let writer = self.writer;
        self.shared.with(|state| {
            state.fail("connection task ended".into());
            if writer {
                // Flushes still waiting learn that they failed.
                state.writer_done = true;
                for stream in state.streams.values_mut() {
                    if let Some(w) = stream.flush_waker.take() {
                        w.wake();
                    }
                }
            }
        });
        self.shared.progress.notify_waiters();
        self.shared.writer.notify_one();
    }
}

/// Reads frames and feeds them to the state machine until the session ends.
pub(crate) async fn reader_task(shared: Arc<Shared>, mut io: ReadHalf<BoxedIo>) {
    let _end = EndOnDrop {
        shared: shared.clone(),
        writer: false,
    };
    let max_window = shared.lock().config.max_window;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let result: Result<(), YamuxError> = async {
        loop {
            while buf.len() < HEADER_LEN {
                read_more(&mut io, &mut buf, HEADER_LEN).await?;
            }
            let header = Header::decode(buf[..HEADER_LEN].try_into().expect("12 bytes"))?;
            buf.advance(HEADER_LEN);
            let payload = if header.kind == FrameType::Data && header.length > 0 {
                let len = header.length as usize;
                // Bound the allocation before reading: no window is ever larger.
                if header.length > max_window {
                    return Err(YamuxError::WindowViolation(header.stream_id));
                }
                read_payload(&mut io, &mut buf, len).await?
            } else {
                Bytes::new()
            };
            let (closed, wait, spent) = shared.with(
                |state| -> Result<(bool, bool, Option<BufferBudget>), YamuxError> {
                    state.on_frame(header, payload)?;
                    Ok((
                        state.is_closed(),
                        state.outbound.len() > MAX_QUEUED_FRAMES,
                        state.budget_spent(),
                    ))
                },
            )?;
            if closed {
                // The writer is gone: nothing read from here on could be answered.
                return Ok(());
            }
            if let Some(budget) = spent {
                // The node holds as much unread data as it allows: let streams drain,
                // and if none does in time, have the stream unread longest dropped.
                if tokio::time::timeout(BUDGET_GRACE, budget.wait_below())
                    .await
                    .is_err()
                {
                    budget.relieve(BUDGET_GRACE);
                }
            }
            if wait {
                // Our answers pile up unread: stop reading until the writer catches up.
                let progress = shared.progress.notified();
                if shared.lock().outbound.len() > MAX_QUEUED_FRAMES {
                    progress.await;
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        shared.fail(&e);
    }
}

/// The next `len` bytes, split off the read buffer without a copy.
async fn read_payload(
    io: &mut ReadHalf<BoxedIo>,
    buf: &mut BytesMut,
    len: usize,
) -> Result<Bytes, YamuxError> {
    if buf.len() >= len {
        return Ok(buf.split_to(len).freeze());
    }
    while buf.len() < len {
        read_more(io, buf, len).await?;
    }
    Ok(buf.split_to(len).freeze())
}

async fn read_more(
    io: &mut ReadHalf<BoxedIo>,
    buf: &mut BytesMut,
    want: usize,
) -> Result<(), YamuxError> {
    let additional = READ_CHUNK.max(want - buf.len().min(want));
    if !buf.try_reclaim(additional) {
        // Frames larger than a read chunk mean bulk data: take a block that holds
        // several, so the allocator hands back whole blocks it has seen before rather
        // than fresh pages for every frame.
        let block = if want > READ_CHUNK { READ_BLOCK } else { 0 };
        buf.reserve(additional.max(block));
    }
    if io.read_buf(buf).await? == 0 {
        return Err(YamuxError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "remote closed the connection",
        )));
    }
    Ok(())
}

/// Writes queued frames, flushing after each batch, until the session ends.
pub(crate) async fn writer_task(shared: Arc<Shared>, mut io: WriteHalf<BoxedIo>) {
    let _end = EndOnDrop {
        shared: shared.clone(),
        writer: true,
    };
    let keep_alive = shared.lock().config.keep_alive;
    let mut ticker = keep_alive.map(|period| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let (batch, seq, done) = {
            let mut state = shared.lock();
            let batch = mem::take(&mut state.outbound);
            let data: usize = batch.iter().map(|f| f.payload.len()).sum();
            state.queued_data -= data;
            let done = state.closed.is_some() || (state.closing && batch.is_empty());
            (batch, state.queued_seq, done)
        };
        if !batch.is_empty() {
            if let Err(e) = write_batch(&mut io, batch).await {
                shared.fail(&YamuxError::Io(e));
                break;
            }
            shared.with(|state| {
                state.flushed_seq = seq;
                for stream in state.streams.values_mut() {
                    if stream.last_seq <= seq {
                        if let Some(w) = stream.flush_waker.take() {
                            w.wake();
                        }
                    }
                }
                for id in mem::take(&mut state.queue_waiters) {
                    if let Some(w) = state
                        .streams
                        .get_mut(&id)
                        .and_then(|s| s.write_waker.take())
                    {
                        w.wake();
                    }
                }
            });
            shared.progress.notify_waiters();
            continue;
        }
        if done {
            let _ = io.shutdown().await;
            shared.with(|state| state.fail("closed".into()));
            shared.progress.notify_waiters();
            break;
        }
        match ticker.as_mut() {
            Some(ticker) => tokio::select! {
                _ = shared.writer.notified() => {}
                _ = ticker.tick() => {
                    let unanswered = shared.lock().ping.is_some_and(|(_, sent)| {
                        sent.elapsed() >= keep_alive.expect("ticker implies keep-alive")
                    });
                    if unanswered {
                        shared.fail(&YamuxError::KeepAliveTimeout);
                    } else {
                        shared.send_ping();
                    }
                }
            },
            None => shared.writer.notified().await,
        }
    }
}

async fn write_batch(io: &mut WriteHalf<BoxedIo>, batch: VecDeque<Frame>) -> std::io::Result<()> {
    let mut headers = BytesMut::new();
    for frame in batch {
        frame.header.encode(&mut headers);
        if !frame.payload.is_empty() {
            io.write_all(&headers).await?;
            headers.clear();
            io.write_all(&frame.payload).await?;
        }
    }
    if !headers.is_empty() {
        io.write_all(&headers).await?;
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use mycel_core::testing::read_now;

    use super::*;

    fn data(id: u32, len: usize) -> (Header, Bytes) {
        (
            Header::new(FrameType::Data, 0, id, len as u32),
            Bytes::from(vec![0u8; len]),
        )
    }

    fn credits(state: &mut State) -> Vec<u32> {
        state
            .outbound
            .drain(..)
            .filter(|f| f.header.kind == FrameType::WindowUpdate && f.header.flags == 0)
            .map(|f| f.header.length)
            .collect()
    }

    fn read_all(state: &mut State, id: u32, len: usize) {
        let mut buf = vec![0u8; len];
        let mut read = tokio::io::ReadBuf::new(&mut buf);
        assert_eq!(state.read(id, &mut read), len);
    }

    #[test]
    fn credit_is_returned_after_half_the_window_is_read() {
        let mut state = State::new(Config::default(), Role::Responder);
        state
            .on_frame(
                Header::new(FrameType::WindowUpdate, SYN, 1, 0),
                Bytes::new(),
            )
            .unwrap();
        let (h, p) = data(1, 100 * 1024);
        state.on_frame(h, p).unwrap();
        read_all(&mut state, 1, 100 * 1024);
        assert!(
            credits(&mut state).is_empty(),
            "less than half the window read"
        );
        let (h, p) = data(1, 50 * 1024);
        state.on_frame(h, p).unwrap();
        read_all(&mut state, 1, 50 * 1024);
        assert_eq!(
            credits(&mut state),
            vec![150 * 1024],
            "no RTT known: no growth"
        );
        assert_eq!(state.streams[&1].recv_window, INITIAL_WINDOW);
    }

    #[test]
    fn window_grows_when_updates_come_faster_than_the_round_trip() {
        let mut state = State::new(Config::default(), Role::Responder);
        state.rtt = Some(Duration::from_secs(3600));
        state
            .on_frame(
                Header::new(FrameType::WindowUpdate, SYN, 1, 0),
                Bytes::new(),
            )
            .unwrap();
        let mut windows = Vec::new();
        for _ in 0..12 {
            let half = (state.streams[&1].window_max / 2) as usize;
            let (h, p) = data(1, half);
            state.on_frame(h, p).unwrap();
            read_all(&mut state, 1, half);
            windows.push(state.streams[&1].window_max);
        }
        assert_eq!(
            windows[0],
            2 * INITIAL_WINDOW,
            "doubled on the first fast update"
        );
        assert_eq!(
            *windows.last().unwrap(),
            DEFAULT_MAX_WINDOW,
            "capped at the maximum"
        );
        let credit: u32 = credits(&mut state).iter().sum();
        let consumed: u32 =
            windows.iter().map(|w| w / 2).sum::<u32>() - windows[0] / 2 + INITIAL_WINDOW / 2;
        assert!(
            credit > consumed,
            "growth is granted on top of what was read"
        );
    }

    /// An inbound stream 1 with `len` bytes buffered.
    fn inbound_with(shared: &Arc<Shared>, len: usize) -> crate::Stream {
        shared.with(|state| {
            state
                .on_frame(
                    Header::new(FrameType::WindowUpdate, SYN, 1, 0),
                    Bytes::new(),
                )
                .unwrap();
            let (h, p) = data(1, len);
            state.on_frame(h, p).unwrap();
        });
        crate::Stream::new(1, shared.clone())
    }

    #[test]
    fn discarded_data_reads_as_a_reset_whichever_comes_first_fin_or_relief() {
        let fin = || Header::new(FrameType::Data, FIN, 1, 0);
        // The remote's FIN first, then the budget's relief throws the data away.
        let shared = Shared::new(Config::default(), Role::Responder);
        let mut stream = inbound_with(&shared, 100);
        shared.with(|state| {
            state.on_frame(fin(), Bytes::new()).unwrap();
            state.reset_stalest_unread();
        });
        assert_eq!(
            read_now(&mut stream),
            Some(Err(std::io::ErrorKind::ConnectionReset))
        );
        // The relief first, then the remote's FIN arrives.
        let shared = Shared::new(Config::default(), Role::Responder);
        let mut stream = inbound_with(&shared, 100);
        shared.with(|state| {
            state.reset_stalest_unread();
            let _ = state.on_frame(fin(), Bytes::new());
        });
        assert_eq!(
            read_now(&mut stream),
            Some(Err(std::io::ErrorKind::ConnectionReset))
        );
        // A FIN then the remote's RST, nothing discarded: the data, then a clean end.
        let shared = Shared::new(Config::default(), Role::Responder);
        let mut stream = inbound_with(&shared, 10);
        shared.with(|state| {
            state.on_frame(fin(), Bytes::new()).unwrap();
            state
                .on_frame(
                    Header::new(FrameType::WindowUpdate, RST, 1, 0),
                    Bytes::new(),
                )
                .unwrap();
        });
        assert_eq!(read_now(&mut stream), Some(Ok(10)));
        assert_eq!(read_now(&mut stream), Some(Ok(0)));
    }

    #[test]
    fn a_flush_waits_for_the_writer_even_after_the_session_closed() {
        use std::{
            pin::Pin,
            task::{Context, Poll},
        };

        use tokio::io::AsyncWrite;

        let shared = Shared::new(Config::default(), Role::Initiator);
        let id = shared.with(|state| state.open()).unwrap().unwrap();
        let mut stream = crate::Stream::new(id, shared.clone());
        shared.with(|state| state.write(id, b"data"));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);

        shared.with(|state| state.fail("remote closed".into()));
        assert!(Pin::new(&mut stream).poll_flush(&mut cx).is_pending());
        shared.with(|state| state.flushed_seq = state.queued_seq);
        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        shared.with(|state| state.write(id, b"more"));
        shared.with(|state| state.writer_done = true);
        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn data_past_the_window_is_a_violation() {
        let mut state = State::new(Config::default(), Role::Responder);
        state
            .on_frame(
                Header::new(FrameType::WindowUpdate, SYN, 1, 0),
                Bytes::new(),
            )
            .unwrap();
        let (h, p) = data(1, INITIAL_WINDOW as usize);
        state.on_frame(h, p).unwrap();
        let (h, p) = data(1, 1);
        assert!(matches!(
            state.on_frame(h, p),
            Err(YamuxError::WindowViolation(1))
        ));
    }
}
