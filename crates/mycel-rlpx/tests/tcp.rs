//! RLPx over loopback TCP: the handshake, Hello both ways, compressed Ping/Pong and a
//! Disconnect; and what a wrong id or a stalled handshake does.

use bytes::BytesMut;
use k256::SecretKey;
use mycel_rlpx::{
    NodeId, RlpxError, RlpxStream,
    p2p::{self, Capability, DisconnectReason, Hello, MAX_MESSAGE_LEN, id},
};
use rand::rngs::OsRng;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};

fn hello(key: &SecretKey) -> Hello {
    Hello {
        protocol_version: p2p::PROTOCOL_VERSION,
        client_id: "mycel-test".into(),
        capabilities: vec![Capability {
            name: "test".into(),
            version: 1,
        }],
        listen_port: 0,
        node_id: NodeId::from_public_key(&key.public_key()),
    }
}

async fn send(stream: &mut RlpxStream<TcpStream>, msg_id: u64, data: &[u8], compress: bool) {
    let mut frame = BytesMut::new();
    p2p::encode_message(msg_id, data, compress, &mut frame);
    stream.send(&frame).await.unwrap();
}

async fn recv(stream: &mut RlpxStream<TcpStream>, compressed: bool) -> (u64, Vec<u8>) {
    let frame = stream.recv().await.unwrap();
    p2p::decode_message(&frame, compressed, MAX_MESSAGE_LEN).unwrap()
}

#[tokio::test]
async fn hello_ping_pong_and_disconnect_over_tcp() {
    let (a, b) = (SecretKey::random(&mut OsRng), SecretKey::random(&mut OsRng));
    let (a_hello, b_hello) = (hello(&a), hello(&b));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();

    let server_key = b.clone();
    let expected_client = a_hello.clone();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut s = RlpxStream::accept(socket, server_key.clone())
            .await
            .unwrap();
        assert_eq!(s.remote_id(), expected_client.node_id);
        let (msg, data) = recv(&mut s, false).await;
        assert_eq!(msg, id::HELLO);
        assert_eq!(Hello::decode(&data).unwrap(), expected_client);
        let mut out = BytesMut::new();
        hello(&server_key).encode(&mut out);
        send(&mut s, id::HELLO, &out, false).await;
        // Both said version 5: everything after Hello is compressed.
        loop {
            let (msg, data) = recv(&mut s, true).await;
            match msg {
                id::PING => send(&mut s, id::PONG, &p2p::EMPTY_LIST, true).await,
                id::DISCONNECT => return DisconnectReason::decode(&data).unwrap(),
                other => panic!("unexpected message {other}"),
            }
        }
    });

    let socket = TcpStream::connect(addr).await.unwrap();
    let mut c = RlpxStream::connect(socket, a.clone(), b_hello.node_id)
        .await
        .unwrap();
    let mut out = BytesMut::new();
    a_hello.encode(&mut out);
    send(&mut c, id::HELLO, &out, false).await;
    let (msg, data) = recv(&mut c, false).await;
    assert_eq!(msg, id::HELLO);
    assert_eq!(Hello::decode(&data).unwrap(), b_hello);
    for _ in 0..3 {
        send(&mut c, id::PING, &p2p::EMPTY_LIST, true).await;
        assert_eq!(
            recv(&mut c, true).await,
            (id::PONG, p2p::EMPTY_LIST.to_vec())
        );
    }
    let mut reason = BytesMut::new();
    DisconnectReason::ClientQuitting.encode(&mut reason);
    send(&mut c, id::DISCONNECT, &reason, true).await;
    assert_eq!(server.await.unwrap(), DisconnectReason::ClientQuitting);
}

#[tokio::test]
async fn dialing_the_wrong_node_id_fails_on_both_sides() {
    let (a, b, c) = (
        SecretKey::random(&mut OsRng),
        SecretKey::random(&mut OsRng),
        SecretKey::random(&mut OsRng),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        RlpxStream::accept(socket, b).await.map(|_| ())
    });
    let socket = TcpStream::connect(addr).await.unwrap();
    // The auth is encrypted to C's key; B cannot open it and drops the connection.
    let client = RlpxStream::connect(socket, a, NodeId::from_public_key(&c.public_key())).await;
    assert!(matches!(
        server.await.unwrap(),
        Err(RlpxError::Handshake(_))
    ));
    assert!(matches!(client, Err(RlpxError::Io(_))));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_handshake_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x01]).await.unwrap(); // half a size prefix, then nothing
    let (socket, _) = listener.accept().await.unwrap();
    let result = RlpxStream::accept(socket, SecretKey::random(&mut OsRng)).await;
    assert!(matches!(result, Err(RlpxError::Timeout)));
}
