//! Multiaddr helpers: the `/p2p/<peer-id>` suffix that names who lives at an address, and
//! the IP address an address starts with.

use multiaddr::{Multiaddr, Protocol};
use thiserror::Error;

use crate::PeerId;

/// Why a multiaddr's `/p2p/` part could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrError {
    /// The address already names a different peer.
    #[error("address names peer {found}, not {expected}")]
    PeerMismatch {
        /// The peer that was to be added.
        expected: PeerId,
        /// The peer the address already carries.
        found: PeerId,
    },
    /// The `/p2p/` component is not a valid PeerId.
    #[error("invalid /p2p/ component")]
    InvalidPeerId,
}

fn to_multiaddr_peer(peer: &PeerId) -> multiaddr::PeerId {
    multiaddr::PeerId::from_bytes(peer.as_bytes()).expect("a mycel PeerId is a valid multihash")
}

fn from_multiaddr_peer(peer: &multiaddr::PeerId) -> Result<PeerId, AddrError> {
    PeerId::from_bytes(&peer.to_bytes()).map_err(|_| AddrError::InvalidPeerId)
}

/// The multiaddr `/p2p/<peer>` component.
pub fn p2p_protocol(peer: &PeerId) -> Protocol<'static> {
    Protocol::P2p(to_multiaddr_peer(peer))
}

/// Splits a trailing `/p2p/<peer>` off `addr`: `(transport address, peer)`.
pub fn split_peer_id(addr: &Multiaddr) -> Result<(Multiaddr, Option<PeerId>), AddrError> {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => Ok((base, Some(from_multiaddr_peer(&peer)?))),
        _ => Ok((addr.clone(), None)),
    }
}

/// `addr` with `/p2p/<peer>` appended, unless it already ends with it. An address that
/// already names another peer is an error.
pub fn with_peer_id(addr: &Multiaddr, peer: &PeerId) -> Result<Multiaddr, AddrError> {
    match split_peer_id(addr)? {
        (_, Some(found)) if found == *peer => Ok(addr.clone()),
        (_, Some(found)) => Err(AddrError::PeerMismatch {
            expected: *peer,
            found,
        }),
        (base, None) => Ok(base.with(p2p_protocol(peer))),
    }
}

/// The IP address `addr` starts with (`/ip4/..` or `/ip6/..`), if it starts with one.
///
/// ```
/// use mycel_core::{Multiaddr, addr::ip_of};
/// let addr: Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse().unwrap();
/// assert_eq!(ip_of(&addr), Some("192.0.2.7".parse().unwrap()));
/// assert_eq!(ip_of(&"/memory/7".parse().unwrap()), None);
/// ```
pub fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_strips_p2p_suffix() {
        let peer = PeerId::random();
        let base: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let full = with_peer_id(&base, &peer).unwrap();
        assert_eq!(
            full.to_string(),
            format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}")
        );
        assert_eq!(with_peer_id(&full, &peer).unwrap(), full, "idempotent");
        assert_eq!(split_peer_id(&full).unwrap(), (base.clone(), Some(peer)));
        assert_eq!(split_peer_id(&base).unwrap(), (base, None));
    }

    #[test]
    fn refuses_a_second_peer() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let addr = with_peer_id(&"/memory/5".parse().unwrap(), &a).unwrap();
        assert_eq!(
            with_peer_id(&addr, &b),
            Err(AddrError::PeerMismatch {
                expected: b,
                found: a
            })
        );
    }
}
