//! yamux's rules on the muxing engine: stream ids, SYN/ACK, per-stream windows and their
//! auto-tuning, pings, go-away. No IO, no task, no lock: frames in, table changes and
//! frames out, the clock passed in.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mycel_core::Role;
use mycel_muxing::{Core, Protocol, Settings};

use crate::{
    Config, YamuxError,
    frame::{ACK, FIN, Frame, FrameType, GO_AWAY_NORMAL, Header, RST, SYN, YamuxCodec},
};

/// Every stream starts with this receive window (spec: 256 KiB).
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// How long the reader waits for a spent buffer budget to free up before resetting the
/// stream unread longest.
const BUDGET_GRACE: Duration = Duration::from_secs(1);

/// yamux's state of one stream: its windows both ways.
#[derive(Debug)]
pub struct YamuxStream {
    /// Credit the remote still has: bytes it may send before our next window update.
    pub(crate) recv_window: u32,
    /// The window we aim to give (grows with auto-tuning).
    pub(crate) window_max: u32,
    /// Bytes read by the application but not yet returned as credit.
    pending_credit: u32,
    last_update: Instant,
    /// Bytes we may send.
    send_window: u32,
    /// We opened it and the remote has not acknowledged it yet.
    unacked: bool,
}

impl YamuxStream {
    fn new(unacked: bool) -> Self {
        YamuxStream {
            recv_window: INITIAL_WINDOW,
            window_max: INITIAL_WINDOW,
            pending_credit: 0,
            last_update: Instant::now(),
            send_window: INITIAL_WINDOW,
            unacked,
        }
    }
}

/// yamux's state of a session.
#[derive(Debug)]
pub struct Yamux {
    config: Config,
    role: Role,
    next_id: u32,
    highest_inbound: u32,
    /// Outbound streams not acknowledged yet.
    ack_backlog: usize,
    /// The receive windows of all streams together.
    total_window: usize,
    rtt: Option<Duration>,
    /// The ping we wait an answer for: its value and when it went out.
    pub(crate) ping: Option<(u32, Instant)>,
    remote_go_away: bool,
}

impl Yamux {
    /// The round-trip time measured by the last answered ping.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    #[cfg(test)]
    pub(crate) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    fn is_remote_id(&self, id: u32) -> bool {
        // The dialer (initiator) uses odd ids, the listener even ones.
        (id % 2 == 1) == (self.role == Role::Responder)
    }

    fn ping(&mut self, core: &mut Core<Self>, now: Instant) {
        let value: u32 = rand::random();
        self.ping = Some((value, now));
        core.send(Frame::control(FrameType::Ping, SYN, 0, value));
    }

    fn on_stream_frame(&mut self, frame: Frame, core: &mut Core<Self>) -> Result<(), YamuxError> {
        let Frame { header, payload } = frame;
        let id = header.stream_id;
        if id == 0 {
            return Err(YamuxError::UnknownStream(0));
        }
        if header.flags & SYN != 0 {
            if !self.is_remote_id(id) || core.contains(id) {
                return Err(YamuxError::InvalidSyn(id));
            }
            self.highest_inbound = self.highest_inbound.max(id);
            if !core.insert_inbound(id, YamuxStream::new(false)) {
                core.send(Frame::stream_flags(id, RST, 0));
                return Ok(());
            }
            self.total_window += INITIAL_WINDOW as usize;
        }
        let Some(slot) = core.stream(id) else {
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
        let stream = &mut slot.proto;
        let acked = header.flags & ACK != 0 && stream.unacked;
        if acked {
            stream.unacked = false;
        }
        let data = header.kind == FrameType::Data && !payload.is_empty();
        if data {
            let len = payload.len() as u32;
            if len > stream.recv_window {
                return Err(YamuxError::WindowViolation(id));
            }
            stream.recv_window -= len;
        }
        let window_update = header.kind == FrameType::WindowUpdate && header.length > 0;
        if window_update {
            stream.send_window = stream
                .send_window
                .checked_add(header.length)
                .ok_or(YamuxError::WindowOverflow(id))?;
        }
        if acked {
            self.ack_backlog -= 1;
            core.wake_openers();
        }
        if data {
            core.deliver(id, payload);
        }
        if window_update {
            core.writable(id);
        }
        if header.flags & FIN != 0 {
            core.remote_finished(id);
        }
        if header.flags & RST != 0 {
            core.remote_reset(id);
        }
        Ok(())
    }
}

impl Protocol for Yamux {
    type Config = Config;
    type Id = u32;
    type Number = u32;
    type Stream = YamuxStream;
    type Codec = YamuxCodec;
    type Frame = Frame;
    type Out = Frame;
    type Error = YamuxError;

    const NAME: &'static str = "yamux";

