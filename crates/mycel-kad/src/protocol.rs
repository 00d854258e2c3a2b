//! The wire: `uvarint(len) || protobuf Message` (proto/kad.proto), typed both ways.
//!
//! Decoding is forgiving where real peers are sloppy (a peer entry with an unparsable
//! id or address is skipped, lists are cut at [`MAX_PEERS_PER_MESSAGE`] and
//! [`MAX_ADDRS_PER_PEER`]) and strict where the meaning would change (an unknown type, a
//! PUT_VALUE without a record or whose key differs from the record's).

use bytes::Bytes;
use mycel_core::{
    Multiaddr, PeerId,
    addr::split_peer_id,
    framing::{self, FramingError},
};
use mycel_proto::{kad as pb, prost::Message as _};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::{KadError, MAX_ADDRS_PER_PEER, MAX_PEERS_PER_MESSAGE, Record};

/// The six message types of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Store a record.
    PutValue,
    /// Fetch a record and closer peers.
    GetValue,
    /// Announce the sender as a provider (no response).
    AddProvider,
    /// Fetch providers and closer peers.
    GetProviders,
    /// Fetch the peers closest to a key.
    FindNode,
    /// Deprecated liveness check; answered, never sent.
    Ping,
}

impl MessageType {
    /// The spec's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::PutValue => "PUT_VALUE",
            MessageType::GetValue => "GET_VALUE",
            MessageType::AddProvider => "ADD_PROVIDER",
            MessageType::GetProviders => "GET_PROVIDERS",
            MessageType::FindNode => "FIND_NODE",
            MessageType::Ping => "PING",
        }
    }

    fn from_wire(value: i32) -> Result<Self, KadError> {
        use pb::message::MessageType as T;
        match T::try_from(value) {
            Ok(T::PutValue) => Ok(MessageType::PutValue),
            Ok(T::GetValue) => Ok(MessageType::GetValue),
            Ok(T::AddProvider) => Ok(MessageType::AddProvider),
            Ok(T::GetProviders) => Ok(MessageType::GetProviders),
            Ok(T::FindNode) => Ok(MessageType::FindNode),
            Ok(T::Ping) => Ok(MessageType::Ping),
            Err(_) => Err(KadError::InvalidMessage(format!(
                "unknown message type {value}"
            ))),
        }
    }

    fn to_wire(self) -> i32 {
        use pb::message::MessageType as T;
        (match self {
            MessageType::PutValue => T::PutValue,
            MessageType::GetValue => T::GetValue,
            MessageType::AddProvider => T::AddProvider,
            MessageType::GetProviders => T::GetProviders,
            MessageType::FindNode => T::FindNode,
            MessageType::Ping => T::Ping,
        }) as i32
    }
}

/// What the sender knows of its connection to a peer it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConnectionType {
    /// No connection and no information (the default).
    #[default]
    NotConnected,
    /// A live connection.
    Connected,
    /// Connected recently.
    CanConnect,
    /// Tried hard and failed.
    CannotConnect,
}

impl ConnectionType {
    fn from_wire(value: i32) -> Self {
        use pb::message::ConnectionType as C;
        match C::try_from(value) {
            Ok(C::Connected) => ConnectionType::Connected,
            Ok(C::CanConnect) => ConnectionType::CanConnect,
            Ok(C::CannotConnect) => ConnectionType::CannotConnect,
            _ => ConnectionType::NotConnected,
        }
    }

    fn to_wire(self) -> i32 {
        use pb::message::ConnectionType as C;
        (match self {
            ConnectionType::NotConnected => C::NotConnected,
            ConnectionType::Connected => C::Connected,
            ConnectionType::CanConnect => C::CanConnect,
            ConnectionType::CannotConnect => C::CannotConnect,
        }) as i32
    }
}

/// A peer as messages carry it: id, addresses, connection hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer.
    pub id: PeerId,
    /// Its addresses, as the sender knows them.
    pub addrs: Vec<Multiaddr>,
    /// The sender's connection to it.
    pub connection: ConnectionType,
}

