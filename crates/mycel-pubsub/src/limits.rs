//! [`RpcLimits`]: what one RPC may hold, checked on the raw protobuf before decoding.
//!
//! A protobuf entry can be two bytes on the wire (tag, zero length) and a hundred in
//! memory once decoded (an empty `Message` is six optional fields). Counting entries
//! first, without allocating, means an RPC full of empty entries is refused before it
//! can make us allocate many times its size.

use crate::PubsubError;

/// Default largest message (its whole protobuf encoding: data, topic, authorship fields).
/// The spec suggests 1 MiB; go-libp2p-pubsub's default RPC limit is the same.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Default largest RPC read: one maximal message plus 64 KiB for the subscriptions and
/// control that may ride along with it.
pub const DEFAULT_MAX_RPC_SIZE: usize = DEFAULT_MAX_MESSAGE_SIZE + 64 * 1024;

/// Longest topic accepted, in bytes. Real topics are short (eth2's run to about 50
/// bytes); 512 bytes times [`MAX_TOPICS_PER_PEER`] bounds what one peer's
/// subscriptions cost us.
pub const MAX_TOPIC_LEN: usize = 512;

/// Topics one peer may be subscribed to in our bookkeeping; further subscriptions are
/// refused. Busy nodes (eth2 beacon nodes) announce around a hundred.
pub const MAX_TOPICS_PER_PEER: usize = 1024;

/// Subscription entries one RPC may carry: a full announcement of
/// [`MAX_TOPICS_PER_PEER`] topics, twice over (a leave and a join for each).
pub const MAX_SUBSCRIPTIONS_PER_RPC: usize = 2 * MAX_TOPICS_PER_PEER;

/// Messages one RPC may carry. go answers an IWANT of up to 5000 ids (its
/// `MaxIHaveLength`) in one RPC, split only by size; an empty message is two bytes on
/// the wire but about 200 in memory, so this also bounds a flood to about 1 MiB.
pub const MAX_MESSAGES_PER_RPC: usize = 5000;

/// IHAVE, IWANT, GRAFT, PRUNE and IDONTWANT entries one RPC may carry, together. Real
/// RPCs carry a few per topic.
pub const MAX_CONTROL_ENTRIES_PER_RPC: usize = 5000;

/// Message ids one RPC's IHAVE, IWANT and IDONTWANT entries may list, together.
///
/// go caps each IHAVE at 5000 ids (`MaxIHaveLength`) but piggybacks the IHAVEs of all
/// topics, an IWANT and IDONTWANTs on one RPC of up to 1 MiB; 20,000 leaves room for
/// several busy topics while an RPC of empty ids decodes to at most 640 KiB of handles.
pub const MAX_CONTROL_IDS_PER_RPC: usize = 20_000;

/// Peer exchange entries one RPC's PRUNEs may list, together. go and rust offer 16 per
/// PRUNE (`PrunePeers`).
pub const MAX_PRUNE_PEERS_PER_RPC: usize = 1024;

/// The bounds an RPC is read and decoded under.
///
/// Counts beyond a limit refuse the whole RPC (the peer is broken or hostile); a message
/// or entry that breaks a per-item limit (size, topic length) is set aside alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcLimits {
    /// Largest RPC, checked on the length prefix before reading.
    pub max_rpc_size: usize,
    /// Largest encoded message; a larger one is invalid.
    pub max_message_size: usize,
    /// Longest topic in bytes; a message with a longer one is invalid, a subscription or
    /// control entry with one is dropped.
    pub max_topic_len: usize,
    /// Subscription entries per RPC.
    pub max_subscriptions: usize,
    /// Messages per RPC.
    pub max_messages: usize,
    /// IHAVE, IWANT, GRAFT, PRUNE and IDONTWANT entries per RPC, together.
    pub max_control_entries: usize,
    /// Message ids in the RPC's IHAVE, IWANT and IDONTWANT entries, together.
    pub max_message_ids: usize,
    /// Peer exchange entries in the RPC's PRUNE entries, together.
    pub max_prune_peers: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_rpc_size: DEFAULT_MAX_RPC_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_topic_len: MAX_TOPIC_LEN,
            max_subscriptions: MAX_SUBSCRIPTIONS_PER_RPC,
            max_messages: MAX_MESSAGES_PER_RPC,
            max_control_entries: MAX_CONTROL_ENTRIES_PER_RPC,
            max_message_ids: MAX_CONTROL_IDS_PER_RPC,
            max_prune_peers: MAX_PRUNE_PEERS_PER_RPC,
        }
    }
}

