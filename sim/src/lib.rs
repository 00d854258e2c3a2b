//! Deterministic simulations of mycel's protocols at thousands of nodes.
//!
//! The protocol crates keep their logic in plain state machines (time and randomness
//! passed in). A simulation runs many of them against a virtual clock: messages are
//! encoded and decoded with the real wire codecs and delivered after a per-link
//! latency; nothing sleeps, so ten thousand nodes run in seconds or minutes and a seed
//! repeats a run exactly.
//!
//! - [`kad`]: a Kademlia network (routing tables, lookups, record store) with joins,
//!   lookups, puts and gets, and nodes leaving without warning.
//! - [`pubsub`]: a floodsub or gossipsub network on one topic, with honest publishers
//!   and optionally adversarial nodes that drop or spam.

pub mod kad;
mod net;
pub mod pubsub;

pub use net::{EventQueue, Latency, Spread};
