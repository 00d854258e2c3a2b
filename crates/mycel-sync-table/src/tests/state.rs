//! The state machine: order, tombstones, clock, leases, bounds, snapshots.

use std::time::Duration;

use bytes::Bytes;
use mycel_core::PeerId;

use super::*;

#[test]
fn local_writes_apply_and_remote_replicas_take_them() {
    let (a, b) = (peer(1), peer(2));
    let mut sa = SyncTableState::new(a);
    let mut sb = SyncTableState::new(b);
    let u = sa.set("k", &b"v1"[..], 10).unwrap();
    assert_eq!(sa.get("k").unwrap(), &b"v1"[..]);
    assert_eq!((u.entry.clock, u.entry.writer, u.entry.time_ms), (1, a, 10));
    assert_eq!(sb.apply(u, a), ApplyOutcome::Applied);
    assert_eq!(entries(&sa), entries(&sb));
}

#[test]
fn higher_clock_wins_regardless_of_arrival() {
    let (a, b) = (peer(1), peer(2));
    let old = update("k", Some("old"), 5, b);
    let new = update("k", Some("new"), 6, a);
    let mut s = SyncTableState::new(peer(9));
    assert_eq!(s.apply(new.clone(), a), ApplyOutcome::Applied);
    assert_eq!(
        s.apply(old.clone(), b),
        ApplyOutcome::Ignored(IgnoreReason::Stale)
    );
    assert_eq!(s.get("k").unwrap(), &b"new"[..]);
    assert_eq!(
        s.apply(new, a),
        ApplyOutcome::Ignored(IgnoreReason::Duplicate)
    );
}

#[test]
fn equal_clocks_tie_break_on_larger_peer_id_bytes() {
    let low = update("k", Some("low"), 7, peer(1));
    let high = update("k", Some("high"), 7, peer(2));
    for order in [[&low, &high], [&high, &low]] {
        let mut s = SyncTableState::new(peer(9));
        for u in order {
            s.apply(u.clone(), u.entry.writer);
        }
        assert_eq!(s.get("k").unwrap(), &b"high"[..]);
    }
    // Bytes, not length first: a shorter id with a larger first differing byte wins.
    let short = PeerId::from_bytes(&[0, 1, 9]).unwrap();
    let long = PeerId::from_bytes(&[0, 2, 1, 1]).unwrap();
    let s = replica_of(
        peer(9),
        &[
            update("k", Some("short"), 3, short),
            update("k", Some("long"), 3, long),
        ],
    );
    assert_eq!(s.get("k").unwrap(), &b"long"[..], "[0,2,..] > [0,1,..]");
}

#[test]
fn tombstone_beats_older_writes_arriving_late() {
    let (a, b) = (peer(1), peer(2));
    let mut sa = SyncTableState::new(a);
    let set = sa.set("k", &b"v"[..], 10).unwrap();
    let del = sa.delete("k", 20).unwrap();
    assert!(sa.entry("k").unwrap().is_tombstone());
    assert_eq!(sa.get("k"), None);
    let mut sb = SyncTableState::new(b);
    assert_eq!(sb.apply(del, a), ApplyOutcome::Applied);
    assert_eq!(sb.apply(set, a), ApplyOutcome::Ignored(IgnoreReason::Stale));
    assert_eq!(sb.get("k"), None);
    assert_eq!(entries(&sa), entries(&sb));
}

#[test]
fn delete_of_unseen_key_still_shields_it_from_older_writes() {
    let mut s = SyncTableState::new(peer(1));
    s.apply(update("other", Some("x"), 4, peer(2)), peer(2));
    s.delete("k", 10).unwrap();
    let late = update("k", Some("late"), 3, peer(2));
    assert_eq!(
        s.apply(late, peer(2)),
        ApplyOutcome::Ignored(IgnoreReason::Stale)
    );
}

#[test]
fn tombstones_expire_after_ttl_and_then_older_writes_come_back() {
    let mut s = SyncTableState::new(peer(1));
    s.apply(update("k", Some("v"), 1, peer(2)), peer(2));
    let t = 1_000;
    s.delete("k", t).unwrap();
    let ttl = TOMBSTONE_TTL.as_millis() as u64;
    assert_eq!(s.expire_tombstones(t + ttl - 1), 0, "kept before the ttl");
    assert_eq!(
        s.apply(update("k", Some("v"), 1, peer(2)), peer(2)),
        ApplyOutcome::Ignored(IgnoreReason::Stale)
    );
    assert_eq!(s.expire_tombstones(t + ttl), 1);
    assert!(s.is_empty());
    // The documented cost: an older write delivered after the ttl resurrects the key.
    assert_eq!(
        s.apply(update("k", Some("v"), 1, peer(2)), peer(2)),
        ApplyOutcome::Applied
    );
}

