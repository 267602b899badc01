//! What a principal may do: `resource:action` permissions such as `clients:view`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::fields::{Errors, FromJson, json_type};
use crate::error::FieldError;

const RESOURCES: [&str; 5] = ["clients", "licenses", "webhooks", "partners", "keys"];
const ACTIONS: [&str; 4] = ["view", "edit", "create", "remove"];

/// One permission, e.g. `clients:view`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(u8);

macro_rules! scopes {
    ($($name:ident = $r:literal, $a:literal;)*) => {
        impl Scope { $(pub const $name: Scope = Scope($r * 4 + $a);)* }
    };
}

scopes! {
    CLIENTS_VIEW = 0, 0; CLIENTS_EDIT = 0, 1; CLIENTS_CREATE = 0, 2; CLIENTS_REMOVE = 0, 3;
    LICENSES_VIEW = 1, 0; LICENSES_EDIT = 1, 1; LICENSES_CREATE = 1, 2; LICENSES_REMOVE = 1, 3;
    WEBHOOKS_VIEW = 2, 0; WEBHOOKS_EDIT = 2, 1; WEBHOOKS_CREATE = 2, 2; WEBHOOKS_REMOVE = 2, 3;
    PARTNERS_VIEW = 3, 0; PARTNERS_EDIT = 3, 1; PARTNERS_CREATE = 3, 2; PARTNERS_REMOVE = 3, 3;
    KEYS_VIEW = 4, 0; KEYS_EDIT = 4, 1; KEYS_CREATE = 4, 2; KEYS_REMOVE = 4, 3;
}

impl Scope {
    pub fn parse(s: &str) -> Option<Self> {
        let (resource, action) = s.split_once(':')?;
        let r = RESOURCES.iter().position(|x| *x == resource)?;
        let a = ACTIONS.iter().position(|x| *x == action)?;
        Some(Self((r * 4 + a) as u8))
    }

    pub fn name(self) -> String {
        format!("{}:{}", RESOURCES[usize::from(self.0 / 4)], ACTIONS[usize::from(self.0 % 4)])
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u32);

impl Scopes {
    /// Everything: the platform admin.
    pub const ALL: Scopes = Scopes((1 << 20) - 1);

    /// What a new API key or teammate gets unless told otherwise.
    pub fn default_grant() -> Self {
        Self::of(&[Scope::CLIENTS_VIEW, Scope::CLIENTS_EDIT, Scope::CLIENTS_CREATE, Scope::CLIENTS_REMOVE])
    }

    pub fn of(list: &[Scope]) -> Self {
        Self(list.iter().fold(0, |acc, s| acc | (1 << s.0)))
    }

    pub fn has(self, scope: Scope) -> bool {
        self.0 & (1 << scope.0) != 0
    }

    pub fn contains_all(self, other: Scopes) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    /// These permissions but `scope`.
    pub fn without(self, scope: Scope) -> Scopes {
        Scopes(self.0 & !(1 << scope.0))
    }

    /// Names of the permissions in `other` that `self` lacks.
    pub fn missing(self, other: Scopes) -> Vec<String> {
        Scopes(other.0 & !self.0).names()
    }

    pub fn names(self) -> Vec<String> {
        (0..20u8).filter(|i| self.0 & (1 << i) != 0).map(|i| Scope(i).name()).collect()
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let list: Option<Vec<Scope>> = names.iter().map(|n| Scope::parse(n)).collect();
        list.map(|l| Scopes::of(&l)).ok_or_else(|| serde::de::Error::custom("unknown permission"))
    }
}

impl FromJson for Scopes {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        let Some(list) = value.as_array() else {
            errors.push(FieldError::new(at, format!("must be an array of permissions, not {}", json_type(value))));
            return None;
        };
        let before = errors.len();
        let mut scopes = Vec::new();
        for (i, item) in list.iter().enumerate() {
            match item.as_str().and_then(Scope::parse) {
                Some(s) => scopes.push(s),
                None => errors.push(FieldError::new(
                    format!("{at}[{i}]"),
                    "must be resource:action with resource in clients, licenses, webhooks, partners, keys and action in view, edit, create, remove",
                )),
            }
        }
        (errors.len() == before).then(|| Scopes::of(&scopes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_name_round_trip() {
        for r in RESOURCES {
            for a in ACTIONS {
                let name = format!("{r}:{a}");
                assert_eq!(Scope::parse(&name).unwrap().name(), name);
            }
        }
        assert!(Scope::parse("clients:fly").is_none());
        assert!(Scope::parse("clients").is_none());
    }

    #[test]
    fn default_grant_is_the_four_client_permissions() {
        assert_eq!(
            Scopes::default_grant().names(),
            ["clients:view", "clients:edit", "clients:create", "clients:remove"]
        );
        assert!(Scopes::ALL.contains_all(Scopes::default_grant()));
        assert!(!Scopes::default_grant().contains_all(Scopes::of(&[Scope::KEYS_CREATE])));
    }
}
