//! The iterative lookup as a state machine: no IO, no clock, no tasks.
//!
//! A [`Lookup`] keeps the candidates it has heard of sorted by distance to the target.
//! [`Lookup::poll`] says whom to ask next (at most `alpha` requests in flight) or that
//! the lookup is over; the caller performs the requests and reports each outcome with
//! [`Lookup::on_success`] or [`Lookup::on_failure`]. A request outstanding past its
//! deadline stops counting against `alpha`, so a slow peer does not stall the lookup,
//! but its answer is still used if it comes.
//!
//! The lookup ends when the `k` closest peers it knows of (not counting peers that
//! failed or timed out) have all answered, or when nobody is left to ask.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use mycel_core::PeerId;

use crate::{ALPHA_VALUE, DEFAULT_REQUEST_TIMEOUT, Distance, K_VALUE, Key};

/// Parameters of one lookup.
#[derive(Debug, Clone, Copy)]
pub struct LookupConfig {
    /// Peers that must answer for the lookup to end (the result size).
    pub k: usize,
    /// Requests in flight at once.
    pub alpha: usize,
    /// How long a request may take before the lookup stops waiting for it.
    pub request_timeout: Duration,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            k: K_VALUE,
            alpha: ALPHA_VALUE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotContacted,
    Waiting {
        deadline: Instant,
    },
    /// Past its deadline; an answer is still welcome.
    Late,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    peer: PeerId,
    state: State,
    /// Requests on the chain that led to this peer (0 for peers we started from).
    depth: u32,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupPoll {
    /// Send a request to each of these peers (may be empty: wait for answers or for
    /// [`Lookup::next_deadline`]).
    Send(Vec<PeerId>),
    /// The lookup is over.
    Finished,
}

/// Counters of one lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Requests sent.
    pub requests: usize,
    /// Requests answered.
    pub successes: usize,
    /// Requests failed (including those timed out and never answered).
    pub failures: usize,
    /// Requests on the chain that found the closest peer that answered (1 when it was
    /// one we started from).
    pub hops: u32,
}

/// One iterative lookup towards a key.
#[derive(Debug, Clone)]
pub struct Lookup {
    target: Key,
    config: LookupConfig,
    candidates: BTreeMap<Distance, Candidate>,
    distances: HashMap<PeerId, Distance>,
    in_flight: usize,
    requests: usize,
    successes: usize,
    failures: usize,
    finished: bool,
}

/// Candidates kept at most, so a flood of peer entries cannot grow a lookup without
/// bound (the farthest are dropped).
const MAX_CANDIDATES: usize = 1024;

impl Lookup {
    /// A lookup towards `target` starting from `seeds` (usually the `k` closest peers of
    /// the routing table).
    pub fn new(target: Key, seeds: impl IntoIterator<Item = PeerId>, config: LookupConfig) -> Self {
        let mut lookup = Lookup {
            target,
            config: LookupConfig {
                k: config.k.max(1),
                alpha: config.alpha.max(1),
                ..config
            },
            candidates: BTreeMap::new(),
            distances: HashMap::new(),
            in_flight: 0,
            requests: 0,
            successes: 0,
            failures: 0,
            finished: false,
        };
        for peer in seeds {
            lookup.add_candidate(peer, 0);
        }
        lookup
    }

    /// The key looked up.
    pub fn target(&self) -> &Key {
        &self.target
    }

    /// The lookup's parameters.
    pub fn config(&self) -> &LookupConfig {
        &self.config
    }