    fn new(role: Role, config: Config) -> (Self, YamuxCodec, Settings) {
        let settings = Settings {
            max_streams: config.max_streams,
            max_frame_payload: config.max_frame_payload,
            // The receive window bounds what a stream holds.
            max_buffer_per_stream: None,
            max_buffer_total: None,
            slow_reader_grace: BUDGET_GRACE,
            buffer_budget: config.buffer_budget.clone(),
            keep_alive: config.keep_alive,
        };
        let codec = YamuxCodec::new(config.max_window);
        let yamux = Yamux {
            config,
            role,
            next_id: if role == Role::Initiator { 1 } else { 2 },
            highest_inbound: 0,
            ack_backlog: 0,
            total_window: 0,
            rtt: None,
            ping: None,
            remote_go_away: false,
        };
        (yamux, codec, settings)
    }

    fn number(id: u32) -> u32 {
        id
    }

    /// One ping at once, to learn the round-trip time that window auto-tuning uses.
    fn start(&mut self, core: &mut Core<Self>, now: Instant) {
        self.ping(core, now);
    }

    fn on_frame(
        &mut self,
        frame: Frame,
        core: &mut Core<Self>,
        now: Instant,
    ) -> Result<(), YamuxError> {
        let header = frame.header;
        match header.kind {
            FrameType::Ping => {
                if header.flags & SYN != 0 {
                    core.send(Frame::control(FrameType::Ping, ACK, 0, header.length));
                } else if header.flags & ACK != 0 {
                    if let Some((value, sent)) = self.ping {
                        if value == header.length {
                            self.rtt = Some(now.saturating_duration_since(sent));
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
            FrameType::Data | FrameType::WindowUpdate => self.on_stream_frame(frame, core),
        }
    }

    fn open(&mut self, core: &mut Core<Self>, _now: Instant) -> Result<Option<u32>, YamuxError> {
        if self.remote_go_away {
            return Err(YamuxError::Closed);
        }
        if self.ack_backlog >= self.config.max_ack_backlog {
            return Ok(None);
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).ok_or(YamuxError::StreamIdsExhausted)?;
        core.insert_outbound(id, YamuxStream::new(true));
        self.total_window += INITIAL_WINDOW as usize;
        self.ack_backlog += 1;
        core.send(Frame::stream_flags(id, SYN, 0));
        Ok(Some(id))
    }

    /// Acknowledged as it is handed out.
    fn on_accept(&mut self, id: u32, core: &mut Core<Self>) {
        core.send(Frame::stream_flags(id, ACK, 0));
    }

    fn send_window(stream: &YamuxStream) -> usize {
        stream.send_window as usize
    }

    fn data_frame(id: u32, stream: &mut YamuxStream, payload: Bytes) -> Frame {
        let len = payload.len() as u32;
        stream.send_window -= len;
        Frame {
            header: Header::new(FrameType::Data, 0, id, len),
            payload,
        }
    }

    fn fin_frame(id: u32) -> Frame {
        Frame::stream_flags(id, FIN, 0)
    }

    fn reset_frame(id: u32) -> Frame {
        Frame::stream_flags(id, RST, 0)
    }

    /// Returns credit to the remote once half the window has been read, growing the
    /// window when updates come faster than the round trip.
    fn on_read(
        &mut self,
        id: u32,
        stream: &mut YamuxStream,
        n: usize,
        read_open: bool,
        now: Instant,
    ) -> Option<Frame> {
        stream.pending_credit += n as u32;
        if stream.pending_credit < stream.window_max / 2 || !read_open {
            return None;
        }
        let mut credit = stream.pending_credit;
        if let Some(rtt) = self.rtt {
            let fast = now.saturating_duration_since(stream.last_update) < rtt * 4;
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
        Some(Frame::stream_flags(id, 0, credit))
    }

    fn on_removed(&mut self, _id: u32, stream: YamuxStream, core: &mut Core<Self>) {
        self.total_window -= stream.window_max as usize;
        if stream.unacked {
            self.ack_backlog -= 1;
            core.wake_openers();
        }
    }

    fn on_close(&mut self, core: &mut Core<Self>) {
        core.send(Frame::control(FrameType::GoAway, 0, 0, GO_AWAY_NORMAL));
    }

    /// A go-away with the error's code, unless the IO itself failed.
    fn on_fail(&mut self, error: &YamuxError, core: &mut Core<Self>) {
        if core.is_open() && !matches!(error, YamuxError::Io(_)) {
            core.begin_closing();
            core.send(Frame::control(
                FrameType::GoAway,
                0,
                0,
                error.go_away_code(),
            ));
        }
    }

    /// A ping unanswered for a whole period ends the session; otherwise a new one goes
    /// out.
    fn on_keep_alive(&mut self, core: &mut Core<Self>, now: Instant) -> Result<(), YamuxError> {
        let period = self.config.keep_alive.unwrap_or(Duration::MAX);
        let unanswered = self
            .ping
            .is_some_and(|(_, sent)| now.saturating_duration_since(sent) >= period);
        if unanswered {
            return Err(YamuxError::KeepAliveTimeout);
        }
        self.ping(core, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
