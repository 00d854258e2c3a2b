//! Test helpers (the `test-util` feature): [`Harness`], a session without tasks or IO,
//! to drive a protocol front frame by frame and look at what it sends; [`pair`], two
//! sessions over an in-memory pipe.

use std::{sync::Arc, time::Instant};

use mycel_core::Role;

use crate::{Connection, Core, Protocol, Stream, session::Shared};

/// Two sessions of `P` over an in-memory pipe (256 KiB each way): (dialer, listener).
/// Must be called inside a tokio runtime.
pub fn pair<P: Protocol>(client: P::Config, server: P::Config) -> (Connection<P>, Connection<P>) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    (
        Connection::new(Box::new(a), Role::Initiator, client),
        Connection::new(Box::new(b), Role::Responder, server),
    )
}

/// A session nobody reads or writes for: frames go in through
/// [`Harness::on_frame`], what the session would send comes out of
/// [`Harness::take_sent`], and the writer's progress is told by hand.
pub struct Harness<P: Protocol> {
    shared: Arc<Shared<P>>,
}

impl<P: Protocol> Harness<P> {
    /// A started session (a front's first frames are queued).
    pub fn new(role: Role, config: P::Config) -> Self {
        let (proto, _codec, settings) = P::new(role, config);
        let shared = Shared::new(proto, Core::new(settings));
        shared.with(|s| s.proto.start(&mut s.core, Instant::now()));
        Harness { shared }
    }

    /// Runs `f` on the protocol and its table.
    pub fn with<R>(&self, f: impl FnOnce(&mut P, &mut Core<P>) -> R) -> R {
        self.shared.with(|s| f(&mut s.proto, &mut s.core))
    }

    /// Handles a frame from the remote.
    pub fn on_frame(&self, frame: P::Frame) -> Result<(), P::Error> {
        self.shared
            .with(|s| s.proto.on_frame(frame, &mut s.core, Instant::now()))
    }

    /// Everything queued to send since the last call.
    pub fn take_sent(&self) -> Vec<P::Out> {
        self.shared
            .with(|s| s.core.take_outbound().0.into_iter().collect())
    }

    /// Opens a stream, as [`crate::Connection::open_stream`] would without waiting.
    pub fn open(&self) -> Result<Option<Stream<P>>, P::Error> {
        let id = self
            .shared
            .with(|s| s.proto.open(&mut s.core, Instant::now()))?;
        Ok(id.map(|id| Stream::new(id, self.shared.clone())))
    }

    /// The next inbound stream, as [`crate::Connection::accept_stream`] hands it out.
    pub fn accept(&self) -> Option<Stream<P>> {
        let id = self.shared.with(|s| {
            let id = s.core.accept()?;
            s.proto.on_accept(id, &mut s.core);
            Some(id)
        })?;
        Some(Stream::new(id, self.shared.clone()))
    }

    /// The node's buffer budget asks for relief: the stream unread longest is reset.
    pub fn relieve(&self) {
        self.shared.with(|s| s.core.reset_stalest_unread());
    }

    /// The session ends.
    pub fn fail(&self, reason: &str) {
        self.shared.with(|s| s.core.fail(reason.into()));
    }

    /// The writer wrote and flushed everything queued so far.
    pub fn flush_all(&self) {
        self.shared.with(|s| {
            let (_, seq) = s.core.take_outbound();
            s.core.flushed(seq);
        });
    }

    /// The writer stopped for good.
    pub fn stop_writer(&self) {
        self.shared.with(|s| s.core.writer_stopped());
    }
}
