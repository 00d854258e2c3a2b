//! The session shared by a connection's handle, its streams and its two tasks: the
//! protocol and its [`Core`] under one lock, and the tasks that move frames between
//! them and the IO.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Instant,
};

use bytes::BytesMut;
use mycel_core::{BoxedIo, BufferBudget, Relief};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf},
    sync::Notify,
};

use crate::{Codec, Decoded, OutFrame, Protocol, core::Core};

/// Queued frames of any kind past which the reader stops reading (a peer that makes us
/// answer pings or open streams but never reads our answers).
const MAX_QUEUED_FRAMES: usize = 4096;
/// Bytes asked of the IO per read at first, and again once reads have been small for a
/// while: an idle connection, or one with little traffic, holds no more than this.
const FIRST_READ: usize = 2 * 1024;
/// The most asked of the IO per read: reads that fill what they were offered double the
/// offer up to this.
const READ_CHUNK: usize = 64 * 1024;
/// Size of a fresh read buffer under load.
const READ_BLOCK: usize = 1024 * 1024;
/// Reads in a row smaller than [`FIRST_READ`] after which the reader goes back to small
/// reads and lets a large buffer go.
const SMALL_READS_TO_SHRINK: u32 = 8;

/// The protocol and its stream table.
pub(crate) struct Session<P: Protocol> {
    pub(crate) proto: P,
    pub(crate) core: Core<P>,
}

impl<P: Protocol> Session<P> {
    /// Takes stream `id` out of the table (its handle is gone).
    pub(crate) fn remove(&mut self, id: P::Id) {
        if let Some(slot) = self.core.remove(id) {
            self.proto.on_removed(id, slot.proto, &mut self.core);
        }
    }
}

/// State shared by the connection handle, its streams and its tasks.
pub(crate) struct Shared<P: Protocol> {
    session: Mutex<Session<P>>,
    /// Frames were queued (or the session is closing): the writer has work.
    pub(crate) writer: Notify,
    /// The writer made progress or the session changed: the reader may resume, openers
    /// may retry.
    pub(crate) progress: Notify,
    /// A stream held data the reader waits to deliver read some (or went away).
    pub(crate) drained: Notify,
}

impl<P: Protocol> Relief for Shared<P> {
    fn stalest(&self) -> Option<Instant> {
        self.with(|s| s.core.stalest_unread().map(|(since, _)| since))
    }

    fn relieve(&self) {
        self.with(|s| s.core.reset_stalest_unread());
    }
}

impl<P: Protocol> Shared<P> {
    pub(crate) fn new(proto: P, core: Core<P>) -> Arc<Self> {
        let budget = core.settings.buffer_budget.clone();
        let shared = Arc::new(Shared {
            session: Mutex::new(Session { proto, core }),
            writer: Notify::new(),
            progress: Notify::new(),
            drained: Notify::new(),
        });
        if let Some(budget) = budget {
            let relief: Weak<dyn Relief> = Arc::downgrade(&shared) as Weak<Shared<P>>;
            shared.lock().core.budget = Some(budget.holder(relief));
        }
        shared
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Session<P>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks, runs `f`, then wakes the writer if `f` queued frames and openers if it
    /// freed room for them.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Session<P>) -> R) -> R {
        let mut session = self.lock();
        let before = session.core.queued_seq;
        let result = f(&mut session);
        let queued = session.core.queued_seq != before;
        let openers = std::mem::take(&mut session.core.openers_may_retry);
        drop(session);
        if queued {
            self.writer.notify_one();
        }
        if openers {
            self.progress.notify_waiters();
        }
        result
    }

    /// Ends the session because of `error`, telling the remote when the protocol can.
    pub(crate) fn fail(&self, error: &P::Error) {
        self.with(|s| {
            if !s.core.is_closed() {
                s.proto.on_fail(error, &mut s.core);
            }
            s.core.fail(error.to_string());
        });
        self.writer.notify_one();
        self.progress.notify_waiters();
        self.drained.notify_waiters();
    }

    /// No new streams; the protocol says goodbye if it can; the writer ends the IO once
    /// its queue is empty.
    pub(crate) fn close(&self) {
        self.with(|s| {
            if s.core.is_open() {
                s.proto.on_close(&mut s.core);
                s.core.begin_closing();
            }
        });
        self.writer.notify_one();
    }
}

