//! Long waits for a token are spent outside a concurrency slot. AWS allows
//! one RegisterTaskDefinition per second per account, so when a thousand
//! objects need one, the last waits about twenty minutes. Waiting inside
//! the reconcile held every slot (`--max-concurrent-reconciles`) for that
//! long: services whose migration had finished queued behind them, and the
//! polls of the rest trickled through one slot at a time, so DescribeServices
//! batches held one service instead of ten. Instead a reconcile takes a
//! ticket (its place in line, the token already spent), returns, and is
//! requeued for the ticket's time.

use std::time::{Duration, Instant};

use k8s_openapi::jiff::{Timestamp, Unit};

use crate::aws::{Clients, Ticket};

use super::context::Memos;

/// A wait up to this long is spent in the reconcile (requeueing would cost
/// more than it frees).
const HOLD: Duration = Duration::from_secs(2);

/// A ticket taken for one object's call, for the work identified by `key`
/// (e.g. the spec hash a task definition is registered for).
#[derive(Clone)]
struct Queued {
    key: String,
    ticket: Ticket,
}

/// Whether an object may make its call now.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// Now, spending this ticket (already taken, or taken and due).
    Now(Ticket),
    /// Later: the object holds a ticket due after this wait; requeue then.
    Later(Duration),
}

/// What a status says while `what` (e.g. "the new task definition") waits
/// `wait` from `now` for its RegisterTaskDefinition turn.
pub fn queued_message(what: &str, now: Timestamp, wait: Duration) -> String {
    let turn = now.checked_add(wait).unwrap_or(now);
    format!(
        "{what} is registered at its turn, about {}: AWS allows one \
         RegisterTaskDefinition per second per account and berth registers in arrival order",
        turn.round(Unit::Second).unwrap_or(turn)
    )
}

/// The object `uid` holds a ticket for `key` (it asked before and was told
/// to come back): the checks it made before asking need not be repeated.
pub fn waiting(memos: &Memos, uid: &str, key: &str) -> bool {
    memos.get::<Queued>(uid).is_some_and(|q| q.key == key)
}

/// The object's turn for `action`: its held ticket for `key`, or a new
/// one. A ticket due within [`HOLD`] is spent now; a later one is kept for
/// the object's next reconcile. A ticket for another key is dropped (the
/// spec changed; the token is lost, which only slows the bucket by one).
pub fn turn(memos: &Memos, clients: &Clients, uid: &str, key: &str, action: &str) -> Turn {
    let ticket = match memos.get::<Queued>(uid).filter(|q| q.key == key) {
        Some(q) => q.ticket,
        None => clients.ticket(action),
    };
    turn_at(memos, uid, key, ticket, Instant::now())
}

fn turn_at(memos: &Memos, uid: &str, key: &str, ticket: Ticket, now: Instant) -> Turn {
    let wait = ticket.at.saturating_duration_since(now);
    if wait > HOLD {
        memos.set(
            uid,
            Queued {
                key: key.to_string(),
                ticket,
            },
        );
        Turn::Later(wait)
    } else {
        memos.forget_one::<Queued>(uid);
        Turn::Now(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_far_ticket_is_kept_and_a_near_one_spent() {
        let memos = Memos::default();
        let now = Instant::now();
        let far = Ticket {
            at: now + Duration::from_secs(30),
        };
        assert_eq!(
            turn_at(&memos, "u1", "h1", far, now),
            Turn::Later(Duration::from_secs(30))
        );
        assert!(waiting(&memos, "u1", "h1"));
        assert!(!waiting(&memos, "u1", "h2"), "another spec hash");
        assert!(!waiting(&memos, "u2", "h1"), "another object");
        // Back at its time: the same ticket is spent and forgotten.
        assert_eq!(
            turn_at(&memos, "u1", "h1", far, now + Duration::from_secs(29)),
            Turn::Now(far)
        );
        assert!(!waiting(&memos, "u1", "h1"));
        let near = Ticket {
            at: now + Duration::from_secs(1),
        };
        assert_eq!(turn_at(&memos, "u3", "h1", near, now), Turn::Now(near));
        assert!(!waiting(&memos, "u3", "h1"));
    }
}
