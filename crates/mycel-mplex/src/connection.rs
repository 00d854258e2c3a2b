//! The session: the stream table (a synchronous state machine over messages) and the
//! two tasks that move messages between it and the IO.

use std::{
    collections::{HashMap, VecDeque},
    mem,
    sync::{Arc, Mutex, MutexGuard, Weak},
    task::Waker,
};

use bytes::{Buf, Bytes, BytesMut};
use mycel_core::{BoxedIo, BudgetShare, BufferBudget, Relief};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf},
    sync::Notify,
};

use crate::{
    Config, MplexError,
    codec::{MAX_STREAM_ID, Message, Side},
};

/// Data bytes queued for the writer before writers wait.
const MAX_QUEUED_DATA: usize = 1024 * 1024;
/// Queued messages of any kind past which the reader stops reading.
const MAX_QUEUED_MESSAGES: usize = 4096;
/// Bytes asked of the IO per read.
const READ_CHUNK: usize = 64 * 1024;

/// A stream is named by its id and by who opened it: both sides may use the same id.
pub(crate) type Key = (u64, bool /* we opened it */);

fn our_side(key: Key) -> Side {
    if key.1 {
        Side::Initiator
    } else {
        Side::Receiver
    }
}

pub(crate) struct StreamState {
    recv: VecDeque<Bytes>,
    /// When the application last read from it (when it opened, if never): the stream
    /// unread longest is the one the buffer budget's relief resets.
    last_read: std::time::Instant,
    buffered: usize,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) flush_waker: Option<Waker>,
    last_seq: u64,
    pub(crate) local_closed: bool,
    pub(crate) remote_closed: bool,
    pub(crate) reset: bool,
    /// We threw away data the remote sent (the reader was too slow, or the buffer
    /// budget needed relief): the read side fails with a reset from then on, even if
    /// the remote's Close came before or comes after, so a reader never takes a clean
    /// end for the whole stream.
    pub(crate) discarded: bool,
}

impl Default for StreamState {
    fn default() -> Self {
        StreamState {
            recv: VecDeque::new(),
            last_read: std::time::Instant::now(),
            buffered: 0,
            read_waker: None,
            write_waker: None,
            flush_waker: None,
            last_seq: 0,
            local_closed: false,
            remote_closed: false,
            reset: false,
            discarded: false,
        }
    }
}

impl StreamState {
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
    pub(crate) streams: HashMap<Key, StreamState>,
    next_id: u64,
    accept_queue: VecDeque<Key>,
    pub(crate) accept_waker: Option<Waker>,
    outbound: VecDeque<Message>,
    queued_data: usize,
    queued_seq: u64,
    flushed_seq: u64,
    queue_waiters: Vec<Key>,
    /// The stream whose full buffer holds the reader task up.
    blocked_on: Option<Key>,
    /// Unread bytes across all streams (charged to `budget`).
    total_buffered: usize,
    budget: Option<BudgetShare>,
    closing: bool,
    closed: Option<String>,
    /// The writer task has stopped: nothing queued will be written any more.
    writer_done: bool,
}

impl State {
    fn new(config: Config) -> Self {
        State {
            budget: None,
            config,
            streams: HashMap::new(),
            next_id: 0,
            accept_queue: VecDeque::new(),
            accept_waker: None,
            outbound: VecDeque::new(),
            queued_data: 0,
            queued_seq: 0,
            flushed_seq: 0,
            queue_waiters: Vec::new(),
            blocked_on: None,
            total_buffered: 0,
            closing: false,
            closed: None,
            writer_done: false,
        }
    }

