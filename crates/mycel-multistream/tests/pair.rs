//! A mycel dialer against a mycel listener over an in-memory pipe.

use mycel_core::ProtocolId;
use mycel_multistream::{NegotiationError, dialer_select, dialer_select_lazy, listener_select};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ids(names: &[u8]) -> Vec<ProtocolId> {
    names
        .iter()
        .map(|n| ProtocolId::new(format!("/p/{n}")).unwrap())
        .collect()
}

#[tokio::test]
async fn lazy_dialer_and_listener_exchange_data_both_ways() {
    let (a, b) = tokio::io::duplex(64);
    let listener = tokio::spawn(async move {
        let (p, mut s) = listener_select(b, &ids(&[1, 2])).await.unwrap();
        let mut buf = vec![0u8; 1000];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        s.shutdown().await.unwrap();
        p
    });
    let mut s = dialer_select_lazy(a, ids(&[2]).remove(0));
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    s.write_all(&data).await.unwrap();
    s.flush().await.unwrap();
    let mut echoed = Vec::new();
    s.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(echoed, data);
    assert_eq!(listener.await.unwrap(), "/p/2");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dialer_gets_its_first_choice_the_listener_supports(
        ours in proptest::collection::vec(0u8..8, 1..6),
        theirs in proptest::collection::vec(0u8..8, 0..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (dialer, listener) = rt.block_on(async {
            let (a, b) = tokio::io::duplex(256);
            let theirs_ids = ids(&theirs);
            let l = tokio::spawn(async move { listener_select(b, &theirs_ids).await.map(|r| r.0) });
            let d = dialer_select(a, &ids(&ours)).await.map(|r| r.0);
            (d, l.await.unwrap())
        });
        let expected = ours.iter().find(|p| theirs.contains(p));
        match expected {
            Some(p) => {
                let want = format!("/p/{p}");
                let (dialer, listener) = (dialer.unwrap(), listener.unwrap());
                prop_assert_eq!(dialer.as_str(), want.as_str());
                prop_assert_eq!(listener.as_str(), want.as_str());
            }
            None => {
                prop_assert!(matches!(dialer, Err(NegotiationError::ProtocolNotSupported)));
                // The dialer gave up and dropped the stream: the listener sees it end.
                prop_assert!(listener.is_err());
            }
        }
    }
}
