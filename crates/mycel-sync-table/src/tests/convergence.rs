//! Convergence under any delivery order, as property tests.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

/// An arbitrary update over a small space of keys, clocks, writers and times, so that
/// collisions, ties, leases and violations all occur.
pub(super) fn arb_update() -> impl Strategy<Value = Update> {
    let lease = (1u8..4, 0u64..200).prop_map(|(o, expires_ms)| Lease {
        owner: peer(o),
        expires_ms,
    });
    (
        prop::sample::select(vec!["a", "b", "c"]),
        prop::option::of(prop::sample::select(vec!["x", "y", ""])),
        0u64..6,
        1u8..4,
        0u64..150,
        prop::option::of(lease.clone()),
        prop::option::of(lease),
    )
        .prop_map(
            |(key, value, clock, w, time_ms, lease, seen_lease)| Update {
                key: key.into(),
                entry: Entry {
                    value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                    clock,
                    writer: peer(w),
                    time_ms,
                    lease,
                },
                seen_lease,
            },
        )
}

/// One step of three replicas writing and exchanging updates with delays.
#[derive(Debug, Clone)]
enum Step {
    /// Replica `r` writes (`op` picks set, delete, acquire, release) at its time.
    Write {
        r: usize,
        op: u8,
        key: u8,
        value: u8,
    },
    /// Replica `r` receives its `n` oldest pending updates.
    Deliver { r: usize, n: usize },
    /// Time passes by this many ms.
    Tick(u64),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..3, 0u8..4, 0u8..3, any::<u8>()).prop_map(|(r, op, key, value)| Step::Write {
            r,
            op,
            key,
            value
        }),
        (0usize..3, 0usize..4).prop_map(|(r, n)| Step::Deliver { r, n }),
        (0u64..40_000).prop_map(Step::Tick),
    ]
}

/// Runs `steps` on three replicas; returns them and every update written.
fn simulate(steps: &[Step]) -> (Vec<SyncTableState>, Vec<Update>) {
    let mut replicas: Vec<_> = (1..=3).map(|n| SyncTableState::new(peer(n))).collect();
    let mut inboxes: Vec<Vec<Update>> = vec![Vec::new(); 3];
    let mut written = Vec::new();
    let mut now = 1_000_000u64;
    for step in steps {
        match *step {
            Step::Write { r, op, key, value } => {
                let key = format!("k{key}");
                let s = &mut replicas[r];
                let result = match op {
                    0 => s.set(key, vec![value], now),
                    1 => s.delete(key, now),
                    2 => s.acquire_lease(key, MINUTE, now),
                    _ => s.release_lease(&key, now),
                };
                if let Ok(u) = result {
                    for (i, inbox) in inboxes.iter_mut().enumerate() {
                        if i != r {
                            inbox.push(u.clone());
                        }
                    }
                    written.push(u);
                }
            }
            Step::Deliver { r, n } => {
                let n = n.min(inboxes[r].len());
                for u in inboxes[r].drain(..n).collect::<Vec<_>>() {
                    let writer = u.entry.writer;
                    replicas[r].apply(u, writer);
                }
            }
            Step::Tick(ms) => now += ms,
        }
    }
    for (r, inbox) in inboxes.into_iter().enumerate() {
        for u in inbox {
            let writer = u.entry.writer;
            replicas[r].apply(u, writer);
        }
    }
    (replicas, written)
}

proptest! {
    #[test]
    fn any_delivery_order_of_any_updates_converges(
        (updates, shuffled, reshuffled) in prop::collection::vec(arb_update(), 0..24)
            .prop_flat_map(|u| (Just(u.clone()), Just(u.clone()).prop_shuffle(), Just(u).prop_shuffle())),
        repeat in any::<prop::sample::Index>(),
    ) {
        let first = replica_of(peer(7), &updates);
        let second = replica_of(peer(8), &shuffled);
        // The third gets some updates twice.
        let mut twice = reshuffled.clone();
        if !updates.is_empty() {
            let i = repeat.index(updates.len());
            twice.extend_from_slice(&reshuffled[i..]);
        }
        let third = replica_of(peer(9), &twice);
        prop_assert_eq!(entries(&first), entries(&second));
        prop_assert_eq!(entries(&first), entries(&third));
        // And a member catching up from any of them gets the same.
        let mut late = SyncTableState::new(peer(6));
        late.merge(second.snapshot());
        prop_assert_eq!(entries(&late), entries(&first));
    }

    #[test]
    fn replicas_writing_with_delayed_delivery_converge(
        steps in prop::collection::vec(arb_step(), 0..80),
        order in any::<u64>(),
    ) {
        let (replicas, written) = simulate(&steps);
        prop_assert_eq!(entries(&replicas[0]), entries(&replicas[1]));
        prop_assert_eq!(entries(&replicas[0]), entries(&replicas[2]));
        // Every update a correct replica writes is valid, and a bystander receiving them
        // in another order (rotated) agrees.
        for u in &written {
            prop_assert_eq!(u.check(), Ok(()));
        }
        let mut rotated = written.clone();
        if !rotated.is_empty() {
            let by = (order % rotated.len() as u64) as usize;
            rotated.rotate_left(by);
            rotated.reverse();
        }
        prop_assert_eq!(entries(&replica_of(peer(9), &rotated)), entries(&replicas[0]));
    }
}