#[test]
fn incoming_updates_advance_the_lamport_clock() {
    let mut s = SyncTableState::new(peer(1));
    s.apply(update("x", Some("v"), 41, peer(2)), peer(2));
    // A stale update still tells us of its clock.
    s.apply(update("y", Some("v"), 50, peer(2)), peer(2));
    s.apply(update("y", Some("w"), 45, peer(3)), peer(3));
    assert_eq!(s.clock(), 50);
    let u = s.set("z", &b"v"[..], 0).unwrap();
    assert_eq!(u.entry.clock, 51);
    assert_eq!(s.clock(), 51);
}

#[test]
fn invalid_updates_do_not_advance_the_clock() {
    let mut s = SyncTableState::new(peer(1));
    let mut bad = update("k", Some("v"), 1_000, peer(2));
    bad.entry.lease = Some(Lease {
        owner: peer(3),
        expires_ms: 2_000,
    });
    assert_eq!(
        s.apply(bad, peer(2)),
        ApplyOutcome::Ignored(IgnoreReason::ForeignLease)
    );
    assert_eq!(s.clock(), 0);
}

#[test]
fn clock_at_max_refuses_local_writes() {
    let mut s = SyncTableState::new(peer(1));
    s.apply(update("k", Some("v"), u64::MAX, peer(2)), peer(2));
    assert!(matches!(
        s.set("other", &b"v"[..], 0),
        Err(SyncTableError::ClockExhausted)
    ));
    assert!(s.get("other").is_none());
}

#[test]
fn update_from_another_author_than_its_writer_is_ignored() {
    let mut s = SyncTableState::new(peer(1));
    let forged = update("k", Some("v"), 1, peer(2));
    assert_eq!(
        s.apply(forged, peer(3)),
        ApplyOutcome::Ignored(IgnoreReason::WriterMismatch)
    );
    assert!(s.is_empty());
}

#[test]
fn lease_refuses_other_local_writers_until_expiry() {
    let (a, b) = (peer(1), peer(2));
    let mut sa = SyncTableState::new(a);
    let mut sb = SyncTableState::new(b);
    let acquire = sa.acquire_lease("k", MINUTE, 1_000).unwrap();
    let expires = 1_000 + 60_000;
    assert_eq!(
        acquire.entry.lease,
        Some(Lease {
            owner: a,
            expires_ms: expires
        })
    );
    sb.apply(acquire, a);
    let held = |r: Result<Update, SyncTableError>| {
        matches!(r, Err(SyncTableError::LeaseHeld { owner, expires_ms })
            if owner == a && expires_ms == expires)
    };
    assert!(held(sb.set("k", &b"v"[..], expires - 1)));
    assert!(held(sb.delete("k", expires - 1)));
    assert!(held(sb.acquire_lease("k", MINUTE, expires - 1)));
    assert!(matches!(
        sb.release_lease("k", expires - 1),
        Err(SyncTableError::NotLeaseHolder)
    ));
    assert!(
        sb.entry("k").unwrap().lease.unwrap().owner == a,
        "nothing changed"
    );

    // The owner writes freely and keeps its lease.
    let own = sa.set("k", &b"mine"[..], 2_000).unwrap();
    assert_eq!(own.entry.lease.unwrap().expires_ms, expires);
    assert_eq!(sb.apply(own, a), ApplyOutcome::Applied);

    // Expiry frees the key.
    let u = sb.set("k", &b"theirs"[..], expires).unwrap();
    assert_eq!(u.entry.lease, None);
    assert_eq!(sa.apply(u, b), ApplyOutcome::Applied);
    assert_eq!(sa.get("k").unwrap(), &b"theirs"[..]);
    assert_eq!(entries(&sa), entries(&sb));
}

#[test]
fn release_frees_the_key_for_others() {
    let (a, b) = (peer(1), peer(2));
    let mut sa = SyncTableState::new(a);
    let mut sb = SyncTableState::new(b);
    sa.set("k", &b"v"[..], 0).unwrap();
    let acquire = sa.acquire_lease("k", MINUTE, 1_000).unwrap();
    assert_eq!(
        acquire.entry.value.as_deref(),
        Some(&b"v"[..]),
        "value kept"
    );
    sb.apply(acquire, a);
    let release = sa.release_lease("k", 2_000).unwrap();
    assert_eq!(release.entry.lease, None);
    assert_eq!(release.entry.value.as_deref(), Some(&b"v"[..]));
    assert!(matches!(
        sa.release_lease("k", 2_001),
        Err(SyncTableError::NotLeaseHolder)
    ));
    sb.apply(release, a);
    assert!(sb.set("k", &b"w"[..], 2_001).is_ok());
}