impl PeerInfo {
    /// A peer with addresses and no connection hint.
    pub fn new(id: PeerId, addrs: Vec<Multiaddr>) -> Self {
        PeerInfo {
            id,
            addrs,
            connection: ConnectionType::NotConnected,
        }
    }

    fn to_wire(&self) -> pb::message::Peer {
        pb::message::Peer {
            id: Bytes::copy_from_slice(self.id.as_bytes()),
            addrs: self.addrs.iter().map(|a| Bytes::from(a.to_vec())).collect(),
            connection: self.connection.to_wire(),
        }
    }

    fn from_wire(peer: pb::message::Peer) -> Option<Self> {
        let id = PeerId::from_bytes(&peer.id).ok()?;
        let addrs = peer
            .addrs
            .into_iter()
            .filter_map(|a| Multiaddr::try_from(a.to_vec()).ok())
            .filter_map(|a| match split_peer_id(&a) {
                // rust-libp2p appends `/p2p/<id>`: keep the dialable part.
                Ok((base, Some(owner))) if owner == id => Some(base),
                Ok((_, Some(_))) | Err(_) => None,
                Ok((base, None)) => Some(base),
            })
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        Some(PeerInfo {
            id,
            addrs,
            connection: ConnectionType::from_wire(peer.connection),
        })
    }
}

fn peers_from_wire(peers: Vec<pb::message::Peer>) -> Vec<PeerInfo> {
    peers
        .into_iter()
        .filter_map(PeerInfo::from_wire)
        .take(MAX_PEERS_PER_MESSAGE)
        .collect()
}

fn peers_to_wire(peers: &[PeerInfo]) -> Vec<pb::message::Peer> {
    peers.iter().map(PeerInfo::to_wire).collect()
}

fn record_to_wire(record: &Record) -> pb::Record {
    pb::Record {
        key: record.key.clone(),
        value: record.value.clone(),
        time_received: String::new(),
    }
}

fn record_from_wire(record: pb::Record) -> Record {
    Record::new(record.key, record.value)
}

/// A request, as the side that opened the stream sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The peers closest to `key` (for peer routing, a binary peer id).
    FindNode {
        /// The target.
        key: Bytes,
    },
    /// The record under `key`, and closer peers.
    GetValue {
        /// The record's key.
        key: Bytes,
    },
    /// Store `record`; the answer echoes it.
    PutValue {
        /// The record.
        record: Record,
    },
    /// Providers of `key`, and closer peers.
    GetProviders {
        /// The content key.
        key: Bytes,
    },
    /// The sender provides `key`. Not answered.
    AddProvider {
        /// The content key.
        key: Bytes,
        /// The providers listed; a receiver keeps only the sender.
        providers: Vec<PeerInfo>,
    },
    /// Deprecated liveness check.
    Ping,
}

impl Request {
    /// The request's message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Request::FindNode { .. } => MessageType::FindNode,
            Request::GetValue { .. } => MessageType::GetValue,
            Request::PutValue { .. } => MessageType::PutValue,
            Request::GetProviders { .. } => MessageType::GetProviders,
            Request::AddProvider { .. } => MessageType::AddProvider,
            Request::Ping => MessageType::Ping,
        }
    }

    /// Whether the receiver answers (all but ADD_PROVIDER).
    pub fn expects_response(&self) -> bool {
        !matches!(self, Request::AddProvider { .. })
    }
}

/// A response to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The closest peers the responder knows.
    FindNode {
        /// Up to k peers.
        closer_peers: Vec<PeerInfo>,
    },
    /// The record if held, and closer peers.
    GetValue {
        /// The record.
        record: Option<Record>,
        /// Up to k peers.
        closer_peers: Vec<PeerInfo>,
    },
    /// The stored record, echoed.
    PutValue {
        /// The record as stored.
        record: Record,
    },
    /// Known providers and closer peers.
    GetProviders {
        /// Providers of the key.
        providers: Vec<PeerInfo>,
        /// Up to k peers.
        closer_peers: Vec<PeerInfo>,
    },
    /// Answer to a ping.
    Ping,
}

