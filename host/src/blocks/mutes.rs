//! Group mutes: the owner and admins mute a member for a while, or the whole group but
//! themselves, and lift either.
//!
//! Who may mute whom follows `/group/remove`: the owner mutes anyone else, an admin mutes
//! plain members only, nobody mutes the owner. A mute stays with the user while it runs,
//! also if they leave and join again or become an admin.

use crate::blocks::{BlockService, Mute};
use crate::bus::Event;
use crate::error::{Error, Result};
use crate::groups::{GroupId, Role};
use crate::users::{now_millis, Caller, UserId};

/// The longest mute, in seconds (30 days); a longer silence is a removal.
pub const MAX_MUTE_SECS: i64 = 30 * 86_400;

/// Most mutes running at once in one group: a bound on what a group's moderators can make
/// every node keep. The whole group is muted with one switch instead.
pub const MAX_MUTES_PER_GROUP: u32 = 1000;

/// How long a mute lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteFor {
    /// This many seconds from now.
    Seconds(i64),
    /// Until this time, unix seconds.
    Until(i64),
}

impl MuteFor {
    /// When the mute ends, unix milliseconds, if it ends within [`MAX_MUTE_SECS`] of `now`
    /// and after it.
    fn end(self, now: i64) -> Result<i64> {
        match self {
            MuteFor::Seconds(secs) if (1..=MAX_MUTE_SECS).contains(&secs) => Ok(now + secs * 1000),
            MuteFor::Seconds(secs) => Err(Error::invalid(format!(
                "seconds must be between 1 and {MAX_MUTE_SECS} (30 days), not {secs}"
            ))),
            MuteFor::Until(at) => {
                let end = at.saturating_mul(1000);
                if end <= now || end > now + MAX_MUTE_SECS * 1000 {
                    return Err(Error::invalid(format!(
                        "until must be a unix time in seconds after now and at most \
                         {MAX_MUTE_SECS} seconds (30 days) away, not {at}"
                    )));
                }
                Ok(end)
            }
        }
    }
}

impl BlockService {
    /// The owner or an admin mutes `target` in `group`, replacing a mute they had there.
    /// Returns when the mute ends, unix milliseconds.
    pub async fn mute(
        &self,
        caller: Caller,
        group: GroupId,
        target: UserId,
        length: MuteFor,
    ) -> Result<i64> {
        if target == caller.id {
            return Err(Error::invalid("you cannot mute yourself"));
        }
        let now = now_millis();
        let until = length.end(now)?;
        let my_role = self.moderator(caller, group).await?;
        let their_role = self
            .groups
            .role_of(group, target)
            .await?
            .ok_or(Error::NoGroup("that user is not a member of this group"))?;
        if their_role == Role::Owner {
            return Err(Error::Forbidden("the group owner cannot be muted"));
        }
        if my_role == Role::Admin && their_role == Role::Admin {
            return Err(Error::Forbidden("an admin cannot mute another admin"));
        }
        let stored = self
            .store
            .mute(group, target, until, caller.id, now, MAX_MUTES_PER_GROUP)
            .await?;
        if !stored {
            return Err(Error::invalid(format!(
                "a group holds at most {MAX_MUTES_PER_GROUP} mutes at once: \
                 unmute someone, or mute the whole group"
            )));
        }
        self.announce(Event::MutesChanged { group }).await;
        Ok(until)
    }

    /// The owner or an admin lifts `target`'s mute before it ends.
    pub async fn unmute(&self, caller: Caller, group: GroupId, target: UserId) -> Result<()> {
        self.moderator(caller, group).await?;
        if !self.store.unmute(group, target, now_millis()).await? {
            return Err(Error::NotFound("that user is not muted in this group"));
        }
        self.announce(Event::MutesChanged { group }).await;
        Ok(())
    }

    /// The owner or an admin mutes (`on`) or unmutes the whole group; its owner and admins
    /// still send.
    pub async fn mute_all(&self, caller: Caller, group: GroupId, on: bool) -> Result<()> {
        self.moderator(caller, group).await?;
        self.store
            .set_mute_all(group, on, caller.id, now_millis())
            .await?;
        self.announce(Event::MutesChanged { group }).await;
        Ok(())
    }

    /// Whether the whole group is muted, and the mutes that have not ended, earliest
    /// first: for the owner and admins.
    pub async fn mutes(&self, caller: Caller, group: GroupId) -> Result<(bool, Vec<Mute>)> {
        self.moderator(caller, group).await?;
        let now = now_millis();
        let all = self.store.group_mutes(group, now).await?.all;
        Ok((all, self.store.mutes(group, now).await?))
    }

    /// The caller's role in an existing group, if it is the owner's or an admin's.
    async fn moderator(&self, caller: Caller, group: GroupId) -> Result<Role> {
        if self.groups.group(group).await?.is_none() {
            return Err(Error::NoGroup("no such group"));
        }
        match self.groups.role_of(group, caller.id).await? {
            None => Err(Error::NoGroup("not a member of this group")),
            Some(Role::Member) => Err(Error::Forbidden(
                "only the owner and admins can mute and unmute",
            )),
            Some(role) => Ok(role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mute_lengths_are_bounded() {
        let now = 1_700_000_000_000;
        assert_eq!(MuteFor::Seconds(5).end(now).ok(), Some(now + 5000));
        assert_eq!(
            MuteFor::Seconds(MAX_MUTE_SECS).end(now).ok(),
            Some(now + MAX_MUTE_SECS * 1000)
        );
        for bad in [0, -1, MAX_MUTE_SECS + 1] {
            assert!(MuteFor::Seconds(bad).end(now).is_err(), "{bad}");
        }
        let secs = now / 1000;
        assert_eq!(
            MuteFor::Until(secs + 60).end(now).ok(),
            Some((secs + 60) * 1000)
        );
        for bad in [secs, secs - 1, secs + MAX_MUTE_SECS + 1, i64::MAX, i64::MIN] {
            assert!(MuteFor::Until(bad).end(now).is_err(), "{bad}");
        }
    }
}
