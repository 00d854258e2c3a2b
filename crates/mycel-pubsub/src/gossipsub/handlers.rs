//! Handling one received RPC: subscriptions, messages, then control (IDONTWANT, IHAVE,
//! IWANT, GRAFT, PRUNE), as gossipsub-v1.0.md "Message Processing" and the v1.1 and
//! v1.2 extensions describe.

use std::{
    collections::{BTreeSet, HashSet},
    time::Instant,
};

use bytes::Bytes;
use mycel_core::PeerId;
use rand::seq::SliceRandom;

use super::{
    backoff::MAX_PEER_BACKOFF,
    dontwant::MAX_MESSAGE_ID_LEN,
    out::Out,
    router::{Gossipsub, Version, after, choose},
};
use crate::{
    Acceptance, Control, DecodedRpc, Event, Graft, IHave, IWant, InvalidMessage, Message,
    MessageId, Prune, PubsubError, RejectReason, SubOpt, SubscriptionChange, TopicHash,
};

impl Gossipsub {
    /// Handles an RPC from `from`. RPCs of peers we were not given ([`crate::Router::add_peer`])
    /// and of graylisted peers are ignored whole.
    pub(super) fn handle_rpc(
        &mut self,
        from: PeerId,
        decoded: DecodedRpc,
        now: Instant,
        out: &mut Out,
    ) {
        if !self.peers.contains_key(&from) {
            return;
        }
        if self.score(&from, now) < self.thresholds.graylist_threshold {
            return;
        }
        for invalid in decoded.invalid_messages {
            self.on_invalid_message(from, invalid, now, out);
        }
        let rpc = decoded.rpc;
        if !rpc.subscriptions.is_empty() {
            self.on_subscriptions(from, &rpc.subscriptions, now, out);
        }
        for message in rpc.messages {
            self.on_message(from, message, now, out);
        }
        if let Some(control) = rpc.control {
            self.on_control(from, control, now, out);
        }
    }

    /// A message the codec set aside: counted against the sender in its topic (P4).
    fn on_invalid_message(
        &mut self,
        from: PeerId,
        invalid: InvalidMessage,
        now: Instant,
        out: &mut Out,
    ) {
        if let (Some(score), Some(topic)) = (&mut self.score, &invalid.topic) {
            let reason = match invalid.error {
                PubsubError::MessageTooLarge { .. } | PubsubError::TopicTooLong { .. } => {
                    RejectReason::Oversize
                }
                _ => RejectReason::InvalidSignature,
            };
            // No id can be computed for a message that did not decode: the empty id
            // stands for "penalise the sender, remember nothing".
            let id = MessageId::new(Bytes::new());
            score.reject_message(&from, &id, topic, reason, now);
        }
        out.event(Event::Invalid {
            from,
            reason: invalid.error.to_string(),
        });
    }

    fn on_subscriptions(&mut self, from: PeerId, opts: &[SubOpt], now: Instant, out: &mut Out) {
        let outcome = self.subscriptions.on_sub_opts(from, opts);
        for change in outcome.changes {
            match change {
                SubscriptionChange::Subscribed(topic) => {
                    self.maybe_graft_new_subscriber(&topic, from, now, out);
                    out.event(Event::Subscribed { peer: from, topic });
                }
                SubscriptionChange::Unsubscribed(topic) => {
                    self.remove_from_mesh(&topic, &from, now, out);
                    if let Some(fanout) = self.fanout.get_mut(&topic) {
                        fanout.remove(&from);
                    }
                    out.event(Event::Unsubscribed { peer: from, topic });
                }
            }
        }
        if outcome.refused > 0 {
            out.event(Event::Invalid {
                from,
                reason: format!("{} subscriptions over the per-peer limit", outcome.refused),
            });
        }
    }

    /// A peer joined a topic of ours whose mesh is short: graft it now rather than at
    /// the next heartbeat (as rust-libp2p does).
    fn maybe_graft_new_subscriber(
        &mut self,
        topic: &TopicHash,
        peer: PeerId,
        now: Instant,
        out: &mut Out,
    ) {
        let short = self
            .mesh
            .get(topic)
            .is_some_and(|m| m.len() < self.config.d_lo);
        if short
            && self.score(&peer, now) >= 0.0
            && !self.backoffs.is_backed_off(topic, &peer, now, self.slack())
        {
            self.graft_peer(topic, peer, now, out);
        }
    }

