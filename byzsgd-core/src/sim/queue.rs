//! The simulator's clock and event queue: events ordered by simulated time, ties by the order
//! they were scheduled, so a run is a pure function of its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::network::RestartFrom;
use crate::protocol::{Message, Node, Timer};

/// Something that happens at a simulated time.
#[derive(Debug)]
pub(super) enum Item {
    /// `msg` reaches `to`.
    Deliver { from: Node, to: Node, msg: Message },
    /// A node's timer fires.
    Timer { node: Node, timer: Timer },
    /// Worker `worker`'s gradient of `step` (computing under `job`) is done.
    Gradient { worker: usize, step: u64, job: u64 },
    /// A crashed node restarts.
    Restart { node: Node, from: RestartFrom },
    /// The connection between two nodes, reset by a message lost with it, is back.
    Reconnect { a: Node, b: Node },
}

struct Scheduled {
    time: f64,
    seq: u64,
    item: Item,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // BinaryHeap is a max-heap: the earliest event is the greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.time.total_cmp(&self.time).then(o.seq.cmp(&self.seq))
    }
}

/// The clock and the events still to happen.
#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    now: f64,
}

impl Queue {
    /// The current simulated time.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// How many events were scheduled so far (it names a gradient job, scheduled right after).
    pub fn ticket(&self) -> u64 {
        self.seq
    }

    /// `item` happens at `time`.
    pub fn schedule(&mut self, time: f64, item: Item) {
        self.seq += 1;
        self.heap.push(Scheduled {
            time,
            seq: self.seq,
            item,
        });
    }

    /// The next event; the clock moves to its time.
    pub fn pop(&mut self) -> Option<Item> {
        let ev = self.heap.pop()?;
        self.now = ev.time;
        Some(ev.item)
    }
}
