//! [`Out`]: what one call of the router produces, merged per peer.

use std::collections::BTreeMap;

use mycel_core::PeerId;

use crate::{
    Control, Event, IDontWant, IHave, IWant, Message, MessageId, Prune, Rpc, TopicHash,
    router::sends,
};

/// What one call produces: an RPC per peer (everything for one peer merged into one)
/// and the other events.
#[derive(Debug, Default)]
pub(crate) struct Out {
    rpcs: BTreeMap<PeerId, Rpc>,
    events: Vec<Event>,
}

impl Out {
    pub(crate) fn rpc(&mut self, peer: PeerId) -> &mut Rpc {
        self.rpcs.entry(peer).or_default()
    }

    fn control(&mut self, peer: PeerId) -> &mut Control {
        self.rpc(peer).control.get_or_insert_with(Control::default)
    }

    pub(crate) fn message(&mut self, peer: PeerId, message: Message) {
        self.rpc(peer).messages.push(message);
    }

    pub(crate) fn graft(&mut self, peer: PeerId, topic: TopicHash) {
        self.control(peer).graft.push(crate::Graft { topic });
    }

    pub(crate) fn prune(&mut self, peer: PeerId, prune: Prune) {
        self.control(peer).prune.push(prune);
    }

    pub(crate) fn ihave(&mut self, peer: PeerId, ihave: IHave) {
        self.control(peer).ihave.push(ihave);
    }

    pub(crate) fn iwant(&mut self, peer: PeerId, ids: Vec<MessageId>) {
        let control = self.control(peer);
        match control.iwant.first_mut() {
            Some(iwant) => iwant.message_ids.extend(ids),
            None => control.iwant.push(IWant { message_ids: ids }),
        }
    }

    pub(crate) fn idontwant(&mut self, peer: PeerId, id: MessageId) {
        let control = self.control(peer);
        match control.idontwant.first_mut() {
            Some(idontwant) => idontwant.message_ids.push(id),
            None => control.idontwant.push(IDontWant {
                message_ids: vec![id],
            }),
        }
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The events, then one send per peer.
    pub(crate) fn finish(self) -> Vec<Event> {
        let mut events = self.events;
        events.extend(sends(self.rpcs));
        events
    }
}
