//! Turns: the baton a bundle's trial processes pass round (issue 10).
//!
//! A bundle's trials run side by side, each in its own process with its own
//! attempt, but only the member holding the turn computes. A member gives
//! its turn up between epochs (the child's `TurnOver` message) and the turn
//! passes to the next waiting member in the order they joined, so the
//! bundle advances in lockstep: epoch 1 of every trial, then epoch 2 of
//! every trial, and so on. The first member to reach an epoch computes what
//! the frozen stages output for it and leaves it in the worker's shared
//! folder; the others, in their turns, read it there instead of computing
//! it again. A member that ends (result, failure, crash, cancel) leaves; if
//! it held the turn, the turn passes on. One member at a time means one
//! trial's threads at a time: the slot's cores are never oversubscribed.
//!
//! When a member's epoch has been acknowledged, every other member
//! heartbeats at once ([`Turns::told_epoch`], [`Turns::epochs_told`]): under
//! an early stopping that judges again at each heartbeat (ASHA's
//! `rejudge`), a member that a later member's epoch pushed out of a rung
//! learns it before its next turn, not an epoch later.

use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// One bundle's turns.
pub struct Turns {
    state: Mutex<State>,
    /// How many epochs the members have had acknowledged.
    told: watch::Sender<u64>,
}

impl Default for Turns {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            told: watch::Sender::new(0),
        }
    }
}

#[derive(Default)]
struct State {
    /// In the order they joined.
    members: Vec<Member>,
    /// The member whose turn it is.
    holder: Option<u64>,
    next_id: u64,
}

struct Member {
    id: u64,
    /// Waiting for a turn (a new member waits for its first).
    waiting: bool,
    go: mpsc::UnboundedSender<()>,
}

/// A member's place in the round; dropping it leaves the round.
pub struct Seat {
    turns: Arc<Turns>,
    id: u64,
}

/// One `()` each time the turn is the member's.
pub type Go = mpsc::UnboundedReceiver<()>;

impl Turns {
    /// A new, empty round.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Joins the round, waiting for a turn; when nobody holds the turn, it
    /// is the new member's at once.
    pub fn join(self: &Arc<Self>) -> (Seat, Go) {
        let (go, rx) = mpsc::unbounded_channel();
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        s.members.push(Member {
            id,
            waiting: true,
            go,
        });
        if s.holder.is_none() {
            let last = s.members.len() - 1;
            s.pass_from(last);
        }
        (
            Seat {
                turns: self.clone(),
                id,
            },
            rx,
        )
    }

    /// A member's epoch was acknowledged by the coordinator.
    pub fn told_epoch(&self) {
        self.told.send_modify(|n| *n += 1);
    }

    /// Changes each time a member's epoch is acknowledged.
    pub fn epochs_told(&self) -> watch::Receiver<u64> {
        self.told.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn index(&self, id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    /// Gives the turn to the first waiting member from `start` on (round
    /// the end back to the start), or to nobody when none waits.
    fn pass_from(&mut self, start: usize) {
        self.holder = None;
        let n = self.members.len();
        for k in 0..n {
            let m = &mut self.members[(start + k) % n];
            if m.waiting {
                m.waiting = false;
                self.holder = Some(m.id);
                // A member whose receiver is gone is leaving; its seat's drop
                // passes the turn on.
                let _ = m.go.send(());
                return;
            }
        }
    }
}

impl Seat {
    /// This member gives its turn up and waits for the next one; the turn
    /// goes to the next waiting member after it (back to it when nobody
    /// else waits).
    pub fn turn_over(&self) {
        let mut s = self.turns.lock();
        let Some(i) = s.index(self.id) else { return };
        s.members[i].waiting = true;
        if s.holder == Some(self.id) || s.holder.is_none() {
            s.pass_from(i + 1);
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut s = self.turns.lock();
        let Some(i) = s.index(self.id) else { return };
        s.members.remove(i);
        if s.holder == Some(self.id) {
            // `i` is now the member that came after this one.
            let n = s.members.len().max(1);
            s.pass_from(i % n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_turn(go: &mut Go) -> bool {
        go.try_recv().is_ok()
    }

    #[test]
    fn turns_go_round_in_join_order() {
        let turns = Turns::new();
        let ((a, mut ga), (b, mut gb), (c, mut gc)) = (turns.join(), turns.join(), turns.join());
        assert!(has_turn(&mut ga), "the first member starts");
        assert!(!has_turn(&mut gb) && !has_turn(&mut gc));
        a.turn_over();
        assert!(has_turn(&mut gb) && !has_turn(&mut ga) && !has_turn(&mut gc));
        b.turn_over();
        assert!(has_turn(&mut gc));
        c.turn_over();
        assert!(has_turn(&mut ga), "round the end back to the start");
        // Only the holder is ever granted: b waits, a holds.
        assert!(!has_turn(&mut gb) && !has_turn(&mut gc));
    }

    #[test]
    fn a_member_alone_gets_its_turn_straight_back() {
        let turns = Turns::new();
        let (a, mut ga) = turns.join();
        assert!(has_turn(&mut ga));
        a.turn_over();
        assert!(has_turn(&mut ga));
    }

    #[test]
    fn a_holder_that_leaves_passes_the_turn_on() {
        let turns = Turns::new();
        let ((a, _ga), (b, mut gb), (c, _gc)) = (turns.join(), turns.join(), turns.join());
        drop(a);
        assert!(has_turn(&mut gb), "the next in order");
        // A member that leaves without the turn changes nothing for the holder.
        drop(c);
        b.turn_over();
        assert!(has_turn(&mut gb));
        drop(b);
        // An empty round takes the next joiner at once.
        let (d, mut gd) = turns.join();
        assert!(has_turn(&mut gd));
        let (_c, mut gc) = turns.join();
        assert!(!has_turn(&mut gc));
        drop(d);
        assert!(has_turn(&mut gc), "the one left takes the turn");
    }

    #[test]
    fn a_member_that_has_not_turned_over_is_skipped() {
        let turns = Turns::new();
        let ((a, mut ga), (b, mut gb), (c, mut gc)) = (turns.join(), turns.join(), turns.join());
        assert!(has_turn(&mut ga));
        a.turn_over();
        assert!(has_turn(&mut gb));
        b.turn_over();
        assert!(has_turn(&mut gc));
        // c still holds the turn; a and b wait. c leaves: a is next.
        drop(c);
        assert!(has_turn(&mut ga) && !has_turn(&mut gb));
    }
}
