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

use crate::aws::taskdef::{latest_with_hash, RenderedTaskDefinition};
use crate::aws::{AwsFailure, Clients, Ticket};

use super::memo::{Memo, Paced, Queued};

/// A wait up to this long is spent in the reconcile (requeueing would cost
/// more than it frees).
const HOLD: Duration = Duration::from_secs(2);

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
pub fn waiting<M: Paced>(memos: &Memo<M>, uid: &str, key: &str) -> bool {
    memos
        .get(uid)
        .queued()
        .as_ref()
        .is_some_and(|q| q.key == key)
}

/// The object's turn for `action`: its held ticket for `key`, or a new
/// one. A ticket due within [`HOLD`] is spent now; a later one is kept for
/// the object's next reconcile. A ticket for another key is dropped (the
/// spec changed; the token is lost, which only slows the bucket by one).
pub fn turn<M: Paced>(
    memos: &Memo<M>,
    clients: &Clients,
    uid: &str,
    key: &str,
    action: &str,
) -> Turn {
    let held = memos.get(uid).queued().clone();
    let ticket = match held.filter(|q| q.key == key) {
        Some(q) => q.ticket,
        None => clients.ticket(action),
    };
    turn_at(memos, uid, key, ticket, Instant::now())
}

/// The action a task definition registration is paced as.
pub const REGISTER: &str = "ecs:RegisterTaskDefinition";

/// What looking for a registered revision with a rendering's hash tag
/// found: the first half of [`register`], made by the caller, which may
/// check more on the way (whose the family is) or skip the look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// Not looked: the object holds a ticket for this rendering
    /// ([`waiting`]), so it looked when it took it.
    Held,
    /// No revision of the family has the hash.
    Missing,
    /// This revision has the hash: nothing needs registering.
    Revision { arn: String, revision: i64 },
}

/// Looks for a revision of the rendering's family with its hash tag (one
/// ListTaskDefinitions, and a DescribeTaskDefinition of the newest).
pub async fn find(
    clients: &Clients,
    rendered: &RenderedTaskDefinition,
) -> Result<Found, AwsFailure> {
    Ok(
        match latest_with_hash(clients, &rendered.family, &rendered.hash).await? {
            Some((arn, revision)) => Found::Revision { arn, revision },
            None => Found::Missing,
        },
    )
}

/// What [`register`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registration {
    /// The revision `found` named; nothing was registered.
    Found { arn: String, revision: i64 },
    /// Registered now, spending the object's ticket: the caller says so
    /// (an Event) and may remember it.
    Registered { arn: String, revision: i64 },
    /// Not the object's turn: it holds a ticket due after this wait, and
    /// comes back then (its next look is [`Found::Held`]).
    Queued(Duration),
}

/// The one paced registration of a rendered task definition, for every
/// kind. Contract: `found` is what the caller found by the rendering's
/// hash tag ([`find`], or its own look), [`Found::Held`] when
/// [`waiting`] says the object holds a ticket for `rendered.hash`. A
/// found revision is used as is. Otherwise the object takes its turn
/// ([`turn`], keyed by the hash): at its turn RegisterTaskDefinition is
/// sent once, prepaid by the ticket; before it, nothing is sent and the
/// ticket is kept for the object `uid`. Whatever must hold between the
/// look and a registration (the family's owner, a pause) the caller
/// checks before calling.
pub async fn register<M: Paced>(
    memos: &Memo<M>,
    clients: &Clients,
    uid: &str,
    rendered: &RenderedTaskDefinition,
    found: Found,
) -> Result<Registration, AwsFailure> {
    if let Found::Revision { arn, revision } = found {
        return Ok(Registration::Found { arn, revision });
    }
    let ticket = match turn(memos, clients, uid, &rendered.hash, REGISTER) {
        Turn::Now(ticket) => ticket,
        Turn::Later(wait) => return Ok(Registration::Queued(wait)),
    };
    let (arn, revision) = rendered.register(clients, Some(ticket)).await?;
    Ok(Registration::Registered { arn, revision })
}

fn turn_at<M: Paced>(memos: &Memo<M>, uid: &str, key: &str, ticket: Ticket, now: Instant) -> Turn {
    let wait = ticket.at.saturating_duration_since(now);
    let later = wait > HOLD;
    memos.update(uid, |m| {
        *m.queued() = later.then(|| Queued {
            key: key.to_string(),
            ticket,
        });
    });
    match later {
        true => Turn::Later(wait),
        false => Turn::Now(ticket),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_far_ticket_is_kept_and_a_near_one_spent() {
        let memos = Memo::<crate::controller::memo::JobMemo>::default();
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
