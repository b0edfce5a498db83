//! Hostile input on the wire against one listening node (`s0`), over the in-memory network with
//! real TLS: each is refused, recorded against the authenticated peer where there is one, and
//! the node keeps serving. Peers without a valid certificate for the node they claim to be never
//! reach the protocol.

mod common;

use std::sync::Arc;
use std::time::Duration;

use byzsgd_core::protocol::{Event, Message, Node};
use byzsgd_net::memnet::MemNet;
use byzsgd_net::tls::Tls;
use byzsgd_net::transport::{Fault, Input, Limits, Local, dial, serve};
use byzsgd_net::wire::{DecodeError, Frame, encode, encode_message};
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

const S0: Node = Node::Server(0);
const W0: Node = Node::Worker(0);

fn listening(limits: Option<Limits>) -> (MemNet, mpsc::Receiver<Input>) {
    let net = MemNet::new();
    let listener = net.listen("s0");
    let mut me = local(S0);
    if let Some(l) = limits {
        me.limits = l;
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(serve(listener, me, tx));
    (net, rx)
}

async fn connect(
    net: &MemNet,
    me: &Local,
) -> byzsgd_net::Result<impl AsyncRead + AsyncWrite + Unpin + use<>> {
    let pipe = net.pipe("s0", "test").expect("s0 listens");
    dial(me, pipe, S0).await
}

fn gradient(step: u64) -> Message {
    Message::Gradient {
        step,
        grad: Arc::new((0..DIM).map(|i| i as f32).collect()),
    }
}

async fn frame(w: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) {
    w.write_all(&(bytes.len() as u32).to_be_bytes())
        .await
        .unwrap();
    w.write_all(bytes).await.unwrap();
    w.flush().await.unwrap();
}

async fn next(rx: &mut mpsc::Receiver<Input>) -> Option<Input> {
    tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .ok()
        .flatten()
}

async fn nothing(rx: &mut mpsc::Receiver<Input>) {
    if let Ok(Some(i)) = tokio::time::timeout(Duration::from_millis(400), rx.recv()).await {
        panic!("expected nothing, got {i:?}");
    }
}

/// The node still serves: a fresh connection's valid message arrives from its sender.
async fn still_serving(net: &MemNet, rx: &mut mpsc::Receiver<Input>, who: Node) {
    let mut s = connect(net, &local(who))
        .await
        .expect("a valid peer is accepted");
    frame(&mut s, &encode_message(&gradient(3))).await;
    loop {
        match next(rx).await.expect("the message arrives") {
            Input::Event(Event::Received { from, msg }) => {
                assert_eq!((from, msg), (who, gradient(3)));
                return;
            }
            // A peer seen before reconnecting.
            Input::Event(Event::Connected { peer }) => assert_eq!(peer, who),
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn fault(rx: &mut mpsc::Receiver<Input>) -> (Node, Fault) {
    loop {
        match next(rx).await.expect("a fault is recorded") {
            Input::Fault { peer, fault } => return (peer, fault),
            Input::Event(Event::Received { msg, .. }) => panic!("delivered {msg:?}"),
            Input::Event(_) => {}
            Input::Failed(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn a_valid_message_arrives_from_the_certified_sender() {
    let (net, mut rx) = listening(None);
    still_serving(&net, &mut rx, W0).await;
}

#[tokio::test]
async fn an_oversized_length_prefix_is_refused_and_the_node_keeps_serving() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(W0)).await.unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    s.flush().await.unwrap();
    let (peer, f) = fault(&mut rx).await;
    assert_eq!(peer, W0);
    assert!(matches!(f, Fault::Frame(_)), "{f:?}");
    still_serving(&net, &mut rx, Node::Worker(1)).await;
}

/// Fails when `wire::decode` ignores what follows a frame, as `postcard::from_bytes` does
/// (tried).
#[tokio::test]
async fn garbage_after_a_valid_message_is_refused() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(W0)).await.unwrap();
    let mut bytes = encode_message(&gradient(1));
    bytes.extend_from_slice(&[7, 7, 7]);
    frame(&mut s, &bytes).await;
    assert_eq!(
        fault(&mut rx).await,
        (W0, Fault::Decode(DecodeError::Trailing(3)))
    );
    still_serving(&net, &mut rx, W0).await;
}

#[tokio::test]
async fn a_truncated_frame_is_refused() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(W0)).await.unwrap();
    let bytes = encode_message(&gradient(1));
    s.write_all(&(bytes.len() as u32).to_be_bytes())
        .await
        .unwrap();
    s.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    s.shutdown().await.unwrap();
    let (peer, f) = fault(&mut rx).await;
    assert_eq!(peer, W0);
    assert!(matches!(f, Fault::Frame(_)), "{f:?}");
    still_serving(&net, &mut rx, W0).await;
}

#[tokio::test]
async fn a_frame_that_stalls_is_cut_at_its_deadline() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(W0)).await.unwrap();
    // Announce a full-size frame, send a little of it, and stall (the connection stays open).
    s.write_all(&(byzsgd_net::wire::frame_limit(DIM) as u32).to_be_bytes())
        .await
        .unwrap();
    s.write_all(&[1, 2, 3]).await.unwrap();
    s.flush().await.unwrap();
    let (peer, f) = fault(&mut rx).await;
    assert_eq!(peer, W0);
    assert!(
        f.kind() == "frame" && format!("{f:?}").contains("did not finish"),
        "{f:?}"
    );
    drop(s);
}