#[test]
fn lease_duration_must_be_positive_and_bounded() {
    let mut s = SyncTableState::new(peer(1));
    for d in [
        Duration::ZERO,
        MAX_LEASE_DURATION + Duration::from_millis(1),
    ] {
        assert!(matches!(
            s.acquire_lease("k", d, 0),
            Err(SyncTableError::InvalidLeaseDuration(got)) if got == d
        ));
    }
    assert!(matches!(
        s.acquire_lease("k", MINUTE, u64::MAX - 1),
        Err(SyncTableError::InvalidLeaseDuration(_))
    ));
    assert!(s.acquire_lease("k", MAX_LEASE_DURATION, 0).is_ok());
}

#[test]
fn remote_update_breaking_a_lease_its_writer_saw_is_ignored() {
    let (a, b) = (peer(1), peer(2));
    let lease = Lease {
        owner: a,
        expires_ms: 5_000,
    };
    // b's replica showed a's lease and b wrote anyway (a peer that skips the local check).
    let mut violating = update("k", Some("v"), 9, b);
    violating.entry.time_ms = 4_999;
    violating.seen_lease = Some(lease);
    let mut s = SyncTableState::new(peer(9));
    assert_eq!(
        s.apply(violating.clone(), b),
        ApplyOutcome::Ignored(IgnoreReason::LeaseViolated {
            owner: a,
            expires_ms: 5_000
        })
    );
    // At or after expiry the same write is fair.
    violating.entry.time_ms = 5_000;
    assert_eq!(s.apply(violating, b), ApplyOutcome::Applied);
}

#[test]
fn remote_lease_for_another_peer_or_out_of_range_is_ignored() {
    let (a, b) = (peer(1), peer(2));
    let with_lease = |owner, expires_ms| {
        let mut u = update("k", Some("v"), 3, b);
        u.entry.lease = Some(Lease { owner, expires_ms });
        u
    };
    let max = MAX_LEASE_DURATION.as_millis() as u64;
    let mut s = SyncTableState::new(peer(9));
    let cases = [
        (with_lease(a, 2_000), IgnoreReason::ForeignLease),
        (with_lease(b, 1_000), IgnoreReason::LeaseOutOfRange),
        (
            with_lease(b, 1_000 + max + 1),
            IgnoreReason::LeaseOutOfRange,
        ),
    ];
    for (u, reason) in cases {
        assert_eq!(s.apply(u, b), ApplyOutcome::Ignored(reason));
    }
    assert_eq!(
        s.apply(with_lease(b, 1_000 + max), b),
        ApplyOutcome::Applied
    );
}

#[test]
fn concurrent_acquisitions_leave_the_higher_rank_holding_everywhere() {
    let (a, b) = (peer(1), peer(2));
    let mut sa = SyncTableState::new(a);
    let mut sb = SyncTableState::new(b);
    let ua = sa.acquire_lease("k", MINUTE, 0).unwrap();
    let ub = sb.acquire_lease("k", MINUTE, 0).unwrap();
    assert_eq!(ua.entry.clock, ub.entry.clock);
    sa.apply(ub.clone(), b);
    sb.apply(ua, a);
    assert_eq!(entries(&sa), entries(&sb));
    assert_eq!(sa.entry("k").unwrap().lease.unwrap().owner, b);
    assert!(matches!(
        sa.set("k", &b"v"[..], 1),
        Err(SyncTableError::LeaseHeld { owner, .. }) if owner == b
    ));
}

#[test]
fn concurrent_write_outranking_a_lease_replaces_it_on_every_replica() {
    // The documented limit of optimistic leases: c writes without having seen a's lease.
    let (a, c) = (peer(1), peer(3));
    let mut sa = SyncTableState::new(a);
    let mut sc = SyncTableState::new(c);
    let acquire = sa.acquire_lease("k", MINUTE, 0).unwrap();
    sc.set("j", &b"x"[..], 0).unwrap();
    let write = sc.set("k", &b"c"[..], 10).unwrap();
    assert!(write.entry.clock > acquire.entry.clock);
    let first = replica_of(peer(9), &[acquire.clone(), write.clone()]);
    let second = replica_of(peer(9), &[write, acquire]);
    assert_eq!(entries(&first), entries(&second));
    assert_eq!(first.get("k").unwrap(), &b"c"[..]);
    assert_eq!(first.entry("k").unwrap().lease, None);
}

