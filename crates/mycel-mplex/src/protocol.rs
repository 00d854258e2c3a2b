//! mplex's rules on the muxing engine: stream ids numbered by each side and told apart
//! by a flag, NewStream, Close and Reset. mplex has no flow control: the engine's caps
//! on unread data (per stream and per connection) and its slow-reader grace stand in.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mycel_core::Role;
use mycel_muxing::{Codec, Core, Decoded, OutFrame, Protocol, Settings};

use crate::{
    Config, MplexError,
    codec::{MAX_MESSAGE_LEN, MAX_STREAM_ID, Message, Side},
};

/// A stream is named by its number and by who opened it: both sides number their own
/// streams from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The stream's number.
    pub id: u64,
    /// Whether we opened it.
    pub ours: bool,
}

impl StreamKey {
    /// Who opened the stream, from our side (what we put in the messages we send).
    fn side(self) -> Side {
        if self.ours {
            Side::Initiator
        } else {
            Side::Receiver
        }
    }

    /// The stream a message names: the sender's "initiator" is the side that opened it.
    fn of_message(id: u64, side: Side) -> StreamKey {
        StreamKey {
            id,
            ours: side == Side::Receiver,
        }
    }
}

impl OutFrame for Message {
    fn encode_head(&self, dst: &mut BytesMut) {
        Message::encode_head(self, dst);
    }

    fn body(&self) -> &Bytes {
        Message::body(self)
    }
}

/// Cuts messages out of the bytes read.
#[derive(Debug, Default)]
pub struct MplexCodec;

impl Codec for MplexCodec {
    type Frame = Message;
    type Error = MplexError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Message>, MplexError> {
        Ok(match Message::decode(buf)? {
            Some(message) => Decoded::Frame(message),
            // `Message::decode` has made room for the rest of a partial message.
            None => Decoded::Need(buf.len() + 1),
        })
    }
}

/// mplex's state of a session: the next stream number.
#[derive(Debug, Default)]
pub struct Mplex {
    next_id: u64,
}

impl Protocol for Mplex {
    type Config = Config;
    type Id = StreamKey;
    type Number = u64;
    type Stream = ();
    type Codec = MplexCodec;
    type Frame = Message;
    type Out = Message;
    type Error = MplexError;

    const NAME: &'static str = "mplex";

    /// Both sides play the same part: `role` is not used.
    fn new(_role: Role, config: Config) -> (Self, MplexCodec, Settings) {
        let settings = Settings {
            max_streams: config.max_streams,
            max_frame_payload: config.max_message_len.clamp(1, MAX_MESSAGE_LEN),
            max_buffer_per_stream: Some(config.max_buffer_per_stream),
            max_buffer_total: Some(config.max_buffer_total),
            slow_reader_grace: config.slow_reader_grace,
            buffer_budget: config.buffer_budget,
            keep_alive: None,
        };
        (Mplex::default(), MplexCodec, settings)
    }

    fn number(key: StreamKey) -> u64 {
        key.id
    }

    fn on_frame(
        &mut self,
        message: Message,
        core: &mut Core<Self>,
        _now: Instant,
    ) -> Result<(), MplexError> {
        match message {
            Message::NewStream { id, .. } => {
                let key = StreamKey { id, ours: false };
                if core.contains(key) {
                    return Err(MplexError::DuplicateStream(id));
                }
                if !core.insert_inbound(key, ()) {
                    core.send(Message::Reset {
                        id,
                        side: Side::Receiver,
                    });
                }
            }
            // Data for a stream we no longer know (dropped or reset) is moot.
            Message::Data { id, side, data } => {
                core.deliver(StreamKey::of_message(id, side), data);
            }
            Message::Close { id, side } => core.remote_finished(StreamKey::of_message(id, side)),
            Message::Reset { id, side } => core.remote_reset(StreamKey::of_message(id, side)),
        }
        Ok(())
    }

    fn open(
        &mut self,
        core: &mut Core<Self>,
        _now: Instant,
    ) -> Result<Option<StreamKey>, MplexError> {
        let id = self.next_id;
        if id > MAX_STREAM_ID {
            return Err(MplexError::StreamIdsExhausted);
        }
        self.next_id += 1;
        let key = StreamKey { id, ours: true };
        core.insert_outbound(key, ());
        core.send(Message::NewStream {
            id,
            name: Bytes::from(id.to_string()),
        });
        Ok(Some(key))
    }

    fn send_window(_stream: &()) -> usize {
        usize::MAX
    }

    fn data_frame(key: StreamKey, _stream: &mut (), data: Bytes) -> Message {
        Message::Data {
            id: key.id,
            side: key.side(),
            data,
        }
    }

    fn fin_frame(key: StreamKey) -> Message {
        Message::Close {
            id: key.id,
            side: key.side(),
        }
    }

    fn reset_frame(key: StreamKey) -> Message {
        Message::Reset {
            id: key.id,
            side: key.side(),
        }
    }
}

#[cfg(test)]
mod tests {
    use mycel_core::testing::read_now;
    use mycel_muxing::testing::Harness;

    use super::*;

    fn harness(config: Config) -> Harness<Mplex> {
        Harness::new(Role::Responder, config)
    }

    #[test]
    fn the_side_flag_tells_our_stream_from_the_remote_one_of_the_same_number() {
        let h = harness(Config::default());
        let mut ours = h.open().unwrap().expect("our stream 0");
        h.on_frame(Message::NewStream {
            id: 0,
            name: Bytes::new(),
        })
        .unwrap();
        let mut theirs = h.accept().expect("their stream 0");
        assert_eq!((ours.id(), theirs.id()), (0, 0));
        // "Receiver" from the sender: the stream its peer (we) opened.
        for (side, data) in [(Side::Receiver, "to ours"), (Side::Initiator, "to theirs")] {
            h.on_frame(Message::Data {
                id: 0,
                side,
                data: Bytes::from(data),
            })
            .unwrap();
        }
        assert_eq!(read_now(&mut ours), Some(Ok(7)));
        assert_eq!(read_now(&mut theirs), Some(Ok(9)));
        // What we send names the side from our view.
        drop(theirs);
        let sent = h.take_sent();
        assert_eq!(
            sent.last(),
            Some(&Message::Reset {
                id: 0,
                side: Side::Receiver
            })
        );
    }

    #[test]
    fn a_stream_opened_twice_ends_the_session_and_one_past_the_limit_is_reset() {
        let h = harness(Config {
            max_streams: 1,
            ..Config::default()
        });
        let open = |id| Message::NewStream {
            id,
            name: Bytes::new(),
        };
        h.on_frame(open(3)).unwrap();
        assert!(matches!(
            h.on_frame(open(3)),
            Err(MplexError::DuplicateStream(3))
        ));
        h.take_sent();
        h.on_frame(open(4)).unwrap();
        assert_eq!(
            h.take_sent(),
            vec![Message::Reset {
                id: 4,
                side: Side::Receiver
            }]
        );
    }
}