    fn queue(&mut self, msg: Message) -> u64 {
        self.queued_data += msg.body().len();
        self.queued_seq += 1;
        self.outbound.push_back(msg);
        self.queued_seq
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
                "mplex connection closed: {}",
                self.closed.as_deref().unwrap_or("closing")
            ),
        )
    }

    pub(crate) fn has_queue_room(&self) -> bool {
        self.queued_data < MAX_QUEUED_DATA
    }

    pub(crate) fn stream(&mut self, key: Key) -> Option<&mut StreamState> {
        self.streams.get_mut(&key)
    }

    /// Handles one message from the remote. An error ends the session. A data message
    /// that would overflow its stream's buffer is handed back, to retry once the
    /// application has read some.
    pub(crate) fn on_message(&mut self, msg: Message) -> Result<Option<Message>, MplexError> {
        self.blocked_on = None;
        // The sender's "initiator" is the side that opened the stream; flip to our view.
        let key = |id, side: Side| (id, side == Side::Receiver);
        match msg {
            Message::NewStream { id, .. } => {
                let key = (id, false);
                if self.streams.contains_key(&key) {
                    return Err(MplexError::DuplicateStream(id));
                }
                if self.closing || self.streams.len() >= self.config.max_streams {
                    tracing::debug!(stream = id, "refusing inbound stream: limit reached");
                    self.queue(Message::Reset {
                        id,
                        side: Side::Receiver,
                    });
                    return Ok(None);
                }
                self.streams.insert(key, StreamState::default());
                self.accept_queue.push_back(key);
                if let Some(w) = self.accept_waker.take() {
                    w.wake();
                }
            }
            Message::Data { id, side, data } => {
                let key = key(id, side);
                let max = self.config.max_buffer_per_stream;
                // Unknown: a stream we already dropped or reset; its data is moot.
                let Some(stream) = self.streams.get_mut(&key) else {
                    return Ok(None);
                };
                if stream.reset || stream.remote_closed || data.is_empty() {
                    return Ok(None);
                }
                let over_total = self.total_buffered + data.len() > self.config.max_buffer_total;
                if stream.buffered + data.len() > max || over_total {
                    // Hand it back: the reader waits a while for the stream to drain.
                    self.blocked_on = Some(key);
                    return Ok(Some(Message::Data { id, side, data }));
                }
                stream.buffered += data.len();
                self.total_buffered += data.len();
                if let Some(budget) = &mut self.budget {
                    budget.charge(data.len());
                }
                stream.recv.push_back(data);
                if let Some(w) = stream.read_waker.take() {
                    w.wake();
                }
            }
            Message::Close { id, side } => {
                if let Some(stream) = self.streams.get_mut(&key(id, side)) {
                    stream.remote_closed = true;
                    if let Some(w) = stream.read_waker.take() {
                        w.wake();
                    }
                }
            }
            Message::Reset { id, side } => {
                if let Some(stream) = self.streams.get_mut(&key(id, side)) {
                    stream.reset = true;
                    stream.wake_all();
                }
            }
        }
        Ok(None)
    }

    /// The application did not read in time: reset the stream, drop its data.
    fn reset_slow_stream(&mut self, key: Key) {
        self.blocked_on = None;
        if let Some(stream) = self.streams.get_mut(&key) {
            tracing::debug!(stream = key.0, "reader too slow: resetting stream");
            stream.reset = true;
            stream.discarded = true;
            stream.recv.clear();
            let discarded = std::mem::take(&mut stream.buffered);
            stream.wake_all();
            self.release(discarded);
            self.queue(Message::Reset {
                id: key.0,
                side: our_side(key),
            });
        }
    }

    /// Whether the reader task waits for buffered data to be read.
    pub(crate) fn reader_blocked(&self) -> bool {
        self.blocked_on.is_some()
    }

    pub(crate) fn open(&mut self) -> Result<Key, MplexError> {
        if self.closed.is_some() || self.closing {
            return Err(MplexError::Closed);
        }
        if self.streams.len() >= self.config.max_streams {
            return Err(MplexError::TooManyStreams);
        }
        let id = self.next_id;
        if id > MAX_STREAM_ID {
            return Err(MplexError::StreamIdsExhausted);
        }
        self.next_id += 1;
        let key = (id, true);
        self.streams.insert(key, StreamState::default());
        let name = Bytes::from(id.to_string());
        self.queue(Message::NewStream { id, name });
        Ok(key)
    }

    pub(crate) fn accept(&mut self) -> Option<Key> {
        while let Some(key) = self.accept_queue.pop_front() {
            if self.streams.contains_key(&key) {
                return Some(key);
            }
        }
        None
    }

    pub(crate) fn read(&mut self, key: Key, buf: &mut tokio::io::ReadBuf<'_>) -> usize {
        let Some(stream) = self.streams.get_mut(&key) else {
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
            stream.last_read = std::time::Instant::now();
        }
        stream.buffered -= n;
        self.release(n);
        n
    }

    /// `n` buffered bytes are gone (read or discarded).
    fn release(&mut self, n: usize) {
        self.total_buffered -= n;
        if let Some(budget) = &mut self.budget {
            budget.release(n);
        }
    }

    /// The stream holding unread data whose application read it least recently, and
    /// since when.
    pub(crate) fn stalest_unread(&self) -> Option<(std::time::Instant, Key)> {
        self.streams
            .iter()
            .filter(|(_, s)| s.buffered > 0)
            .map(|(key, s)| (s.last_read, *key))
            .min()
    }

    /// The node's buffer budget stayed spent: reset this session's stalest stream
    /// holding unread data, so one reader that never reads cannot stall every
    /// connection (and one busy draining its stream is not cut off).
    pub(crate) fn reset_stalest_unread(&mut self) {
        if let Some((_, key)) = self.stalest_unread() {
            self.reset_slow_stream(key);
        }
    }

    /// Whether the node's buffer budget is spent (the reader then waits).
    pub(crate) fn budget_spent(&self) -> Option<BufferBudget> {
        self.budget
            .as_ref()
            .map(|share| share.budget().clone())
            .filter(|b| b.is_over())
    }

    pub(crate) fn write(&mut self, key: Key, data: &[u8]) -> usize {
        let n = data.len().min(self.config.max_message_len);
        let seq = self.queue(Message::Data {
            id: key.0,
            side: our_side(key),
            data: Bytes::copy_from_slice(&data[..n]),
        });
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.last_seq = seq;
        }
        n
    }

    pub(crate) fn wait_for_queue_room(&mut self, key: Key) {
        if !self.queue_waiters.contains(&key) {
            self.queue_waiters.push(key);
        }
    }

    pub(crate) fn finish(&mut self, key: Key) {
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        if stream.local_closed || stream.reset {
            return;
        }
        stream.local_closed = true;
        let seq = self.queue(Message::Close {
            id: key.0,
            side: our_side(key),
        });
        if let Some(stream) = self.streams.get_mut(&key) {
            stream.last_seq = seq;
        }
    }

    pub(crate) fn is_flushed(&self, key: Key) -> bool {
        self.streams
            .get(&key)
            .is_none_or(|s| s.last_seq <= self.flushed_seq)
    }

    /// The stream handle is gone. As rust-libp2p's mplex does: a stream open both ways
    /// is reset; one the remote closed gets our Close, so what we wrote before dropping
    /// it still arrives; one we closed is left alone (what still comes is dropped).
    pub(crate) fn drop_stream(&mut self, key: Key) {
        let Some(stream) = self.streams.remove(&key) else {
            return;
        };
        self.release(stream.buffered);
        if stream.reset || stream.local_closed || self.closed.is_some() {
            return;
        }
        let (id, side) = (key.0, our_side(key));
        self.queue(if stream.remote_closed {
            Message::Close { id, side }
        } else {
            Message::Reset { id, side }
        });
    }

    pub(crate) fn fail(&mut self, reason: String) {
        if self.closed.is_some() {
            return;
        }
        tracing::debug!(%reason, "mplex session closed");
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

/// State shared by the connection handle, its streams and its tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) writer: Notify,
    pub(crate) progress: Notify,
    /// A stream the reader waits for was read from.
    pub(crate) drained: Notify,
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
    pub(crate) fn new(config: Config) -> Arc<Self> {
        let budget = config.buffer_budget.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
            writer: Notify::new(),
            progress: Notify::new(),
            drained: Notify::new(),
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

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let before = state.queued_seq;
        let result = f(&mut state);
        let queued = state.queued_seq != before;
        drop(state);
        if queued {
            self.writer.notify_one();
        }
        result
    }

    pub(crate) fn fail(&self, reason: String) {
        self.with(|state| state.fail(reason));
        self.writer.notify_one();
        self.progress.notify_waiters();
        self.drained.notify_waiters();
    }

    /// No new streams; the writer shuts the IO down once the queue is empty.
    pub(crate) fn close(&self) {
        self.with(|state| state.closing = true);
        self.writer.notify_one();
    }
}

