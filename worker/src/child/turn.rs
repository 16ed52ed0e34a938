//! A trial process's turns in a lockstep bundle (`trial-child --turns`, see
//! the daemon's `turns`): the stdin watcher counts each [`GO`] line the
//! daemon sends, and the trial waits for one before it starts and after each
//! [`ChildMessage::TurnOver`] it sends between epochs. A cancel, or stdin
//! closing, ends the waiting for good: the trial then sees its cancel flag.
//!
//! [`GO`]: crate::daemon::protocol::GO
//! [`ChildMessage::TurnOver`]: crate::daemon::protocol::ChildMessage::TurnOver

use std::sync::{Condvar, Mutex};

/// Turns granted and taken.
#[derive(Default)]
pub struct Turn {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    granted: u64,
    taken: u64,
    /// No turn will be granted again (cancelled, or the daemon is gone).
    over: bool,
}

impl Turn {
    /// The daemon granted a turn.
    pub fn grant(&self) {
        self.lock().granted += 1;
        self.changed.notify_all();
    }

    /// Nothing will be granted again; a wait returns at once from now on.
    pub fn end(&self) {
        self.lock().over = true;
        self.changed.notify_all();
    }

    /// Blocks until a turn not yet taken has been granted (and takes it), or
    /// until the turns are over.
    pub fn wait(&self) {
        let mut s = self.lock();
        while s.granted == s.taken && !s.over {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.granted > s.taken {
            s.taken += 1;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn each_grant_is_one_turn_and_the_end_releases_every_wait() {
        let turn = Arc::new(Turn::default());
        turn.grant();
        turn.wait();
        let waiter = {
            let turn = turn.clone();
            std::thread::spawn(move || {
                turn.wait();
                turn.wait();
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished(), "no turn granted yet");
        turn.grant();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished(), "one grant, one turn");
        turn.end();
        waiter.join().unwrap();
        turn.wait();
    }
}
