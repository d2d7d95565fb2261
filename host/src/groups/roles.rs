//! Members' roles as the message path reads them, for the context the message filters see.
//!
//! A role is kept per node once read ([`crate::facts::Facts::roles`]) and forgotten by what
//! changes it: the member leaving or being removed ([`Event::Removed`]), and a new role
//! ([`Event::RoleChanged`], sent when the owner changes a role and when ownership passes).

use crate::blocks::Weigh;
use crate::bus::Event;
use crate::error::Result;
use crate::groups::{GroupId, GroupService, Role};
use crate::users::UserId;

impl Weigh for Role {
    fn weight(&self) -> usize {
        1
    }
}

impl GroupService {
    /// `user`'s role in `group`, or `None` for a non-member: from memory when kept, else
    /// from the store.
    pub async fn member_role(&self, group: GroupId, user: UserId) -> Result<Option<Role>> {
        let roles = &self.facts.roles;
        let key = (group, user);
        if let Some(role) = roles.get(&key) {
            return Ok(Some(*role));
        }
        let epoch = roles.epoch();
        let role = self.store.role_of(group, user).await?;
        if let Some(role) = role {
            roles.remember(key, std::sync::Arc::new(role), epoch);
        }
        Ok(role)
    }

    /// Forgets `user`'s role in `group` on this node at once, and tells every node.
    pub(super) async fn announce_role(&self, group: GroupId, user: UserId) {
        let event = Event::RoleChanged { group, user };
        self.facts.apply(&event);
        if let Err(err) = self.bus.publish(event).await {
            tracing::warn!(error = %err, group, user, "announcing a role change failed");
        }
    }
}