    /// One received message: dedup, authenticity, IDONTWANT, application validation,
    /// then delivery and forwarding to the mesh.
    fn on_message(&mut self, from: PeerId, message: Message, now: Instant, out: &mut Out) {
        let topic = message.topic.clone();
        if !self.subscriptions.is_subscribed(&topic) {
            // As go and rust: we relay only topics we are in.
            return;
        }
        let id = (self.config.message_id)(&message);
        if self.seen.contains(&id, now) {
            if let Some(score) = &mut self.score {
                score.duplicate_message(&from, &id, &topic, now);
            }
            return;
        }
        // The signature first: a forged copy must neither mark the id seen nor make us
        // send IDONTWANT for it, or it would shut out the real message.
        if let Err(e) = self.config.validation.validate(&message) {
            if let Some(score) = &mut self.score {
                score.reject_message(&from, &id, &topic, RejectReason::InvalidSignature, now);
            }
            out.event(Event::Invalid {
                from,
                reason: e.to_string(),
            });
            return;
        }
        self.seen.insert(id.clone(), now);
        if let Some(score) = &mut self.score {
            score.validate_message(&from, &id, &topic, now);
        }
        self.promises.fulfil(&id);
        if message.encoded_len() >= self.config.idontwant_message_size_threshold {
            self.send_idontwant(&topic, &id, from, out);
        }
        let acceptance = self
            .config
            .validator
            .as_ref()
            .map_or(Acceptance::Accept, |v| v(&from, &message));
        match acceptance {
            Acceptance::Accept => {
                if let Some(score) = &mut self.score {
                    score.deliver_message(&from, &id, &topic, now);
                }
                self.mcache.put(id.clone(), message.clone());
                self.forward(&message, &id, from, out);
                out.event(Event::Deliver { from, id, message });
            }
            Acceptance::Reject => {
                if let Some(score) = &mut self.score {
                    score.reject_message(&from, &id, &topic, RejectReason::ValidationFailed, now);
                }
                out.event(Event::Invalid {
                    from,
                    reason: "rejected by the application".to_string(),
                });
            }
            Acceptance::Ignore => {
                if let Some(score) = &mut self.score {
                    score.reject_message(&from, &id, &topic, RejectReason::ValidationIgnored, now);
                }
            }
        }
    }