pub(crate) async fn reader_task(shared: Arc<Shared>, mut io: ReadHalf<BoxedIo>) {
    let _end = EndOnDrop {
        shared: shared.clone(),
        writer: false,
    };
    let grace = shared.lock().config.slow_reader_grace;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let result: Result<(), MplexError> = async {
        loop {
            let mut msg = loop {
                if let Some(msg) = Message::decode(&mut buf)? {
                    break msg;
                }
                buf.reserve(READ_CHUNK);
                if io.read_buf(&mut buf).await? == 0 {
                    return Err(MplexError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "remote closed the connection",
                    )));
                }
            };
            let deadline = tokio::time::Instant::now() + grace;
            // One lock per message: deliver it and read the session's state in one go.
            let (closed, wait) = loop {
                let drained = shared.drained.notified();
                let (back, closed, wait) = shared.with(|state| -> Result<_, MplexError> {
                    let back = state.on_message(msg)?;
                    let wait = state.outbound.len() > MAX_QUEUED_MESSAGES;
                    Ok((back, state.is_closed(), wait))
                })?;
                let Some(back) = back else {
                    break (closed, wait);
                };
                let Message::Data { id, side, .. } = &back else {
                    unreachable!("only data is handed back");
                };
                let key = (*id, *side == Side::Receiver);
                if tokio::time::timeout_at(deadline, drained).await.is_err() {
                    // Over this stream's cap or the connection's: the stream whose data
                    // does not fit is reset; streams already holding data keep it.
                    shared.with(|state| state.reset_slow_stream(key));
                    break (false, false);
                }
                msg = back;
            };
            if closed {
                // The writer is gone: nothing read from here on could be answered.
                return Ok(());
            }
            if wait {
                let progress = shared.progress.notified();
                if shared.lock().outbound.len() > MAX_QUEUED_MESSAGES {
                    progress.await;
                }
            }
            let spent = shared.lock().budget_spent();
            if let Some(budget) = spent {
                // The node holds as much unread data as it allows: let streams drain,
                // and if none does in time, have the stream unread longest dropped.
                if tokio::time::timeout(grace, budget.wait_below())
                    .await
                    .is_err()
                {
                    budget.relieve(grace);
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        shared.fail(e.to_string());
    }
}

pub(crate) async fn writer_task(shared: Arc<Shared>, mut io: WriteHalf<BoxedIo>) {
    let _end = EndOnDrop {
        shared: shared.clone(),
        writer: true,
    };
    loop {
        let (batch, seq, done) = {
            let mut state = shared.lock();
            let batch = mem::take(&mut state.outbound);
            let data: usize = batch.iter().map(|m| m.body().len()).sum();
            state.queued_data -= data;
            let done = state.closed.is_some() || (state.closing && batch.is_empty());
            (batch, state.queued_seq, done)
        };
        if !batch.is_empty() {
            if let Err(e) = write_batch(&mut io, batch).await {
                shared.fail(format!("write failed: {e}"));
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
                for key in mem::take(&mut state.queue_waiters) {
                    if let Some(w) = state
                        .streams
                        .get_mut(&key)
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
        shared.writer.notified().await;
    }
}

async fn write_batch(io: &mut WriteHalf<BoxedIo>, batch: VecDeque<Message>) -> std::io::Result<()> {
    let mut heads = BytesMut::new();
    for msg in batch {
        msg.encode_head(&mut heads);
        if !msg.body().is_empty() {
            io.write_all(&heads).await?;
            heads.clear();
            io.write_all(msg.body()).await?;
        }
    }
    if !heads.is_empty() {
        io.write_all(&heads).await?;
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use tokio::io::AsyncWrite;

    use mycel_core::testing::read_now;

    use super::*;
    use crate::Stream;

    /// An inbound stream with `data` buffered.
    fn inbound_with(shared: &Arc<Shared>, data: &'static [u8]) -> Stream {
        shared.with(|state| {
            state
                .on_message(Message::NewStream {
                    id: 1,
                    name: Bytes::new(),
                })
                .unwrap();
            state
                .on_message(Message::Data {
                    id: 1,
                    side: Side::Initiator,
                    data: Bytes::from_static(data),
                })
                .unwrap();
        });
        let key = shared.with(|state| state.accept()).unwrap();
        Stream::new(key, shared.clone())
    }

    #[test]
    fn discarded_data_reads_as_a_reset_whichever_comes_first_close_or_relief() {
        // The remote's Close first, then the budget's relief throws the data away.
        let shared = Shared::new(Config::default());
        let mut stream = inbound_with(&shared, b"unread");
        shared.with(|state| {
            state
                .on_message(Message::Close {
                    id: 1,
                    side: Side::Initiator,
                })
                .unwrap();
            state.reset_stalest_unread();
        });
        assert_eq!(
            read_now(&mut stream),
            Some(Err(std::io::ErrorKind::ConnectionReset))
        );

        // The relief first, then the remote's Close (and more data) arrive.
        let shared = Shared::new(Config::default());
        let mut stream = inbound_with(&shared, b"unread");
        shared.with(|state| {
            state.reset_stalest_unread();
            for msg in [
                Message::Data {
                    id: 1,
                    side: Side::Initiator,
                    data: Bytes::from_static(b"late"),
                },
                Message::Close {
                    id: 1,
                    side: Side::Initiator,
                },
            ] {
                state.on_message(msg).unwrap();
            }
        });
        assert_eq!(
            read_now(&mut stream),
            Some(Err(std::io::ErrorKind::ConnectionReset))
        );
    }

    #[test]
    fn a_close_then_a_remote_reset_still_ends_cleanly_after_the_data() {
        // A peer that closes and then drops its stream resets only its unread side:
        // everything it sent is still read, then a clean end.
        let shared = Shared::new(Config::default());
        let mut stream = inbound_with(&shared, b"answer");
        shared.with(|state| {
            for msg in [
                Message::Close {
                    id: 1,
                    side: Side::Initiator,
                },
                Message::Reset {
                    id: 1,
                    side: Side::Initiator,
                },
            ] {
                state.on_message(msg).unwrap();
            }
        });
        assert_eq!(read_now(&mut stream), Some(Ok(6)));
        assert_eq!(read_now(&mut stream), Some(Ok(0)));
    }

    #[test]
    fn a_flush_waits_for_the_writer_even_after_the_session_closed() {
        let shared = Shared::new(Config::default());
        let key = shared.with(|state| state.open()).unwrap();
        let mut stream = Stream::new(key, shared.clone());
        shared.with(|state| state.write(key, b"data"));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);

        // The remote went away, but the writer may still be writing what was queued.
        shared.with(|state| state.fail("remote closed".into()));
        assert!(Pin::new(&mut stream).poll_flush(&mut cx).is_pending());

        // It wrote everything: the flush succeeds.
        shared.with(|state| state.flushed_seq = state.queued_seq);
        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));

        // Had it stopped first, the flush would have failed.
        shared.with(|state| state.write(key, b"more"));
        shared.with(|state| state.writer_done = true);
        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Err(_))
        ));
    }
}