/// Ends the session if a task stops for any reason (including a panic), so that no
/// stream or caller waits forever on a session nobody drives.
struct EndOnDrop<P: Protocol> {
    shared: Arc<Shared<P>>,
    writer: bool,
}

impl<P: Protocol> Drop for EndOnDrop<P> {
    fn drop(&mut self) {
        let writer = self.writer;
        self.shared.with(|s| {
            s.core.fail("connection task ended".into());
            if writer {
                s.core.writer_stopped();
            }
        });
        self.shared.progress.notify_waiters();
        self.shared.drained.notify_waiters();
        self.shared.writer.notify_one();
    }
}

/// Reads and decodes frames and hands them to the protocol until the session ends.
pub(crate) async fn reader_task<P: Protocol>(
    shared: Arc<Shared<P>>,
    mut codec: P::Codec,
    mut io: ReadHalf<BoxedIo>,
) {
    let _end = EndOnDrop {
        shared: shared.clone(),
        writer: false,
    };
    let grace = shared.lock().core.settings.slow_reader_grace;
    let mut buf = ReadBuffer::new();
    let result: Result<(), P::Error> = async {
        loop {
            let frame = loop {
                match codec.decode(&mut buf.bytes)? {
                    Decoded::Frame(frame) => break frame,
                    Decoded::Need(want) => buf.read_more(&mut io, want).await?,
                }
            };
            let (closed, busy, blocked, spent) = shared.with(|s| {
                s.proto.on_frame(frame, &mut s.core, Instant::now())?;
                Ok::<_, P::Error>((
                    s.core.is_closed(),
                    s.core.queued_frames() > MAX_QUEUED_FRAMES,
                    s.core.is_blocked(),
                    s.core.budget_spent(),
                ))
            })?;
            if closed {
                // The writer is gone: nothing read from here on could be answered.
                return Ok(());
            }
            if blocked {
                // A stream's (or the connection's) unread data is at its cap: wait for
                // the application to read; a stream that does not read in time is reset.
                let deadline = tokio::time::Instant::now() + grace;
                loop {
                    // Listening before trying again: a read in between is not missed.
                    let drained = shared.drained.notified();
                    if !shared.with(|s| s.core.retry_blocked()) {
                        break;
                    }
                    if tokio::time::timeout_at(deadline, drained).await.is_err() {
                        shared.with(|s| s.core.discard_blocked());
                        break;
                    }
                }
            }
            if busy {
                // Our answers pile up unread: stop reading until the writer catches up.
                let progress = shared.progress.notified();
                if shared.lock().core.queued_frames() > MAX_QUEUED_FRAMES {
                    progress.await;
                }
            }
            if let Some(budget) = spent {
                wait_for_budget(&budget, grace).await;
            }
        }
    }
    .await;
    if let Err(e) = result {
        shared.fail(&e);
    }
}

/// The node holds as much unread data as it allows: let streams drain, and if none does
/// in time, have the stream unread longest dropped.
async fn wait_for_budget(budget: &BufferBudget, grace: std::time::Duration) {
    if tokio::time::timeout(grace, budget.wait_below())
        .await
        .is_err()
    {
        budget.relieve(grace);
    }
}

/// The reader's buffer, sized by the traffic: small while reads are small, a read chunk
/// when reads fill what they are offered, blocks for frames larger than a chunk.
struct ReadBuffer {
    bytes: BytesMut,
    /// Bytes asked of the IO per read.
    chunk: usize,
    /// Reads in a row that brought less than [`FIRST_READ`].
    small_reads: u32,
}

impl ReadBuffer {
    fn new() -> Self {
        ReadBuffer {
            bytes: BytesMut::with_capacity(FIRST_READ),
            chunk: FIRST_READ,
            small_reads: 0,
        }
    }