#[test]
fn lease_taken_over_an_expired_one_is_valid_everywhere() {
    let (a, b) = (peer(1), peer(2));
    let mut sa = SyncTableState::new(a);
    let mut sb = SyncTableState::new(b);
    let first = sa.acquire_lease("k", MINUTE, 0).unwrap();
    sb.apply(first, a);
    let second = sb.acquire_lease("k", MINUTE, 60_000).unwrap();
    assert_eq!(second.seen_lease.unwrap().owner, a);
    assert_eq!(sa.apply(second, b), ApplyOutcome::Applied);
    assert_eq!(sa.entry("k").unwrap().lease.unwrap().owner, b);
}

#[test]
fn bounds_refuse_long_keys_large_values_and_new_keys_when_full() {
    let mut s = SyncTableState::with_max_keys(peer(1), 2);
    let long = "k".repeat(MAX_TABLE_KEY_LEN + 1);
    assert!(matches!(
        s.set(long.clone(), &b"v"[..], 0),
        Err(SyncTableError::KeyTooLong { len, max: MAX_TABLE_KEY_LEN }) if len == MAX_TABLE_KEY_LEN + 1
    ));
    let big = Bytes::from(vec![0; MAX_TABLE_VALUE_SIZE + 1]);
    assert!(matches!(
        s.set("k", big.clone(), 0),
        Err(SyncTableError::ValueTooLarge { .. })
    ));
    assert!(s.set("k", vec![0; MAX_TABLE_VALUE_SIZE], 0).is_ok());
    s.delete("d", 0).unwrap();
    assert!(matches!(
        s.set("third", &b"v"[..], 0),
        Err(SyncTableError::TableFull { max: 2 })
    ));
    assert!(s.set("k", &b"still writable"[..], 0).is_ok());

    let mut remote = update("x", Some("v"), 1, peer(2));
    assert_eq!(
        s.apply(remote.clone(), peer(2)),
        ApplyOutcome::Ignored(IgnoreReason::TableFull)
    );
    remote.key = long;
    assert_eq!(
        s.apply(remote.clone(), peer(2)),
        ApplyOutcome::Ignored(IgnoreReason::KeyTooLong)
    );
    remote.key = "k".into();
    remote.entry.value = Some(big);
    assert_eq!(
        s.apply(remote, peer(2)),
        ApplyOutcome::Ignored(IgnoreReason::ValueTooLarge)
    );
}

#[test]
fn catch_up_by_snapshot_pages_yields_the_same_state() {
    let mut source = SyncTableState::new(peer(1));
    for i in 0..50u32 {
        let value = vec![i as u8; 1000 + i as usize * 100];
        source
            .set(format!("key-{i:02}"), value, u64::from(i))
            .unwrap();
    }
    source.delete("key-07", 100).unwrap();
    source.acquire_lease("key-08", MINUTE, 100).unwrap();

    let mut whole = SyncTableState::new(peer(2));
    let report = whole.merge(source.snapshot());
    assert_eq!((report.applied, report.ignored), (50, 0));
    assert_eq!(entries(&whole), entries(&source));
    assert!(whole.clock() >= source.clock(), "merge advances the clock");

    let mut paged = SyncTableState::new(peer(3));
    let (mut cursor, mut pages) = (None::<String>, 0);
    loop {
        let page = source.snapshot_page(cursor.as_deref(), 8 * 1024, 1000);
        let bytes = encode_snapshot_response(&page);
        assert!(bytes.len() <= 8 * 1024 || page.entries.len() == 1);
        let page = decode_snapshot_response(Bytes::from(bytes)).unwrap();
        cursor = page.entries.last().map(|u| u.key.clone());
        paged.merge(page.entries);
        pages += 1;
        if !page.more {
            break;
        }
    }
    assert!(pages > 5, "pages were split by size: {pages}");
    assert_eq!(entries(&paged), entries(&source));
    let counted = source.snapshot_page(None, usize::MAX, 7);
    assert_eq!((counted.entries.len(), counted.more), (7, true));
    let last = source.snapshot_page(Some("key-49"), usize::MAX, 7);
    assert_eq!((last.entries.len(), last.more), (0, false));
}
