//! What multistream-select puts on the wire, byte for byte, and how it treats bad input.

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use mycel_core::ProtocolId;
use mycel_multistream::{
    MAX_PROPOSALS, NegotiationError, dialer_select, dialer_select_lazy, list_protocols,
    listener_select,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

const HEADER: &[u8] = b"\x13/multistream/1.0.0\n";

/// Serves scripted read chunks (then end of stream) and records every write call.
#[derive(Default)]
struct Scripted {
    reads: VecDeque<Vec<u8>>,
    writes: Vec<Vec<u8>>,
}

impl Scripted {
    fn reading(chunks: &[&[u8]]) -> Self {
        Scripted {
            reads: chunks.iter().map(|c| c.to_vec()).collect(),
            writes: Vec::new(),
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(mut chunk) = this.reads.pop_front() {
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            if n < chunk.len() {
                this.reads.push_front(chunk.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().writes.push(data.to_vec());
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn ids(names: &[&str]) -> Vec<ProtocolId> {
    names.iter().map(|n| ProtocolId::new(n).unwrap()).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[tokio::test]
async fn dialer_sends_header_with_first_proposal_and_moves_on_after_na() {
    let io = Scripted::reading(&[&cat(&[HEADER, b"\x03na\n"]), b"\x03/b\n"]);
    let (chosen, stream) = dialer_select(io, &ids(&["/a", "/b"])).await.unwrap();
    assert_eq!(chosen, "/b");
    let io = stream_io(stream);
    assert_eq!(
        io.writes,
        vec![cat(&[HEADER, b"\x03/a\n"]), b"\x03/b\n".to_vec()]
    );
}

#[tokio::test]
async fn listener_answers_header_and_response_in_one_write_and_keeps_early_data() {
    let io = Scripted::reading(&[&cat(&[HEADER, b"\x09/unknown\n"]), b"\x03/b\nearly data"]);
    let (chosen, mut stream) = listener_select(io, &ids(&["/a", "/b"])).await.unwrap();
    assert_eq!(chosen, "/b");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        rest, b"early data",
        "bytes behind the proposal belong to the protocol"
    );
    let io = stream_io(stream);
    assert_eq!(
        io.writes,
        vec![cat(&[HEADER, b"\x03na\n"]), b"\x03/b\n".to_vec()]
    );
}

#[tokio::test]
async fn listener_sends_its_header_at_once_when_no_proposal_is_waiting() {
    let io = Scripted::reading(&[HEADER, b"\x03/a\n"]);
    let (_, stream) = listener_select(io, &ids(&["/a"])).await.unwrap();
    assert_eq!(
        stream_io(stream).writes,
        vec![HEADER.to_vec(), b"\x03/a\n".to_vec()]
    );
}

#[tokio::test]
async fn lazy_dialer_sends_header_proposal_and_data_in_one_write() {
    let io = Scripted::reading(&[&cat(&[HEADER, b"\x03/a\nworld"])]);
    let mut stream = dialer_select_lazy(io, ProtocolId::from_static("/a"));
    assert!(!stream.is_complete());
    stream.write_all(b"hello").await.unwrap();
    stream.flush().await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"world");
    assert!(stream.is_complete());
    assert_eq!(
        stream_io(stream).writes,
        vec![cat(&[HEADER, b"\x03/a\nhello"])]
    );
}

#[tokio::test]
async fn lazy_dialer_sends_its_proposal_before_waiting_on_a_read() {
    let io = Scripted::reading(&[&cat(&[HEADER, b"\x03/a\n"])]);
    let mut stream = dialer_select_lazy(io, ProtocolId::from_static("/a"));
    stream.complete().await.unwrap();
    assert_eq!(stream_io(stream).writes, vec![cat(&[HEADER, b"\x03/a\n"])]);
}

#[tokio::test]
async fn lazy_dialer_reports_refusal_on_read() {
    let io = Scripted::reading(&[&cat(&[HEADER, b"\x03na\n"])]);
    let mut stream = dialer_select_lazy(io, ProtocolId::from_static("/a"));
    let err = stream.read(&mut [0u8; 8]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(stream.read(&mut [0u8; 8]).await.is_err(), "stays failed");

    let io = Scripted::reading(&[&cat(&[HEADER, b"\x03na\n"])]);
    let mut stream = dialer_select_lazy(io, ProtocolId::from_static("/a"));
    assert!(matches!(
        stream.complete().await,
        Err(NegotiationError::ProtocolNotSupported)
    ));
}

#[tokio::test]
async fn listener_answers_ls_as_the_spec_lays_it_out() {
    let io = Scripted::reading(&[&cat(&[HEADER, b"\x03ls\n"]), b"\x03/a\n"]);
    let (_, stream) = listener_select(io, &ids(&["/a", "/bb"])).await.unwrap();
    let writes = stream_io(stream).writes;
    assert_eq!(writes[0], cat(&[HEADER, b"\x0a\x03/a\n\x04/bb\n\n"]));

    let io = Scripted::reading(&[&cat(&[HEADER, b"\x0a\x03/a\n\x04/bb\n\n"])]);
    let (list, stream) = list_protocols(io).await.unwrap();
    assert_eq!(list, vec!["/a", "/bb"]);
    assert_eq!(stream_io(stream).writes, vec![cat(&[HEADER, b"\x03ls\n"])]);
}

#[tokio::test]
async fn bad_input_gives_typed_errors() {
    let opts = ids(&["/a"]);
    // A first message that is not the header.
    let r = listener_select(Scripted::reading(&[b"\x03na\n"]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::InvalidHeader(h)) if h == "na"));
    let r = dialer_select(Scripted::reading(&[b"\x03/a\n"]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::InvalidHeader(_))));
    // A length over the maximum, refused before the payload arrives.
    let r = listener_select(Scripted::reading(&[b"\x81\x80\x04"]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::MessageTooLarge(65537))));
    // Truncated message, and a clean end mid-negotiation.
    let r = listener_select(Scripted::reading(&[HEADER, b"\x05/ab"]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::UnexpectedEof)));
    let r = dialer_select(Scripted::reading(&[HEADER]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::UnexpectedEof)));
    // No trailing newline.
    let r = listener_select(Scripted::reading(&[HEADER, b"\x02/a"]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::InvalidMessage(_))));
    // An over-long varint.
    let r = listener_select(Scripted::reading(&[&[0xff; 16]]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::InvalidMessage(_))));
    // A dialer answered with something that is neither echo nor na.
    let r = dialer_select(Scripted::reading(&[&cat(&[HEADER, b"\x03/z\n"])]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::UnexpectedMessage(m)) if m == "/z"));
    // Every proposal refused.
    let r = dialer_select(Scripted::reading(&[&cat(&[HEADER, b"\x03na\n"])]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::ProtocolNotSupported)));
    // A second header from the dialer.
    let r = listener_select(Scripted::reading(&[HEADER, HEADER]), &opts).await;
    assert!(matches!(r, Err(NegotiationError::UnexpectedMessage(_))));
}

#[tokio::test]
async fn endless_proposals_are_cut_off() {
    let mut input = HEADER.to_vec();
    for _ in 0..=MAX_PROPOSALS {
        input.extend_from_slice(b"\x03/x\n");
    }
    let io = Scripted::reading(&[&input]);
    let r = listener_select(io, &ids(&["/a"])).await;
    assert!(matches!(r, Err(NegotiationError::TooManyProposals)));
}

fn stream_io(stream: mycel_multistream::Negotiated<Scripted>) -> Scripted {
    stream.into_inner()
}

mod garbage {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn random_input_never_panics(
            data in proptest::collection::vec(any::<u8>(), 0..256),
            with_header in any::<bool>(),
        ) {
            let input = if with_header { cat(&[HEADER, &data]) } else { data };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let _ = listener_select(Scripted::reading(&[&input]), &ids(&["/a"])).await;
                let _ = dialer_select(Scripted::reading(&[&input]), &ids(&["/a", "/b"])).await;
                let _ = list_protocols(Scripted::reading(&[&input])).await;
                let mut lazy = dialer_select_lazy(Scripted::reading(&[&input]), ProtocolId::from_static("/a"));
                let _ = lazy.read(&mut [0u8; 64]).await;
            });
        }
    }
}
