//! Frame decoding and the core's validation on arbitrary bytes: the first byte picks the sender
//! (a worker or a server, in range or not), the rest is a frame's contents. Whatever decodes is
//! handed to a replica and to a worker, as the runtime would; nothing may panic.
#![no_main]

use std::sync::Mutex;

use byzsgd_core::node::ClusterSpec;
use byzsgd_core::protocol::{Event, Node};
use byzsgd_net::wire::decode;
use libfuzzer_sys::fuzz_target;

const DIM: usize = 4;

struct Nodes {
    server: byzsgd_core::node::ServerNode,
    worker: byzsgd_core::protocol::WorkerCore,
}

fn nodes() -> Nodes {
    let spec = ClusterSpec {
        mode: "sync".into(),
        gather_period: Some(2),
        ..ClusterSpec::default()
    };
    let cluster = spec.resolve().expect("a valid cluster");
    let mut server = cluster.server(0, vec![0.0; DIM]).expect("a server");
    let mut worker = cluster.correct_worker(2, DIM).expect("a worker");
    server.handle(Event::Start).expect("starts");
    worker.handle(Event::Start).expect("starts");
    Nodes { server, worker }
}

static NODES: Mutex<Option<Nodes>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&who, bytes)) = data.split_first() else {
        return;
    };
    let Ok(frame) = decode(bytes) else {
        return;
    };
    let Ok(msg) = frame.into_message() else {
        return;
    };
    let from = if who & 1 == 0 {
        Node::Worker(usize::from(who >> 1) % 12)
    } else {
        Node::Server(usize::from(who >> 1) % 12)
    };
    let mut guard = NODES.lock().unwrap_or_else(|e| e.into_inner());
    // A fresh cluster now and then, so the state machines' state stays varied.
    if guard.is_none() || who == 0xff {
        *guard = Some(nodes());
    }
    let n = guard.as_mut().expect("set");
    let _ = n.server.handle(Event::Received {
        from,
        msg: msg.clone(),
    });
    let _ = n.worker.handle(Event::Received { from, msg });
});