/// The codec consumes a frame's length prefix before its body arrives: a prefix alone is a
/// frame under way, with its deadline (before the fix, the empty read buffer looked like "between
/// frames" and this connection hung forever with a frame limit reserved).
#[tokio::test]
async fn a_length_prefix_alone_is_a_frame_under_way() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(W0)).await.unwrap();
    s.write_all(&100u32.to_be_bytes()).await.unwrap();
    s.flush().await.unwrap();
    let (peer, f) = fault(&mut rx).await;
    assert_eq!(peer, W0);
    assert!(format!("{f:?}").contains("did not finish"), "{f:?}");
    // And a prefix followed by the end of the stream is a truncated frame, not a clean close.
    let mut s = connect(&net, &local(W0)).await.unwrap();
    s.write_all(&100u32.to_be_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    match fault(&mut rx).await {
        (W0, Fault::Frame(text)) => assert!(text.contains("inside a frame"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_second_hello_is_refused() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(W0)).await.unwrap();
    frame(&mut s, &encode(&Frame::Hello(local(W0).hello))).await;
    assert_eq!(fault(&mut rx).await, (W0, Fault::Unexpected));
}

/// Steps, dimensions and values are the core's to check: the transport delivers them as they
/// are, from the authenticated sender (the core's tests and `cluster.rs` show them refused).
#[tokio::test]
async fn the_sender_is_the_certificate_never_the_payload() {
    let (net, mut rx) = listening(None);
    let mut s = connect(&net, &local(Node::Worker(4))).await.unwrap();
    let forged = Message::Gradient {
        step: u64::MAX,
        grad: Arc::new(vec![f32::NAN; 3]),
    };
    frame(&mut s, &encode_message(&forged)).await;
    match next(&mut rx).await {
        Some(Input::Event(Event::Received { from, msg })) => {
            assert_eq!(from, Node::Worker(4));
            assert_eq!(msg.step(), u64::MAX);
        }
        other => panic!("{other:?}"),
    }
}

fn with_cert_of(owner: Node, claims: Node) -> Local {
    let mut l = local(claims);
    l.tls = tls(keys(), owner);
    l
}

// This test and the next fail when `Tls::check_peer` accepts any certificate of the CA (tried).
#[tokio::test]
async fn another_nodes_certificate_is_refused() {
    let (net, mut rx) = listening(None);
    // w0's key and certificate, claiming to be w1.
    assert!(
        connect(&net, &with_cert_of(W0, Node::Worker(1)))
            .await
            .is_err()
    );
    nothing(&mut rx).await;
    still_serving(&net, &mut rx, Node::Worker(1)).await;
}

#[tokio::test]
async fn another_roles_certificate_is_refused() {
    let (net, mut rx) = listening(None);
    // A worker posing as server s1.
    assert!(
        connect(&net, &with_cert_of(W0, Node::Server(1)))
            .await
            .is_err()
    );
    nothing(&mut rx).await;
}

#[tokio::test]
async fn the_listeners_own_identity_is_refused() {
    let (net, mut rx) = listening(None);
    assert!(connect(&net, &local(S0)).await.is_err());
    nothing(&mut rx).await;
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused() {
    let (net, mut rx) = listening(None);
    let foreign = foreign_keys();
    let (_, cert, key) = &foreign.nodes[5];
    assert_eq!(foreign.nodes[5].0, "w0");
    // Trusts our CA (so it would accept s0), but its own certificate is another CA's.
    let mut me = local(W0);
    me.tls = Tls::from_pem(
        keys().ca_cert.as_bytes(),
        cert.as_bytes(),
        key.as_bytes(),
        CLUSTER,
    )
    .unwrap();
    assert!(connect(&net, &me).await.is_err());
    nothing(&mut rx).await;
}

#[tokio::test]
async fn a_client_without_a_certificate_never_reaches_the_protocol() {
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
    let (net, mut rx) = listening(None);
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(keys().ca_cert.as_bytes()).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let pipe = net.pipe("s0", "anonymous").unwrap();
    let name = ServerName::try_from(format!("s0.{CLUSTER}")).unwrap();
    // TLS 1.3 lets the client finish first; the server refuses it right after, so whatever
    // it writes goes nowhere and it reads the end of the connection.
    if let Ok(mut s) = connector.connect(name, pipe).await {
        let _ = s.write_all(&encode(&Frame::Hello(local(W0).hello))).await;
        let _ = s.flush().await;
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    }
    nothing(&mut rx).await;
}

#[tokio::test]
async fn the_dialler_checks_whom_it_reached() {
    let (net, _rx) = listening(None);
    // Dials "s1" but reaches s0: its certificate does not name s1.
    let pipe = net.pipe("s0", "test").unwrap();
    let err = dial(&local(W0), pipe, Node::Server(1))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("s1"), "{err}");
}

#[tokio::test]
async fn a_mismatched_configuration_is_refused_naming_the_setting() {
    let (net, mut rx) = listening(None);
    let mut me = local(W0);
    me.hello.settings.insert("lr".into(), "0.1".into());
    let Err(err) = connect(&net, &me).await else {
        panic!("accepted");
    };
    let text = err.to_string();
    assert!(text.contains("lr: ours 0.1, theirs 0.2"), "{text}");
    nothing(&mut rx).await;
}

#[tokio::test]
async fn handshakes_are_capped_and_have_a_deadline() {
    let limits = Limits {
        max_handshakes: 4,
        handshake_deadline: Duration::from_millis(300),
        ..local(S0).limits
    };
    let (net, mut rx) = listening(Some(limits));
    // Four connections that never say anything hold every handshake slot...
    let silent: Vec<_> = (0..4).map(|_| net.pipe("s0", "silent").unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ... so a fifth is closed at once.
    let mut fifth = net.pipe("s0", "fifth").unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_millis(200), fifth.read(&mut buf)).await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "the fifth was not closed: {n:?}"
    );
    // Once their deadline passed, the slots are free again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    still_serving(&net, &mut rx, W0).await;
    drop(silent);
}

#[tokio::test]
async fn a_new_connection_replaces_the_old_and_the_node_hears_of_it() {
    let (net, mut rx) = listening(None);
    let mut first = connect(&net, &local(W0)).await.unwrap();
    frame(&mut first, &encode_message(&gradient(1))).await;
    assert!(matches!(
        next(&mut rx).await,
        Some(Input::Event(Event::Received { .. }))
    ));
    let _second = connect(&net, &local(W0)).await.unwrap();
    match next(&mut rx).await {
        Some(Input::Event(Event::Connected { peer })) => assert_eq!(peer, W0),
        other => panic!("{other:?}"),
    }
    // The old connection is closed: what is written on it no longer arrives.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = first.write_all(&encode_message(&gradient(2))).await;
    nothing(&mut rx).await;
}
