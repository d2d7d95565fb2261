//! The `owner-handoff` plugin: the seed's rule for a group whose owner leaves. The group
//! goes to the earliest-joined admin, else to the earliest-joined member; optionally it is
//! dissolved instead when it has no admin.

use confab_plugin_sdk::{config, log, Group, Handoff, Hook, Member, Plugin, Role, UserId};
use serde::Deserialize;

/// The plugin.
pub struct OwnerHandoff;

impl Plugin for OwnerHandoff {
    const HOOKS: &'static [Hook] = &[Hook::OnOwnerLeave];

    fn check_config(json: &str) -> Result<(), String> {
        config::parse::<Settings>(json).map(drop)
    }

    fn on_owner_leave(_group: Group, leaving: UserId, remaining: Vec<Member>) -> Handoff {
        let settings = config::get::<Settings>().unwrap_or_else(|error| {
            // Unreachable while the server applies only checked configurations; the seed's
            // rule is the safe fallback.
            log::error(format_args!(
                "invalid configuration, using the defaults: {error}"
            ));
            Default::default()
        });
        next_owner(leaving, &remaining, &settings)
    }
}

confab_plugin_sdk::export!(OwnerHandoff);

/// The configuration; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Dissolve a group that has no admin rather than hand it to a plain member.
    dissolve_when_no_admin: bool,
}

/// Who owns the group next, of `remaining`, when `leaving` leaves.
fn next_owner(leaving: UserId, remaining: &[Member], settings: &Settings) -> Handoff {
    // The server passes the other members, earliest-joined first; the order is not trusted
    // (ties go to the lower user id) and the leaving owner is never picked.
    let earliest = |admins_only: bool| {
        remaining
            .iter()
            .filter(|member| member.user != leaving)
            .filter(|member| !admins_only || member.role == Role::Admin)
            .min_by_key(|member| (member.joined_at, member.user))
            .map(|member| member.user)
    };
    if let Some(admin) = earliest(true) {
        return Handoff::NewOwner(admin);
    }
    if settings.dissolve_when_no_admin {
        return Handoff::Dissolve;
    }
    earliest(false).map_or(Handoff::Dissolve, Handoff::NewOwner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user: UserId, role: Role, joined_at: i64) -> Member {
        Member {
            user,
            role,
            joined_at,
        }
    }

    fn settings(json: &str) -> Settings {
        config::parse(json).expect("a valid configuration")
    }

    #[test]
    fn the_earliest_admin_wins_over_earlier_members() {
        let remaining = [
            member(2, Role::Member, 10),
            member(3, Role::Admin, 30),
            member(4, Role::Admin, 20),
        ];
        assert_eq!(
            next_owner(1, &remaining, &settings("{}")),
            Handoff::NewOwner(4)
        );
    }

    #[test]
    fn without_admins_the_earliest_member_wins() {
        let remaining = [
            member(5, Role::Member, 30),
            member(2, Role::Member, 10),
            member(3, Role::Member, 10),
        ];
        assert_eq!(
            next_owner(1, &remaining, &settings("{}")),
            Handoff::NewOwner(2)
        );
    }

    #[test]
    fn without_admins_the_group_can_be_dissolved() {
        let settings = settings(r#"{"dissolve_when_no_admin": true}"#);
        let members = [member(2, Role::Member, 10)];
        assert_eq!(next_owner(1, &members, &settings), Handoff::Dissolve);
        let with_admin = [member(2, Role::Member, 10), member(3, Role::Admin, 20)];
        assert_eq!(next_owner(1, &with_admin, &settings), Handoff::NewOwner(3));
    }

    #[test]
    fn the_leaving_owner_is_never_picked() {
        let remaining = [member(1, Role::Owner, 0)];
        assert_eq!(
            next_owner(1, &remaining, &settings("{}")),
            Handoff::Dissolve
        );
        assert_eq!(next_owner(1, &[], &settings("{}")), Handoff::Dissolve);
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (json, needle) in [
            (r#"{"dissolve_when_no_admin": "yes"}"#, "invalid type"),
            (r#"{"dissolve": true}"#, "dissolve"),
        ] {
            let error = OwnerHandoff::check_config(json).expect_err(json);
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn the_manifest_matches_the_plugin() {
        confab_plugin_sdk::testing::check_manifest::<OwnerHandoff>(include_str!("../plugin.toml"))
            .expect("plugin.toml");
    }
}