impl Response {
    /// The response's message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Response::FindNode { .. } => MessageType::FindNode,
            Response::GetValue { .. } => MessageType::GetValue,
            Response::PutValue { .. } => MessageType::PutValue,
            Response::GetProviders { .. } => MessageType::GetProviders,
            Response::Ping => MessageType::Ping,
        }
    }
}

fn message(kind: MessageType) -> pb::Message {
    pb::Message {
        r#type: kind.to_wire(),
        ..Default::default()
    }
}

/// The protobuf bytes of a request (without the length prefix).
pub fn encode_request(request: &Request) -> Vec<u8> {
    let mut msg = message(request.message_type());
    match request {
        Request::FindNode { key } | Request::GetValue { key } | Request::GetProviders { key } => {
            msg.key = key.clone();
        }
        Request::PutValue { record } => {
            msg.key = record.key.clone();
            msg.record = Some(record_to_wire(record));
        }
        Request::AddProvider { key, providers } => {
            msg.key = key.clone();
            msg.provider_peers = peers_to_wire(providers);
        }
        Request::Ping => {}
    }
    msg.encode_to_vec()
}

/// The protobuf bytes of a response (without the length prefix).
pub fn encode_response(response: &Response) -> Vec<u8> {
    let mut msg = message(response.message_type());
    match response {
        Response::FindNode { closer_peers } => msg.closer_peers = peers_to_wire(closer_peers),
        Response::GetValue {
            record,
            closer_peers,
        } => {
            if let Some(record) = record {
                msg.key = record.key.clone();
                msg.record = Some(record_to_wire(record));
            }
            msg.closer_peers = peers_to_wire(closer_peers);
        }
        Response::PutValue { record } => {
            msg.key = record.key.clone();
            msg.record = Some(record_to_wire(record));
        }
        Response::GetProviders {
            providers,
            closer_peers,
        } => {
            msg.provider_peers = peers_to_wire(providers);
            msg.closer_peers = peers_to_wire(closer_peers);
        }
        Response::Ping => {}
    }
    msg.encode_to_vec()
}

/// Peer entries a message may carry on the wire before it is refused unread (decoding
/// keeps [`MAX_PEERS_PER_MESSAGE`] of them).
pub const MAX_WIRE_PEERS: usize = 256;

/// Addresses a peer entry may carry on the wire before the message is refused unread
/// (decoding keeps [`MAX_ADDRS_PER_PEER`]).
pub const MAX_WIRE_ADDRS: usize = 128;