    /// Reads at least one more byte; the buffer should come to hold `want` bytes.
    async fn read_more(&mut self, io: &mut ReadHalf<BoxedIo>, want: usize) -> std::io::Result<()> {
        let buf = &mut self.bytes;
        if self.small_reads >= SMALL_READS_TO_SHRINK
            && buf.is_empty()
            && buf.capacity() > FIRST_READ
        {
            // Traffic is light again: let the large buffer go (frames still holding
            // parts of it keep those alive until they are read).
            *buf = BytesMut::new();
            self.chunk = FIRST_READ;
            // Another run of small reads before letting a buffer go again.
            self.small_reads = 0;
        }
        let additional = self.chunk.max(want.saturating_sub(buf.len()));
        if !buf.try_reclaim(additional) {
            // Frames larger than a read chunk mean bulk data: take a block that holds
            // several, so the allocator hands back whole blocks it has seen before
            // rather than fresh pages for every frame.
            let block = if want > READ_CHUNK { READ_BLOCK } else { 0 };
            buf.reserve(additional.max(block));
        }
        let offered = buf.capacity() - buf.len();
        let n = io.read_buf(buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "remote closed the connection",
            ));
        }
        if n >= offered && self.chunk < READ_CHUNK {
            // The read took all it was offered: more is waiting.
            self.chunk *= 2;
        }
        if n < FIRST_READ {
            self.small_reads = self.small_reads.saturating_add(1);
        } else {
            self.small_reads = 0;
        }
        Ok(())
    }
}

/// Writes queued frames, flushing after each batch, until the session ends.
pub(crate) async fn writer_task<P: Protocol>(shared: Arc<Shared<P>>, mut io: WriteHalf<BoxedIo>) {
    let _end = EndOnDrop {
        shared: shared.clone(),
        writer: true,
    };
    let keep_alive = shared.lock().core.settings.keep_alive;
    let mut ticker = keep_alive.map(|period| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let (batch, seq, done) = shared.with(|s| {
            let (batch, seq) = s.core.take_outbound();
            let done = s.core.is_closed() || (!s.core.is_open() && batch.is_empty());
            (batch, seq, done)
        });
        if !batch.is_empty() {
            if let Err(e) = write_batch::<P>(&mut io, batch).await {
                shared.fail(&P::Error::from(e));
                break;
            }
            shared.with(|s| s.core.flushed(seq));
            shared.progress.notify_waiters();
            continue;
        }
        if done {
            let _ = io.shutdown().await;
            shared.with(|s| s.core.fail("closed".into()));
            shared.progress.notify_waiters();
            shared.drained.notify_waiters();
            break;
        }
        match ticker.as_mut() {
            Some(ticker) => tokio::select! {
                _ = shared.writer.notified() => {}
                _ = ticker.tick() => {
                    let result = shared.with(|s| s.proto.on_keep_alive(&mut s.core, Instant::now()));
                    if let Err(e) = result {
                        shared.fail(&e);
                    }
                }
            },
            None => shared.writer.notified().await,
        }
    }
}

/// Writes `batch`: headers gathered into one buffer, each body written from its own
/// buffer (never copied), then one flush.
async fn write_batch<P: Protocol>(
    io: &mut WriteHalf<BoxedIo>,
    batch: VecDeque<P::Out>,
) -> std::io::Result<()> {
    let mut heads = BytesMut::new();
    for frame in batch {
        frame.encode_head(&mut heads);
        if !frame.body().is_empty() {
            io.write_all(&heads).await?;
            heads.clear();
            io.write_all(frame.body()).await?;
        }
    }
    if !heads.is_empty() {
        io.write_all(&heads).await?;
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn the_read_buffer_grows_with_a_backlog_and_shrinks_when_traffic_is_light() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let (mut read, _write) = tokio::io::split(Box::new(near) as BoxedIo);
        let mut buf = ReadBuffer::new();
        assert_eq!(buf.bytes.capacity(), FIRST_READ);

        // A backlog: each read fills what it is offered, and the offer doubles.
        const BULK: usize = 512 * 1024;
        far.write_all(&vec![7u8; BULK]).await.unwrap();
        let mut got = 0;
        while got < BULK {
            buf.read_more(&mut read, 0).await.unwrap();
            got += buf.bytes.len();
            buf.bytes.clear();
        }
        assert_eq!(buf.chunk, READ_CHUNK);
        assert!(buf.bytes.capacity() >= READ_CHUNK);

        // Light traffic: after enough small reads in a row the large buffer goes.
        for _ in 0..=SMALL_READS_TO_SHRINK {
            far.write_all(&[1; 100]).await.unwrap();
            buf.read_more(&mut read, 0).await.unwrap();
            assert_eq!(buf.bytes.len(), 100);
            buf.bytes.clear();
        }
        assert_eq!(buf.chunk, FIRST_READ);
        assert!(buf.bytes.capacity() < READ_CHUNK);

        // The end of the stream is an error, not a silent stop.
        drop(far);
        let eof = buf.read_more(&mut read, 0).await.unwrap_err();
        assert_eq!(eof.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