    fn add_candidate(&mut self, peer: PeerId, depth: u32) {
        if let Some(d) = self.distances.get(&peer) {
            if let Some(c) = self.candidates.get_mut(d) {
                c.depth = c.depth.min(depth);
            }
            return;
        }
        let distance = self.target.distance(&Key::from_peer(&peer));
        if self.candidates.len() >= MAX_CANDIDATES {
            // Make room by dropping the farthest candidate not yet asked (or failed),
            // if it is farther than the newcomer.
            let farthest = self
                .candidates
                .iter()
                .rev()
                .find(|(_, c)| matches!(c.state, State::NotContacted | State::Failed))
                .map(|(d, _)| *d);
            let Some(farthest) = farthest.filter(|f| *f > distance) else {
                return;
            };
            if let Some(gone) = self.candidates.remove(&farthest) {
                self.distances.remove(&gone.peer);
            }
        }
        self.distances.insert(peer, distance);
        self.candidates.insert(
            distance,
            Candidate {
                peer,
                state: State::NotContacted,
                depth,
            },
        );
    }

    fn candidate_mut(&mut self, peer: &PeerId) -> Option<&mut Candidate> {
        let d = self.distances.get(peer)?;
        self.candidates.get_mut(d)
    }

    /// Marks requests past their deadline as late, then says whom to ask next or that
    /// the lookup is over.
    pub fn poll(&mut self, now: Instant) -> LookupPoll {
        if self.finished {
            return LookupPoll::Finished;
        }
        for c in self.candidates.values_mut() {
            if let State::Waiting { deadline } = c.state {
                if now >= deadline {
                    c.state = State::Late;
                    self.in_flight -= 1;
                }
            }
        }
        let mut send = Vec::new();
        let mut answered = 0;
        let mut pending = 0;
        for c in self.candidates.values_mut() {
            match c.state {
                State::Failed | State::Late => continue,
                State::Succeeded => answered += 1,
                State::Waiting { .. } => pending += 1,
                State::NotContacted => {
                    if self.in_flight < self.config.alpha {
                        c.state = State::Waiting {
                            deadline: now + self.config.request_timeout,
                        };
                        self.in_flight += 1;
                        self.requests += 1;
                        send.push(c.peer);
                    }
                    pending += 1;
                }
            }
            if answered + pending >= self.config.k {
                break;
            }
        }
        if pending == 0 && self.in_flight == 0 {
            self.finished = true;
            return LookupPoll::Finished;
        }
        LookupPoll::Send(send)
    }