// Field numbers of proto/pubsub.proto.
const RPC_SUBSCRIPTIONS: u64 = 1;
const RPC_PUBLISH: u64 = 2;
const RPC_CONTROL: u64 = 3;
const CONTROL_IHAVE: u64 = 1;
const CONTROL_IWANT: u64 = 2;
const CONTROL_PRUNE: u64 = 4;
const CONTROL_IDONTWANT: u64 = 5;
const IHAVE_MESSAGE_IDS: u64 = 2;
const IWANT_MESSAGE_IDS: u64 = 1;
const PRUNE_PEERS: u64 = 2;

/// A counter that fails with `error` once it passes `max`.
struct Budget {
    used: usize,
    max: usize,
    error: fn(usize) -> PubsubError,
}

impl Budget {
    fn new(max: usize, error: fn(usize) -> PubsubError) -> Self {
        Budget {
            used: 0,
            max,
            error,
        }
    }

    fn take(&mut self) -> Result<(), PubsubError> {
        self.used += 1;
        if self.used > self.max {
            Err((self.error)(self.max))
        } else {
            Ok(())
        }
    }
}

impl RpcLimits {
    /// Walks the RPC's fields, and those of its control part, counting entries against
    /// the limits. Control may appear several times (protobuf merges the occurrences);
    /// all of them count.
    pub(crate) fn check_counts(&self, rpc: &[u8]) -> Result<(), PubsubError> {
        let mut subscriptions = Budget::new(self.max_subscriptions, |max| {
            PubsubError::TooManySubscriptions { max }
        });
        let mut messages = Budget::new(self.max_messages, |max| PubsubError::TooManyMessages {
            max,
        });
        let mut entries = Budget::new(self.max_control_entries, |max| {
            PubsubError::TooManyControlEntries { max }
        });
        let mut ids = Budget::new(self.max_message_ids, |max| PubsubError::TooManyMessageIds {
            max,
        });
        let mut peers = Budget::new(self.max_prune_peers, |max| PubsubError::TooManyPrunePeers {
            max,
        });
        for field in Fields::new(rpc) {
            let (number, value) = field?;
            match number {
                RPC_SUBSCRIPTIONS => subscriptions.take()?,
                RPC_PUBLISH => messages.take()?,
                RPC_CONTROL => {
                    for field in Fields::new(embedded(number, value)?) {
                        let (number, value) = field?;
                        if !(CONTROL_IHAVE..=CONTROL_IDONTWANT).contains(&number) {
                            continue;
                        }
                        entries.take()?;
                        let entry = embedded(number, value)?;
                        let (counted, budget) = match number {
                            CONTROL_IHAVE => (IHAVE_MESSAGE_IDS, &mut ids),
                            CONTROL_IWANT | CONTROL_IDONTWANT => (IWANT_MESSAGE_IDS, &mut ids),
                            CONTROL_PRUNE => (PRUNE_PEERS, &mut peers),
                            _ => continue, // GRAFT: a topic only.
                        };
                        for field in Fields::new(entry) {
                            if field?.0 == counted {
                                budget.take()?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The bytes of a length-delimited field, or an error naming it.
fn embedded(number: u64, value: Option<&[u8]>) -> Result<&[u8], PubsubError> {
    value.ok_or_else(|| {
        PubsubError::InvalidRpc(format!("field {number} is not an embedded message"))
    })
}

/// The top-level fields of a protobuf message: `(field number, Some(bytes))` for
/// length-delimited values, `(field number, None)` for the others. Ends after the first
/// error.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { bytes }
    }

    /// A protobuf varint (up to 10 bytes; non-minimal encodings are valid protobuf).
    fn varint(&mut self) -> Result<u64, PubsubError> {
        let mut value = 0u64;
        for (i, byte) in self.bytes.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(PubsubError::InvalidRpc(
            "truncated or overlong varint".into(),
        ))
    }

    fn skip(&mut self, len: u64) -> Result<&'a [u8], PubsubError> {
        if len > self.bytes.len() as u64 {
            return Err(PubsubError::InvalidRpc("truncated field".into()));
        }
        let (value, rest) = self.bytes.split_at(len as usize);
        self.bytes = rest;
        Ok(value)
    }

    fn field(&mut self) -> Result<(u64, Option<&'a [u8]>), PubsubError> {
        let key = self.varint()?;
        let number = key >> 3;
        match key & 7 {
            0 => self.varint().map(|_| (number, None)),
            1 => self.skip(8).map(|_| (number, None)),
            5 => self.skip(4).map(|_| (number, None)),
            2 => {
                let len = self.varint()?;
                self.skip(len).map(|value| (number, Some(value)))
            }
            wire => Err(PubsubError::InvalidRpc(format!(
                "unsupported wire type {wire}"
            ))),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Option<&'a [u8]>), PubsubError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.bytes = &[];
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tag || uvarint(len) || value`.
    fn field(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let mut buf = unsigned_varint::encode::usize_buffer();
        out.extend_from_slice(unsigned_varint::encode::usize(value.len(), &mut buf));
        out.extend_from_slice(value);
        out
    }

    fn repeat(entry: &[u8], n: usize) -> Vec<u8> {
        entry.repeat(n)
    }

    fn small() -> RpcLimits {
        RpcLimits {
            max_subscriptions: 3,
            max_messages: 3,
            max_control_entries: 3,
            max_message_ids: 3,
            max_prune_peers: 3,
            ..RpcLimits::default()
        }
    }

    #[test]
    fn counts_at_the_limits_pass() {
        let limits = small();
        let mut rpc = repeat(&[0x0a, 0x00], 3);
        rpc.extend(repeat(&[0x12, 0x00], 3));
        let ihave = field(0x0a, &repeat(&[0x12, 0x00], 3));
        let prune = field(0x22, &repeat(&[0x12, 0x00], 3));
        rpc.extend(field(0x1a, &[ihave, prune, vec![0x1a, 0x00]].concat()));
        limits.check_counts(&rpc).unwrap();
    }

    #[test]
    fn a_flood_of_empty_entries_is_refused_before_decoding() {
        let limits = small();
        let subs = repeat(&[0x0a, 0x00], 4);
        assert!(matches!(
            limits.check_counts(&subs),
            Err(PubsubError::TooManySubscriptions { max: 3 })
        ));
        let messages = repeat(&[0x12, 0x00], 4);
        assert!(matches!(
            limits.check_counts(&messages),
            Err(PubsubError::TooManyMessages { max: 3 })
        ));
        let grafts = field(0x1a, &repeat(&[0x1a, 0x00], 4));
        assert!(matches!(
            limits.check_counts(&grafts),
            Err(PubsubError::TooManyControlEntries { max: 3 })
        ));
        let ids = field(0x1a, &field(0x12, &repeat(&[0x0a, 0x00], 4)));
        assert!(matches!(
            limits.check_counts(&ids),
            Err(PubsubError::TooManyMessageIds { max: 3 })
        ));
        let peers = field(0x1a, &field(0x22, &repeat(&[0x12, 0x00], 4)));
        assert!(matches!(
            limits.check_counts(&peers),
            Err(PubsubError::TooManyPrunePeers { max: 3 })
        ));
    }

    #[test]
    fn ids_of_ihave_iwant_and_idontwant_share_one_budget() {
        let limits = small();
        let control = [
            field(0x0a, &field(0x12, &[1])), // ihave, one id
            field(0x12, &field(0x0a, &[2])), // iwant, one id
            field(0x2a, &[field(0x0a, &[3]), field(0x0a, &[4])].concat()), // idontwant, two
        ]
        .concat();
        assert!(matches!(
            limits.check_counts(&field(0x1a, &control)),
            Err(PubsubError::TooManyMessageIds { max: 3 })
        ));
    }

    #[test]
    fn control_split_over_several_occurrences_is_counted_together() {
        let limits = small();
        let two_grafts = field(0x1a, &repeat(&[0x1a, 0x00], 2));
        limits.check_counts(&two_grafts).unwrap();
        let rpc = [two_grafts.clone(), two_grafts].concat();
        assert!(matches!(
            limits.check_counts(&rpc),
            Err(PubsubError::TooManyControlEntries { max: 3 })
        ));
    }

    #[test]
    fn unknown_fields_are_skipped_and_malformed_ones_refused() {
        let limits = small();
        // field 9 varint, field 10 fixed64, field 11 fixed32, field 12 bytes
        let unknown = [
            &[0x48, 0x96, 0x01][..],
            &[0x51, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0x5d, 0, 0, 0, 0],
            &[0x62, 0x01, 0xff],
        ]
        .concat();
        limits.check_counts(&unknown).unwrap();
        for bad in [
            &[0x12, 0x05, 0x00][..], // truncated
            &[0x12],                 // missing length
            &[0x1b],                 // group start
            &[0x18, 0x01],           // control as a varint
            &[
                0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
            ], // overlong
        ] {
            assert!(
                matches!(limits.check_counts(bad), Err(PubsubError::InvalidRpc(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_minimal_varints_are_valid_protobuf() {
        // A subscription whose length is encoded as 0x80 0x00 (zero, two bytes).
        small().check_counts(&[0x0a, 0x80, 0x00]).unwrap();
    }
}
