//! Splitting an outgoing RPC so each frame fits the receiver's limit.
//!
//! rust-libp2p refuses frames over 64 KiB by default and go over 1 MiB, while a router
//! may bundle many messages, subscriptions and gossip into one [`Rpc`]. Protobuf
//! repeated fields concatenate, so an RPC can be cut between entries: each piece is a
//! valid RPC and the receiver handles them as if they had come together.

use crate::{Control, IHave, IWant, Rpc};

/// Bytes kept free in every piece for the control message's own tag and length.
const SLACK: usize = 16;

/// Cuts `rpc` into RPCs whose encodings are at most `max` bytes each. A single message
/// larger than that goes alone in a piece of its own (the receiver decides whether it
/// takes it); long IHAVE and IWANT id lists are cut into several entries.
pub fn split_rpc(rpc: Rpc, max: usize) -> Vec<Rpc> {
    if rpc.encoded_len() <= max {
        return vec![rpc];
    }
    let budget = max.saturating_sub(SLACK).max(1);
    let mut pieces = Pieces {
        budget,
        done: Vec::new(),
        current: Rpc::default(),
        used: 0,
    };
    for sub in rpc.subscriptions {
        let len = Rpc {
            subscriptions: vec![sub.clone()],
            ..Rpc::default()
        }
        .encoded_len();
        pieces.make_room(len);
        pieces.current.subscriptions.push(sub);
        pieces.used += len;
    }
    for message in rpc.messages {
        let len = Rpc {
            messages: vec![message.clone()],
            ..Rpc::default()
        }
        .encoded_len();
        pieces.make_room(len);
        pieces.current.messages.push(message);
        pieces.used += len;
    }
    if let Some(control) = rpc.control {
        for entry in control_entries(control, budget) {
            let len = Rpc {
                control: Some(entry.clone()),
                ..Rpc::default()
            }
            .encoded_len();
            pieces.make_room(len);
            merge_control(
                pieces.current.control.get_or_insert_with(Control::default),
                entry,
            );
            pieces.used += len;
        }
    }
    pieces.finish()
}

struct Pieces {
    budget: usize,
    done: Vec<Rpc>,
    current: Rpc,
    used: usize,
}

impl Pieces {
    fn make_room(&mut self, len: usize) {
        if self.used > 0 && self.used + len > self.budget {
            self.done.push(std::mem::take(&mut self.current));
            self.used = 0;
        }
    }

    fn finish(mut self) -> Vec<Rpc> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

/// One control message per entry, with IHAVE and IWANT id lists cut to fit `budget`.
fn control_entries(control: Control, budget: usize) -> Vec<Control> {
    let mut out = Vec::new();
    for ihave in control.ihave {
        let ids_per_piece = ids_fitting(&ihave.message_ids, budget);
        if ihave.message_ids.is_empty() {
            out.push(Control {
                ihave: vec![ihave],
                ..Control::default()
            });
            continue;
        }
        for ids in ihave.message_ids.chunks(ids_per_piece) {
            out.push(Control {
                ihave: vec![IHave {
                    topic: ihave.topic.clone(),
                    message_ids: ids.to_vec(),
                }],
                ..Control::default()
            });
        }
    }
    for iwant in control.iwant {
        let ids_per_piece = ids_fitting(&iwant.message_ids, budget);
        for ids in iwant.message_ids.chunks(ids_per_piece) {
            out.push(Control {
                iwant: vec![IWant {
                    message_ids: ids.to_vec(),
                }],
                ..Control::default()
            });
        }
    }
    for graft in control.graft {
        out.push(Control {
            graft: vec![graft],
            ..Control::default()
        });
    }
    for prune in control.prune {
        out.push(Control {
            prune: vec![prune],
            ..Control::default()
        });
    }
    for idontwant in control.idontwant {
        let ids_per_piece = ids_fitting(&idontwant.message_ids, budget);
        for ids in idontwant.message_ids.chunks(ids_per_piece) {
            out.push(Control {
                idontwant: vec![crate::IDontWant {
                    message_ids: ids.to_vec(),
                }],
                ..Control::default()
            });
        }
    }
    out
}

/// How many ids of a list fit in `budget` bytes, at least one.
fn ids_fitting(ids: &[crate::MessageId], budget: usize) -> usize {
    let longest = ids.iter().map(|id| id.as_bytes().len()).max().unwrap_or(0);
    // An id costs its bytes plus a tag and a length of up to 3 bytes; the entry's topic
    // and headers come out of a fixed allowance.
    let per_id = longest + 4;
    (budget.saturating_sub(MAX_ENTRY_OVERHEAD) / per_id).max(1)
}

/// Room left in a piece for an entry's topic and headers.
const MAX_ENTRY_OVERHEAD: usize = crate::MAX_TOPIC_LEN + 16;

fn merge_control(into: &mut Control, from: Control) {
    into.ihave.extend(from.ihave);
    into.iwant.extend(from.iwant);
    into.graft.extend(from.graft);
    into.prune.extend(from.prune);
    into.idontwant.extend(from.idontwant);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{
        Message, MessageId, RpcLimits, SubOpt, TopicHash,
        wire::{decode_rpc, encode_rpc},
    };

    fn topic() -> TopicHash {
        TopicHash::from_raw("t")
    }

    #[test]
    fn a_small_rpc_stays_whole() {
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(topic())],
            messages: vec![Message::new(topic(), &b"hi"[..])],
            control: None,
        };
        assert_eq!(split_rpc(rpc.clone(), 1024), vec![rpc]);
    }

    #[test]
    fn many_messages_are_cut_into_pieces_under_the_limit_and_nothing_is_lost() {
        let messages: Vec<Message> = (0..100)
            .map(|i| Message::new(topic(), Bytes::from(vec![i as u8; 1000])))
            .collect();
        let rpc = Rpc {
            subscriptions: vec![SubOpt::subscribe(topic())],
            messages: messages.clone(),
            control: Some(Control {
                ihave: vec![IHave {
                    topic: topic(),
                    message_ids: (0..5000u32)
                        .map(|i| MessageId::new(i.to_be_bytes().to_vec()))
                        .collect(),
                }],
                ..Control::default()
            }),
        };
        let pieces = split_rpc(rpc, 10_000);
        assert!(pieces.len() > 10);
        let mut got_messages = Vec::new();
        let mut got_ids = 0;
        for piece in pieces {
            let bytes = encode_rpc(&piece);
            assert!(piece.encoded_len() <= 10_000, "{}", piece.encoded_len());
            let decoded = decode_rpc(Bytes::from(bytes), &RpcLimits::default()).unwrap();
            got_messages.extend(decoded.rpc.messages);
            if let Some(control) = decoded.rpc.control {
                got_ids += control
                    .ihave
                    .iter()
                    .map(|i| i.message_ids.len())
                    .sum::<usize>();
            }
        }
        assert_eq!(got_messages, messages);
        assert_eq!(got_ids, 5000);
    }

    #[test]
    fn an_oversize_message_travels_alone() {
        let big = Message::new(topic(), Bytes::from(vec![1; 5000]));
        let small = Message::new(topic(), &b"x"[..]);
        let pieces = split_rpc(
            Rpc {
                messages: vec![small.clone(), big.clone(), small.clone()],
                ..Rpc::default()
            },
            1000,
        );
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[1].messages, vec![big]);
    }
}