    /// When the next in-flight request times out, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.candidates
            .values()
            .filter_map(|c| match c.state {
                State::Waiting { deadline } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// `peer` answered with the peers it knows closer to the target.
    pub fn on_success(&mut self, peer: &PeerId, closer: impl IntoIterator<Item = PeerId>) {
        let Some(c) = self.candidate_mut(peer) else {
            return;
        };
        let was_waiting = matches!(c.state, State::Waiting { .. });
        if !matches!(c.state, State::Waiting { .. } | State::Late) {
            return;
        }
        c.state = State::Succeeded;
        let depth = c.depth + 1;
        if was_waiting {
            self.in_flight -= 1;
        }
        self.successes += 1;
        if self.finished {
            return;
        }
        let local = *peer;
        for p in closer {
            if p != local {
                self.add_candidate(p, depth);
            }
        }
    }

    /// A request to `peer` failed.
    pub fn on_failure(&mut self, peer: &PeerId) {
        let Some(c) = self.candidate_mut(peer) else {
            return;
        };
        let was_waiting = matches!(c.state, State::Waiting { .. });
        if !matches!(c.state, State::Waiting { .. } | State::Late) {
            return;
        }
        c.state = State::Failed;
        if was_waiting {
            self.in_flight -= 1;
        }
        self.failures += 1;
    }

    /// Ends the lookup now (a get that reached its quorum).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether the lookup is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a request to `peer` is outstanding (in flight or late).
    pub fn is_waiting_on(&self, peer: &PeerId) -> bool {
        self.distances
            .get(peer)
            .and_then(|d| self.candidates.get(d))
            .is_some_and(|c| matches!(c.state, State::Waiting { .. } | State::Late))
    }

    /// Requests on the chain that led to `peer`, counting the request to `peer` itself
    /// (1 for a peer we started from).
    pub fn hops_to(&self, peer: &PeerId) -> Option<u32> {
        let d = self.distances.get(peer)?;
        self.candidates.get(d).map(|c| c.depth + 1)
    }

    /// Up to `k` peers that answered, nearest first: the lookup's result.
    pub fn closest_succeeded(&self) -> Vec<PeerId> {
        self.candidates
            .values()
            .filter(|c| c.state == State::Succeeded)
            .take(self.config.k)
            .map(|c| c.peer)
            .collect()
    }

    /// The lookup's counters.
    pub fn stats(&self) -> LookupStats {
        let hops = self
            .candidates
            .values()
            .find(|c| c.state == State::Succeeded)
            .map_or(0, |c| c.depth + 1);
        let late = self
            .candidates
            .values()
            .filter(|c| c.state == State::Late)
            .count();
        LookupStats {
            requests: self.requests,
            successes: self.successes,
            failures: self.failures + late,
            hops,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn config(k: usize, alpha: usize) -> LookupConfig {
        LookupConfig {
            k,
            alpha,
            request_timeout: Duration::from_secs(10),
        }
    }

    fn sent(poll: LookupPoll) -> Vec<PeerId> {
        match poll {
            LookupPoll::Send(peers) => peers,
            LookupPoll::Finished => panic!("finished too early"),
        }
    }

    #[test]
    fn no_seeds_finishes_at_once() {
        let mut lookup = Lookup::new(Key::new(&b"t"[..]), [], config(20, 3));
        assert_eq!(lookup.poll(Instant::now()), LookupPoll::Finished);
    }

    #[test]
    fn at_most_alpha_requests_in_flight_nearest_first() {
        let target = Key::new(&b"t"[..]);
        let seeds: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        let mut lookup = Lookup::new(target.clone(), seeds.clone(), config(20, 3));
        let now = Instant::now();
        let first = sent(lookup.poll(now));
        assert_eq!(first.len(), 3);
        let mut by_distance = seeds.clone();
        by_distance.sort_by_key(|p| target.distance(&Key::from_peer(p)));
        assert_eq!(first, by_distance[..3]);
        assert!(sent(lookup.poll(now)).is_empty(), "all slots busy");
        lookup.on_success(&first[0], []);
        assert_eq!(sent(lookup.poll(now)), vec![by_distance[3]]);
    }

    #[test]
    fn ends_when_the_k_closest_have_answered() {
        let target = Key::new(&b"t"[..]);
        let seeds: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        let mut lookup = Lookup::new(target, seeds, config(2, 1));
        let now = Instant::now();
        let a = sent(lookup.poll(now));
        lookup.on_success(&a[0], []);
        let b = sent(lookup.poll(now));
        lookup.on_success(&b[0], []);
        assert_eq!(lookup.poll(now), LookupPoll::Finished);
        assert_eq!(lookup.stats().requests, 2, "farther seeds never asked");
        assert_eq!(lookup.closest_succeeded(), vec![a[0], b[0]]);
    }

    #[test]
    fn a_slow_peer_frees_its_slot_but_its_late_answer_counts() {
        let target = Key::new(&b"t"[..]);
        let seeds: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let mut lookup = Lookup::new(target, seeds, config(3, 1));
        let now = Instant::now();
        let slow = sent(lookup.poll(now))[0];
        assert_eq!(lookup.next_deadline(), Some(now + Duration::from_secs(10)));
        let later = now + Duration::from_secs(11);
        let next = sent(lookup.poll(later));
        assert_eq!(
            next.len(),
            1,
            "the timed-out request no longer holds the slot"
        );
        assert!(lookup.is_waiting_on(&slow));
        let newcomer = PeerId::random();
        lookup.on_success(&slow, [newcomer]);
        assert_eq!(lookup.stats().successes, 1);
        assert!(lookup.distances.contains_key(&newcomer));
    }

    #[test]
    fn failures_are_replaced_by_farther_candidates() {
        let target = Key::new(&b"t"[..]);
        let seeds: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        let mut lookup = Lookup::new(target, seeds, config(2, 2));
        let now = Instant::now();
        let first = sent(lookup.poll(now));
        lookup.on_failure(&first[0]);
        lookup.on_failure(&first[1]);
        let second = sent(lookup.poll(now));
        assert_eq!(second.len(), 2);
        assert!(second.iter().all(|p| !first.contains(p)));
        for p in &second {
            lookup.on_success(p, []);
        }
        assert_eq!(lookup.poll(now), LookupPoll::Finished);
        assert_eq!(lookup.stats().failures, 2);
    }

    #[test]
    fn hops_count_the_chain_to_the_closest_answer() {
        let target = Key::new(&b"t"[..]);
        let seed = PeerId::random();
        let mut lookup = Lookup::new(target.clone(), [seed], config(1, 1));
        let now = Instant::now();
        sent(lookup.poll(now));
        // Find a peer closer than the seed.
        let seed_d = target.distance(&Key::from_peer(&seed));
        let closer = std::iter::repeat_with(PeerId::random)
            .find(|p| target.distance(&Key::from_peer(p)) < seed_d)
            .unwrap();
        lookup.on_success(&seed, [closer]);
        assert_eq!(sent(lookup.poll(now)), vec![closer]);
        lookup.on_success(&closer, []);
        assert_eq!(lookup.poll(now), LookupPoll::Finished);
        assert_eq!(lookup.stats().hops, 2);
    }

    #[test]
    fn answers_from_strangers_and_repeats_are_ignored() {
        let mut lookup = Lookup::new(Key::new(&b"t"[..]), [PeerId::random()], config(1, 1));
        let now = Instant::now();
        let p = sent(lookup.poll(now))[0];
        lookup.on_success(&PeerId::random(), [PeerId::random()]);
        lookup.on_success(&p, []);
        lookup.on_success(&p, []);
        lookup.on_failure(&p);
        assert_eq!(lookup.stats().successes, 1);
        assert_eq!(lookup.stats().failures, 0);
    }

    #[test]
    fn candidate_list_is_bounded() {
        let mut lookup = Lookup::new(Key::new(&b"t"[..]), [PeerId::random()], config(20, 1));
        let now = Instant::now();
        let p = sent(lookup.poll(now))[0];
        lookup.on_success(&p, (0..5000).map(|_| PeerId::random()));
        assert!(lookup.candidates.len() <= MAX_CANDIDATES);
        assert_eq!(lookup.candidates.len(), lookup.distances.len());
    }

    /// A network of `n` peers where every peer knows everyone: a lookup must find
    /// exactly the true k closest.
    fn true_closest(all: &[PeerId], target: &Key, k: usize) -> Vec<PeerId> {
        let mut v = all.to_vec();
        v.sort_by_key(|p| target.distance(&Key::from_peer(p)));
        v.truncate(k);
        v
    }

    proptest! {
        #[test]
        fn full_knowledge_lookup_finds_the_true_k_closest(n in 1usize..60, k in 1usize..8, alpha in 1usize..4, seed_count in 1usize..5) {
            let all: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
            let target = Key::new(&b"target"[..]);
            let mut lookup = Lookup::new(target.clone(), all.iter().take(seed_count).copied(), config(k, alpha));
            let now = Instant::now();
            let mut asked = HashSet::new();
            loop {
                match lookup.poll(now) {
                    LookupPoll::Finished => break,
                    LookupPoll::Send(peers) => {
                        prop_assert!(!peers.is_empty(), "nothing in flight yet nothing to send");
                        for p in peers {
                            prop_assert!(asked.insert(p), "asked twice");
                            let closest = true_closest(&all, &target, k);
                            lookup.on_success(&p, closest);
                        }
                    }
                }
            }
            prop_assert_eq!(lookup.closest_succeeded(), true_closest(&all, &target, k));
        }
    }
}