/// Walks the protobuf fields without decoding them and refuses a message with more peer
/// entries or addresses than a decoder should materialise: tiny entries on the wire
/// (two bytes each) would otherwise become large structures in memory.
fn check_counts(bytes: &[u8]) -> Result<(), KadError> {
    let mut peers = 0;
    for_each_field(bytes, |field, value| {
        if field == 8 || field == 9 {
            peers += 1;
            if peers > MAX_WIRE_PEERS {
                return Err(format!("more than {MAX_WIRE_PEERS} peer entries"));
            }
            let Some(peer) = value else {
                return Err("a peer entry that is not a message".to_string());
            };
            let mut addrs = 0;
            for_each_field(peer, |field, _| {
                if field == 2 {
                    addrs += 1;
                    if addrs > MAX_WIRE_ADDRS {
                        return Err(format!("more than {MAX_WIRE_ADDRS} addresses for one peer"));
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .map_err(KadError::InvalidMessage)
}

/// Calls `f(field number, Some(bytes) for length-delimited values)` for each top-level
/// field of a protobuf message.
fn for_each_field(
    mut bytes: &[u8],
    mut f: impl FnMut(u64, Option<&[u8]>) -> Result<(), String>,
) -> Result<(), String> {
    let varint = |bytes: &mut &[u8]| -> Result<u64, String> {
        let (v, rest) =
            unsigned_varint::decode::u64(bytes).map_err(|e| format!("bad varint: {e}"))?;
        *bytes = rest;
        Ok(v)
    };
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let field = key >> 3;
        match key & 7 {
            0 => {
                varint(&mut bytes)?;
                f(field, None)?;
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if bytes.len() < n {
                    return Err("truncated fixed-width field".to_string());
                }
                bytes = &bytes[n..];
                f(field, None)?;
            }
            2 => {
                let len = varint(&mut bytes)?;
                if len > bytes.len() as u64 {
                    return Err("truncated length-delimited field".to_string());
                }
                let (value, rest) = bytes.split_at(len as usize);
                bytes = rest;
                f(field, Some(value))?;
            }
            wire => return Err(format!("unsupported wire type {wire}")),
        }
    }
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<(MessageType, pb::Message), KadError> {
    check_counts(bytes)?;
    let msg = pb::Message::decode(bytes).map_err(|e| KadError::InvalidMessage(e.to_string()))?;
    Ok((MessageType::from_wire(msg.r#type)?, msg))
}

/// A request from its protobuf bytes.
pub fn decode_request(bytes: &[u8]) -> Result<Request, KadError> {
    let (kind, msg) = decode(bytes)?;
    Ok(match kind {
        MessageType::FindNode => Request::FindNode { key: msg.key },
        MessageType::GetValue => Request::GetValue { key: msg.key },
        MessageType::GetProviders => Request::GetProviders { key: msg.key },
        MessageType::PutValue => {
            let record = msg.record.ok_or_else(|| {
                KadError::InvalidMessage("PUT_VALUE without a record".to_string())
            })?;
            if record.key != msg.key {
                return Err(KadError::InvalidMessage(
                    "PUT_VALUE key differs from its record's key".to_string(),
                ));
            }
            Request::PutValue {
                record: record_from_wire(record),
            }
        }
        MessageType::AddProvider => Request::AddProvider {
            key: msg.key,
            providers: peers_from_wire(msg.provider_peers),
        },
        MessageType::Ping => Request::Ping,
    })
}

/// A response from its protobuf bytes.
pub fn decode_response(bytes: &[u8]) -> Result<Response, KadError> {
    let (kind, msg) = decode(bytes)?;
    Ok(match kind {
        MessageType::FindNode => Response::FindNode {
            closer_peers: peers_from_wire(msg.closer_peers),
        },
        MessageType::GetValue => Response::GetValue {
            record: msg.record.map(record_from_wire),
            closer_peers: peers_from_wire(msg.closer_peers),
        },
        MessageType::GetProviders => Response::GetProviders {
            providers: peers_from_wire(msg.provider_peers),
            closer_peers: peers_from_wire(msg.closer_peers),
        },
        MessageType::PutValue => Response::PutValue {
            record: msg.record.map(record_from_wire).ok_or_else(|| {
                KadError::InvalidMessage("PUT_VALUE response without a record".to_string())
            })?,
        },
        MessageType::Ping => Response::Ping,
        MessageType::AddProvider => {
            return Err(KadError::UnexpectedResponse {
                expected: "any answerable",
                got: MessageType::AddProvider.as_str().to_string(),
            });
        }
    })
}

/// Writes one length-prefixed message and flushes.
pub(crate) async fn write_message<W: AsyncWrite + Unpin>(
    io: &mut W,
    bytes: &[u8],
) -> Result<(), KadError> {
    framing::write_length_prefixed(io, bytes).await?;
    io.flush().await?;
    Ok(())
}

/// Reads one length-prefixed message of at most `max` bytes; `None` when the stream
/// ends cleanly before one starts.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(
    io: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, KadError> {
    match framing::read_length_prefixed(io, max).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(FramingError::Closed) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use mycel_core::Keypair;
    use proptest::prelude::*;

    use super::*;

    fn peer(addrs: usize) -> PeerInfo {
        let addrs = (0..addrs)
            .map(|i| format!("/ip4/127.0.0.1/tcp/{}", 4000 + i).parse().unwrap())
            .collect();
        PeerInfo::new(Keypair::generate().peer_id(), addrs)
    }

    #[test]
    fn find_node_request_encodes_type_and_key_as_the_spec_numbers_them() {
        let bytes = encode_request(&Request::FindNode {
            key: Bytes::from_static(b"abc"),
        });
        // type = 4 (field 1, varint), key (field 2, bytes).
        assert_eq!(bytes, [0x08, 0x04, 0x12, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn put_value_request_is_zero_typed_and_carries_key_twice() {
        let record = Record::new(&b"/test/k"[..], &b"v"[..]);
        let bytes = encode_request(&Request::PutValue { record });
        // PUT_VALUE is 0, the proto3 default, so the type field is absent.
        assert_eq!(bytes[0], 0x12, "first field is the key");
        let decoded = decode_request(&bytes).unwrap();
        assert!(matches!(decoded, Request::PutValue { record } if &record.value[..] == b"v"));
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request::FindNode {
                key: Bytes::from_static(b"k"),
            },
            Request::GetValue {
                key: Bytes::from_static(b"/pk/x"),
            },
            Request::GetProviders {
                key: Bytes::from_static(b"cid"),
            },
            Request::PutValue {
                record: Record::new(&b"/test/a"[..], &b"b"[..]),
            },
            Request::AddProvider {
                key: Bytes::from_static(b"cid"),
                providers: vec![peer(2)],
            },
            Request::Ping,
        ];
        for request in requests {
            assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
        }
    }

    #[test]
    fn responses_round_trip() {
        let responses = [
            Response::FindNode {
                closer_peers: vec![peer(1), peer(0)],
            },
            Response::GetValue {
                record: Some(Record::new(&b"/test/a"[..], &b"b"[..])),
                closer_peers: vec![peer(3)],
            },
            Response::GetValue {
                record: None,
                closer_peers: vec![],
            },
            Response::PutValue {
                record: Record::new(&b"/test/a"[..], &b"b"[..]),
            },
            Response::GetProviders {
                providers: vec![peer(1)],
                closer_peers: vec![peer(1)],
            },
            Response::Ping,
        ];
        for response in responses {
            assert_eq!(
                decode_response(&encode_response(&response)).unwrap(),
                response
            );
        }
    }

    #[test]
    fn bad_peer_entries_are_skipped_not_fatal() {
        let good = peer(1);
        let mut msg = message(MessageType::FindNode);
        msg.closer_peers = vec![
            pb::message::Peer {
                id: Bytes::from_static(b"not a peer id"),
                addrs: vec![],
                connection: 0,
            },
            pb::message::Peer {
                id: Bytes::copy_from_slice(good.id.as_bytes()),
                addrs: vec![
                    Bytes::from_static(b"\xff\xff garbage"),
                    good.addrs[0].to_vec().into(),
                ],
                connection: 1,
            },
        ];
        let Response::FindNode { closer_peers } = decode_response(&msg.encode_to_vec()).unwrap()
        else {
            panic!("wrong type");
        };
        assert_eq!(closer_peers.len(), 1);
        assert_eq!(closer_peers[0].id, good.id);
        assert_eq!(closer_peers[0].addrs, good.addrs);
        assert_eq!(closer_peers[0].connection, ConnectionType::Connected);
    }

    #[test]
    fn p2p_suffixes_are_stripped_and_foreign_ones_dropped() {
        let p = peer(1);
        let own = mycel_core::addr::with_peer_id(&p.addrs[0], &p.id).unwrap();
        let foreign = mycel_core::addr::with_peer_id(&p.addrs[0], &PeerId::random()).unwrap();
        let mut msg = message(MessageType::FindNode);
        msg.closer_peers = vec![pb::message::Peer {
            id: Bytes::copy_from_slice(p.id.as_bytes()),
            addrs: vec![own.to_vec().into(), foreign.to_vec().into()],
            connection: 0,
        }];
        let Response::FindNode { closer_peers } = decode_response(&msg.encode_to_vec()).unwrap()
        else {
            panic!("wrong type");
        };
        assert_eq!(closer_peers[0].addrs, p.addrs);
    }

    #[test]
    fn peer_lists_and_addresses_are_capped() {
        let mut msg = message(MessageType::FindNode);
        let many = peer(MAX_ADDRS_PER_PEER + 10);
        msg.closer_peers = (0..MAX_PEERS_PER_MESSAGE + 10)
            .map(|_| many.to_wire())
            .collect();
        let Response::FindNode { closer_peers } = decode_response(&msg.encode_to_vec()).unwrap()
        else {
            panic!("wrong type");
        };
        assert_eq!(closer_peers.len(), MAX_PEERS_PER_MESSAGE);
        assert_eq!(closer_peers[0].addrs.len(), MAX_ADDRS_PER_PEER);
    }

    #[test]
    fn protocol_violations_are_typed_errors() {
        let unknown_type = pb::Message {
            r#type: 42,
            ..Default::default()
        };
        assert!(matches!(
            decode_request(&unknown_type.encode_to_vec()),
            Err(KadError::InvalidMessage(_))
        ));
        let put_without_record = message(MessageType::PutValue);
        assert!(matches!(
            decode_request(&put_without_record.encode_to_vec()),
            Err(KadError::InvalidMessage(_))
        ));
        let mut mismatched = message(MessageType::PutValue);
        mismatched.key = Bytes::from_static(b"/test/a");
        mismatched.record = Some(record_to_wire(&Record::new(&b"/test/b"[..], &b"v"[..])));
        assert!(matches!(
            decode_request(&mismatched.encode_to_vec()),
            Err(KadError::InvalidMessage(_))
        ));
        assert!(matches!(
            decode_request(&[0xff, 0xff, 0xff]),
            Err(KadError::InvalidMessage(_))
        ));
    }

    #[tokio::test]
    async fn oversize_message_is_refused_before_reading_it() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            let _ = write_message(&mut a, &[0u8; 1000]).await;
        });
        let err = read_message(&mut b, 100).await.unwrap_err();
        assert!(matches!(
            err,
            KadError::MessageTooLarge {
                len: 1000,
                max: 100
            }
        ));
        drop(b);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn truncated_message_is_an_error_and_clean_end_is_none() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[10, 1, 2, 3]).await.unwrap();
        drop(a);
        assert!(matches!(
            read_message(&mut b, 100).await,
            Err(KadError::Framing(_))
        ));
        let (a, mut b) = tokio::io::duplex(64);
        drop(a);
        assert!(read_message(&mut b, 100).await.unwrap().is_none());
    }

    #[test]
    fn a_flood_of_tiny_peer_entries_is_refused_before_decoding() {
        // 0x42 0x00: an empty closerPeers entry, two bytes each.
        let mut bytes = vec![0x08, 0x04];
        for _ in 0..=MAX_WIRE_PEERS {
            bytes.extend_from_slice(&[0x42, 0x00]);
        }
        assert!(
            matches!(decode_response(&bytes), Err(KadError::InvalidMessage(m)) if m.contains("peer entries"))
        );
        let mut one_peer = vec![0x0a, 0x00]; // empty id
        for _ in 0..=MAX_WIRE_ADDRS {
            one_peer.extend_from_slice(&[0x12, 0x00]);
        }
        let mut bytes = vec![0x08, 0x04, 0x42];
        let mut buf = unsigned_varint::encode::usize_buffer();
        bytes.extend_from_slice(unsigned_varint::encode::usize(one_peer.len(), &mut buf));
        bytes.extend_from_slice(&one_peer);
        assert!(
            matches!(decode_response(&bytes), Err(KadError::InvalidMessage(m)) if m.contains("addresses"))
        );
    }

    #[test]
    fn a_real_sized_answer_passes_the_count_check() {
        let response = Response::GetProviders {
            providers: (0..20).map(|_| peer(8)).collect(),
            closer_peers: (0..20).map(|_| peer(8)).collect(),
        };
        assert_eq!(
            decode_response(&encode_response(&response)).unwrap(),
            response
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }

        #[test]
        fn any_find_node_key_round_trips(key in proptest::collection::vec(any::<u8>(), 0..128)) {
            let request = Request::FindNode { key: key.into() };
            prop_assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
        }
    }
}
