//! [`Core`]: the stream table and the outbound queue of one session, as a plain state
//! machine the protocol front and the engine's handles and tasks act on.

use std::{
    collections::{HashMap, VecDeque},
    task::Waker,
    time::Instant,
};

use bytes::{Buf, Bytes};
use mycel_core::{BudgetShare, BufferBudget};

use crate::{OutFrame, Protocol, Settings};

/// Data bytes queued for the writer before writers wait.
pub(crate) const MAX_QUEUED_DATA: usize = 1024 * 1024;

/// The receiving half of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSide {
    /// Data may still come.
    Open,
    /// The remote half-closed: once the data held is read, the stream ends cleanly.
    Finished,
    /// The remote reset the stream before finishing it: reads fail once the data held is
    /// read.
    Reset,
    /// We threw data away (the reader was too slow, or the buffer budget needed relief):
    /// reads fail, whatever the remote did before or does after.
    Discarded,
}

/// The sending half of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteSide {
    /// We may send.
    Open,
    /// We half-closed it.
    Finished,
    /// The stream was reset (by either side): writes fail.
    Reset,
}

/// What became of data handed to [`Core::deliver`].
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Held for the application.
    Taken,
    /// Dropped: no such stream, or its read side is no longer open.
    Dropped,
    /// The stream or the connection holds as much unread data as it may: the engine
    /// keeps it and stops reading until the application reads, or resets the stream.
    Full,
}

/// One stream of the table.
pub struct Slot<P: Protocol> {
    /// The protocol's own state of the stream.
    pub proto: P::Stream,
    recv: VecDeque<Bytes>,
    buffered: usize,
    /// When the application last read (when the stream opened, if never): the stream
    /// unread longest is the one the buffer budget's relief resets.
    last_read: Instant,
    read: ReadSide,
    write: WriteSide,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) flush_waker: Option<Waker>,
    /// Sequence number of the last frame this stream queued.
    last_seq: u64,
}

impl<P: Protocol> Slot<P> {
    fn new(proto: P::Stream) -> Self {
        Slot {
            proto,
            recv: VecDeque::new(),
            buffered: 0,
            last_read: Instant::now(),
            read: ReadSide::Open,
            write: WriteSide::Open,
            read_waker: None,
            write_waker: None,
            flush_waker: None,
            last_seq: 0,
        }
    }

    /// The receiving half.
    pub fn read_side(&self) -> ReadSide {
        self.read
    }

    /// The sending half.
    pub fn write_side(&self) -> WriteSide {
        self.write
    }

    /// Unread bytes held.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    pub(crate) fn wake_all(&mut self) {
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

/// Where the session is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Life {
    Open,
    /// No new streams; the writer ends the IO once its queue is empty.
    Closing,
    /// Ended, and why.
    Closed(String),
}

/// The stream table and outbound queue of one session.
pub struct Core<P: Protocol> {
    pub(crate) settings: Settings,
    pub(crate) streams: HashMap<P::Id, Slot<P>>,
    accept_queue: VecDeque<P::Id>,
    pub(crate) accept_waker: Option<Waker>,
    pub(crate) outbound: VecDeque<P::Out>,
    queued_data: usize,
    pub(crate) queued_seq: u64,
    flushed_seq: u64,
    /// Streams waiting for room in the outbound queue.
    queue_waiters: Vec<P::Id>,
    /// Data that did not fit its stream's or the connection's cap, waiting for room.
    blocked: Option<(P::Id, Bytes)>,
    /// Unread bytes over all streams (charged to `budget`).
    buffered: usize,
    pub(crate) budget: Option<BudgetShare>,
    pub(crate) life: Life,
    /// The writer task has stopped: nothing queued will be written any more.
    pub(crate) writer_done: bool,
    /// An opener waiting for progress may try again.
    pub(crate) openers_may_retry: bool,
}