    /// Tells our `/meshsub/1.2.0` mesh peers of `topic` but `from` that we have `id`.
    fn send_idontwant(&mut self, topic: &TopicHash, id: &MessageId, from: PeerId, out: &mut Out) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        for peer in mesh {
            if *peer != from && self.version(peer) >= Version::V1_2 {
                out.idontwant(*peer, id.clone());
            }
        }
    }

    /// Sends a received message to our mesh of its topic, but not to its sender, its
    /// author, or peers that said they have it.
    fn forward(&self, message: &Message, id: &MessageId, from: PeerId, out: &mut Out) {
        let Some(mesh) = self.mesh.get(&message.topic) else {
            return;
        };
        for peer in mesh {
            if *peer == from || Some(*peer) == message.from {
                continue;
            }
            if self
                .peers
                .get(peer)
                .is_some_and(|s| s.dont_want.contains(id))
            {
                continue;
            }
            out.message(*peer, message.clone());
        }
    }

    fn on_control(&mut self, from: PeerId, control: Control, now: Instant, out: &mut Out) {
        if !control.idontwant.is_empty() {
            self.on_idontwant(from, &control);
        }
        if !control.ihave.is_empty() {
            self.on_ihave(from, &control.ihave, now, out);
        }
        if !control.iwant.is_empty() {
            self.on_iwant(from, &control.iwant, now, out);
        }
        if !control.graft.is_empty() {
            self.on_graft(from, &control.graft, now, out);
        }
        if !control.prune.is_empty() {
            self.on_prune(from, control.prune, now, out);
        }
    }

    fn on_idontwant(&mut self, from: PeerId, control: &Control) {
        let (max_rpcs, max_ids) = (
            self.config.max_idontwant_messages,
            self.config.max_idontwant_length,
        );
        let tick = self.ticks;
        if let Some(state) = self.peers.get_mut(&from) {
            let ids = control.idontwant.iter().flat_map(|i| &i.message_ids);
            state.dont_want.record(ids, tick, max_rpcs, max_ids);
        }
    }

    /// IHAVE: ask for the advertised messages we have not seen, within the per-heartbeat
    /// limits, and remember one of them as the advertiser's promise.
    fn on_ihave(&mut self, from: PeerId, ihaves: &[IHave], now: Instant, out: &mut Out) {
        if self.score(&from, now) < self.thresholds.gossip_threshold {
            return;
        }
        let (max_rpcs, max_ids) = (self.config.max_ihave_messages, self.config.max_ihave_length);
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        state.ihave_rpcs += 1;
        if state.ihave_rpcs > max_rpcs || state.iasked >= max_ids {
            return;
        }
        let room = max_ids - state.iasked;
        let mut wanted = Vec::new();
        let mut listed = HashSet::new();
        for ihave in ihaves {
            if !self.mesh.contains_key(&ihave.topic) {
                continue;
            }
            for id in &ihave.message_ids {
                if id.as_bytes().len() <= MAX_MESSAGE_ID_LEN
                    && !self.seen.contains(id, now)
                    && listed.insert(id)
                {
                    wanted.push(id.clone());
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        if wanted.len() > room {
            wanted.shuffle(&mut self.rng);
            wanted.truncate(room);
        }
        if let Some(state) = self.peers.get_mut(&from) {
            state.iasked += wanted.len();
        }
        if let Some(promised) = wanted.choose(&mut self.rng) {
            let deadline = after(now, self.config.iwant_followup_time);
            self.promises.add(from, promised.clone(), deadline);
        }
        out.iwant(from, wanted);
    }

    /// IWANT: send what the cache holds, each message at most `gossip_retransmission`
    /// times to one peer.
    fn on_iwant(&mut self, from: PeerId, iwants: &[IWant], now: Instant, out: &mut Out) {
        if self.score(&from, now) < self.thresholds.gossip_threshold {
            return;
        }
        let mut answered = HashSet::new();
        for id in iwants.iter().flat_map(|i| &i.message_ids) {
            if !answered.insert(id) {
                continue;
            }
            if let Some((message, count)) = self.mcache.get_for_peer(id, &from) {
                if count <= self.config.gossip_retransmission {
                    out.message(from, message.clone());
                }
            }
        }
    }

    /// GRAFT: the peer added us to its mesh. We add it to ours unless we are not in the
    /// topic (ignored), it is backing off from us (penalised), its score is negative or
    /// our mesh is full and it is inbound; a refusal is answered with a PRUNE.
    fn on_graft(&mut self, from: PeerId, grafts: &[Graft], now: Instant, out: &mut Out) {
        let mut topics = BTreeSet::new();
        for graft in grafts {
            // Each topic once, whatever the RPC repeats.
            if !topics.insert(&graft.topic) {
                continue;
            }
            let topic = &graft.topic;
            let Some(mesh) = self.mesh.get(topic) else {
                // Spam hardening (v1.1): no answer for topics we are not in.
                continue;
            };
            if mesh.contains(&from) {
                continue;
            }
            let mesh_len = mesh.len();
            let prune_backoff = self.config.prune_backoff;
            if let Some(end) = self.backoffs.get(topic, &from).filter(|end| *end > now) {
                self.penalise(&from, 1);
                // A GRAFT right after our PRUNE is a flood: a second penalty.
                let pruned_at = end.checked_sub(prune_backoff);
                if pruned_at.is_some_and(|t| now < after(t, self.config.graft_flood_threshold)) {
                    self.penalise(&from, 1);
                }
                self.refuse_graft(topic, from, false, now, out);
                continue;
            }
            if self.score(&from, now) < 0.0 {
                self.refuse_graft(topic, from, false, now, out);
                continue;
            }
            if mesh_len >= self.config.d_hi && !self.is_outbound(&from) {
                self.refuse_graft(topic, from, self.config.do_px, now, out);
                continue;
            }
            self.add_to_mesh(topic, from, now, out);
        }
    }

    fn refuse_graft(
        &mut self,
        topic: &TopicHash,
        peer: PeerId,
        px: bool,
        now: Instant,
        out: &mut Out,
    ) {
        let backoff = self.config.prune_backoff;
        self.backoffs.extend(topic, peer, after(now, backoff));
        let prune = self.make_prune(topic, peer, px, backoff, now);
        out.prune(peer, prune);
    }

    /// PRUNE: the peer dropped us from its mesh. We drop it from ours, back off for the
    /// time it asks (or `prune_backoff`), and follow its peer exchange if its score
    /// reaches `accept_px_threshold`.
    fn on_prune(&mut self, from: PeerId, prunes: Vec<Prune>, now: Instant, out: &mut Out) {
        let mut px = BTreeSet::new();
        let accept_px = self.score(&from, now) >= self.thresholds.accept_px_threshold;
        for prune in prunes {
            if !self.mesh.contains_key(&prune.topic) {
                continue;
            }
            self.remove_from_mesh(&prune.topic, &from, now, out);
            let backoff = match prune.backoff {
                Some(secs) if secs > 0 => {
                    std::time::Duration::from_secs(secs.min(MAX_PEER_BACKOFF.as_secs()))
                }
                _ => self.config.prune_backoff,
            };
            self.backoffs
                .extend(&prune.topic, from, after(now, backoff));
            if accept_px {
                for info in prune.peers {
                    if info.peer_id != from && !self.peers.contains_key(&info.peer_id) {
                        px.insert(info.peer_id);
                    }
                }
            }
        }
        // At most `prune_peers` per RPC, however many PRUNEs it carries.
        let candidates: Vec<PeerId> = px.into_iter().collect();
        for peer in choose(&mut self.rng, candidates, self.config.prune_peers) {
            out.event(Event::Connect { peer });
        }
    }
}