impl<P: Protocol> Core<P> {
    pub(crate) fn new(settings: Settings) -> Self {
        Core {
            settings,
            streams: HashMap::new(),
            accept_queue: VecDeque::new(),
            accept_waker: None,
            outbound: VecDeque::new(),
            queued_data: 0,
            queued_seq: 0,
            flushed_seq: 0,
            queue_waiters: Vec::new(),
            blocked: None,
            buffered: 0,
            budget: None,
            life: Life::Open,
            writer_done: false,
            openers_may_retry: false,
        }
    }

    /// Queues `frame` for the writer; returns its sequence number.
    pub fn send(&mut self, frame: P::Out) -> u64 {
        self.queued_data += frame.body().len();
        self.queued_seq += 1;
        self.outbound.push_back(frame);
        self.queued_seq
    }

    /// Frames queued and not yet taken by the writer.
    pub fn queued_frames(&self) -> usize {
        self.outbound.len()
    }

    /// Whether the session still takes new streams.
    pub fn is_open(&self) -> bool {
        self.life == Life::Open
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.life, Life::Closed(_))
    }

    /// No new streams from now on; the writer ends the IO once its queue is empty.
    pub fn begin_closing(&mut self) {
        if self.life == Life::Open {
            self.life = Life::Closing;
        }
    }

    /// Open streams.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Whether `id` is in the table.
    pub fn contains(&self, id: P::Id) -> bool {
        self.streams.contains_key(&id)
    }

    /// Stream `id`, if in the table.
    pub fn stream(&mut self, id: P::Id) -> Option<&mut Slot<P>> {
        self.streams.get_mut(&id)
    }

    /// The engine's limits.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Adds a stream we open.
    pub fn insert_outbound(&mut self, id: P::Id, proto: P::Stream) {
        self.streams.insert(id, Slot::new(proto));
    }

    /// Adds a stream the remote opened, to be accepted; `false` (nothing added) when the
    /// session is closing or full: the front then refuses it on the wire.
    pub fn insert_inbound(&mut self, id: P::Id, proto: P::Stream) -> bool {
        if !self.is_open() || self.streams.len() >= self.settings.max_streams {
            tracing::debug!(protocol = P::NAME, stream = ?id, "refusing inbound stream: limit reached");
            return false;
        }
        self.streams.insert(id, Slot::new(proto));
        self.accept_queue.push_back(id);
        if let Some(w) = self.accept_waker.take() {
            w.wake();
        }
        true
    }

    /// The next inbound stream for the application, if any.
    pub(crate) fn accept(&mut self) -> Option<P::Id> {
        while let Some(id) = self.accept_queue.pop_front() {
            if self.streams.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    /// Data the remote sent on `id`, for the application.
    pub fn deliver(&mut self, id: P::Id, data: Bytes) -> Delivery {
        let Some(slot) = self.streams.get_mut(&id) else {
            return Delivery::Dropped;
        };
        if slot.read != ReadSide::Open || data.is_empty() {
            return Delivery::Dropped;
        }
        let len = data.len();
        let over_stream = self
            .settings
            .max_buffer_per_stream
            .is_some_and(|max| slot.buffered + len > max);
        let over_total = self
            .settings
            .max_buffer_total
            .is_some_and(|max| self.buffered + len > max);
        if over_stream || over_total {
            self.blocked = Some((id, data));
            return Delivery::Full;
        }
        slot.buffered += len;
        slot.recv.push_back(data);
        if let Some(w) = slot.read_waker.take() {
            w.wake();
        }
        self.buffered += len;
        if let Some(budget) = &mut self.budget {
            budget.charge(len);
        }
        Delivery::Taken
    }

    /// The remote half-closed `id`.
    pub fn remote_finished(&mut self, id: P::Id) {
        if let Some(slot) = self.streams.get_mut(&id) {
            if slot.read == ReadSide::Open {
                slot.read = ReadSide::Finished;
            }
            if let Some(w) = slot.read_waker.take() {
                w.wake();
            }
        }
    }

    /// The remote reset `id`: a read side it had finished stays finished (the data it
    /// sent before is whole).
    pub fn remote_reset(&mut self, id: P::Id) {
        if let Some(slot) = self.streams.get_mut(&id) {
            if slot.read == ReadSide::Open {
                slot.read = ReadSide::Reset;
            }
            slot.write = WriteSide::Reset;
            slot.wake_all();
        }
    }

    /// `id` may send again (its window opened).
    pub fn writable(&mut self, id: P::Id) {
        if let Some(w) = self.streams.get_mut(&id).and_then(|s| s.write_waker.take()) {
            w.wake();
        }
    }

    /// Openers waiting for progress may try again (an acknowledgement freed room).
    pub fn wake_openers(&mut self) {
        self.openers_may_retry = true;
    }

    /// Takes up to `buf.remaining()` bytes of `id`'s received data.
    pub(crate) fn read(&mut self, id: P::Id, buf: &mut tokio::io::ReadBuf<'_>) -> usize {
        let Some(slot) = self.streams.get_mut(&id) else {
            return 0;
        };
        let mut n = 0;
        while buf.remaining() > 0 {
            let Some(chunk) = slot.recv.front_mut() else {
                break;
            };
            let take = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..take]);
            chunk.advance(take);
            if chunk.is_empty() {
                slot.recv.pop_front();
            }
            n += take;
        }
        if n > 0 {
            slot.last_read = Instant::now();
            slot.buffered -= n;
            self.release(n);
        }
        n
    }

    /// `n` unread bytes are gone (read or discarded).
    fn release(&mut self, n: usize) {
        self.buffered -= n;
        if let Some(budget) = &mut self.budget {
            budget.release(n);
        }
    }

    /// Whether the writer's queue has room for more data.
    pub(crate) fn has_queue_room(&self) -> bool {
        self.queued_data < MAX_QUEUED_DATA
    }

    /// `id` waits for room in the writer's queue.
    pub(crate) fn wait_for_queue_room(&mut self, id: P::Id) {
        if !self.queue_waiters.contains(&id) {
            self.queue_waiters.push(id);
        }
    }

    /// Queues `frame` as `id`'s latest (what a flush of `id` waits for).
    pub(crate) fn send_for(&mut self, id: P::Id, frame: P::Out) {
        let seq = self.send(frame);
        if let Some(slot) = self.streams.get_mut(&id) {
            slot.last_seq = seq;
        }
    }

    /// Half-closes our side of `id`.
    pub(crate) fn finish(&mut self, id: P::Id) {
        let Some(slot) = self.streams.get_mut(&id) else {
            return;
        };
        if slot.write != WriteSide::Open {
            return;
        }
        slot.write = WriteSide::Finished;
        self.send_for(id, P::fin_frame(id));
    }

    /// Whether everything `id` queued has been written and flushed.
    pub(crate) fn is_flushed(&self, id: P::Id) -> bool {
        self.streams
            .get(&id)
            .is_none_or(|s| s.last_seq <= self.flushed_seq)
    }

    /// The handle of `id` is gone: it leaves the table. Open both ways it is reset; one
    /// the remote finished gets our half-close, so what we wrote still arrives (a reset
    /// makes the remote drop unread data); one we finished or that was reset is left
    /// alone (what still comes for it is dropped).
    pub(crate) fn remove(&mut self, id: P::Id) -> Option<Slot<P>> {
        let slot = self.streams.remove(&id)?;
        self.release(slot.buffered);
        if self.blocked.as_ref().is_some_and(|(b, _)| *b == id) {
            self.blocked = None;
        }
        if slot.write == WriteSide::Open && !self.is_closed() {
            self.send(if slot.read == ReadSide::Finished {
                P::fin_frame(id)
            } else {
                P::reset_frame(id)
            });
        }
        Some(slot)
    }

    /// Whether data waits for room ([`Delivery::Full`]).
    pub(crate) fn is_blocked(&self) -> bool {
        self.blocked.is_some()
    }

    /// Tries the waiting data again; `true` while it still does not fit.
    pub(crate) fn retry_blocked(&mut self) -> bool {
        match self.blocked.take() {
            Some((id, data)) => self.deliver(id, data) == Delivery::Full,
            None => false,
        }
    }

    /// The application did not read in time: the stream of the waiting data is reset
    /// and everything it held dropped; streams already holding data keep it.
    pub(crate) fn discard_blocked(&mut self) {
        if let Some((id, _)) = self.blocked.take() {
            tracing::debug!(protocol = P::NAME, stream = ?id, "reader too slow: resetting stream");
            self.discard(id);
        }
    }

    /// Resets `id`, dropping its unread data: its reader gets a reset, never a clean end.
    fn discard(&mut self, id: P::Id) {
        let Some(slot) = self.streams.get_mut(&id) else {
            return;
        };
        slot.recv.clear();
        let dropped = std::mem::take(&mut slot.buffered);
        slot.read = ReadSide::Discarded;
        let was = std::mem::replace(&mut slot.write, WriteSide::Reset);
        slot.wake_all();
        self.release(dropped);
        if was != WriteSide::Reset {
            self.send(P::reset_frame(id));
        }
    }

    /// The stream holding unread data whose application read it least recently, and
    /// since when.
    pub(crate) fn stalest_unread(&self) -> Option<(Instant, P::Id)> {
        self.streams
            .iter()
            .filter(|(_, s)| s.buffered > 0)
            .map(|(id, s)| (s.last_read, *id))
            .min()
    }

    /// The node's buffer budget stayed spent: reset this session's stalest stream
    /// holding unread data, so one reader that never reads cannot stall every
    /// connection (and one busy draining its stream is not cut off).
    pub(crate) fn reset_stalest_unread(&mut self) {
        if let Some((_, id)) = self.stalest_unread() {
            tracing::debug!(
                protocol = P::NAME,
                stream = ?id,
                unread = self.streams[&id].buffered,
                "buffer budget spent: resetting the stream unread longest"
            );
            self.discard(id);
        }
    }

    /// Whether the node's buffer budget is spent (the reader then waits).
    pub(crate) fn budget_spent(&self) -> Option<BufferBudget> {
        self.budget
            .as_ref()
            .map(|share| share.budget().clone())
            .filter(|b| b.is_over())
    }

    /// The writer takes everything queued: the frames, and the sequence number of the
    /// last.
    pub(crate) fn take_outbound(&mut self) -> (VecDeque<P::Out>, u64) {
        let batch = std::mem::take(&mut self.outbound);
        self.queued_data -= batch.iter().map(|f| f.body().len()).sum::<usize>();
        (batch, self.queued_seq)
    }

    /// Frames up to `seq` are written and flushed: flushes waiting for them, and writers
    /// waiting for queue room, go on.
    pub(crate) fn flushed(&mut self, seq: u64) {
        self.flushed_seq = seq;
        for slot in self.streams.values_mut() {
            if slot.last_seq <= seq {
                if let Some(w) = slot.flush_waker.take() {
                    w.wake();
                }
            }
        }
        for id in std::mem::take(&mut self.queue_waiters) {
            if let Some(w) = self.streams.get_mut(&id).and_then(|s| s.write_waker.take()) {
                w.wake();
            }
        }
    }

    /// Ends the session: every stream and waiter learns of it.
    pub(crate) fn fail(&mut self, reason: String) {
        if self.is_closed() {
            return;
        }
        tracing::debug!(protocol = P::NAME, %reason, "session closed");
        self.life = Life::Closed(reason);
        // Nothing more arrives: what streams still hold no longer counts against the
        // node (their handles may live on, unread).
        if let Some(budget) = &mut self.budget {
            budget.release_all();
        }
        for slot in self.streams.values_mut() {
            slot.wake_all();
        }
        if let Some(w) = self.accept_waker.take() {
            w.wake();
        }
    }

    /// The writer stopped: flushes still waiting learn that they failed.
    pub(crate) fn writer_stopped(&mut self) {
        self.writer_done = true;
        for slot in self.streams.values_mut() {
            if let Some(w) = slot.flush_waker.take() {
                w.wake();
            }
        }
    }

    /// The error a stream's IO gets once the session has ended.
    pub(crate) fn closed_error(&self) -> std::io::Error {
        let reason = match &self.life {
            Life::Closed(reason) => reason.as_str(),
            _ => "closing",
        };
        std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            format!("{} connection closed: {reason}", P::NAME),
        )
    }
}
