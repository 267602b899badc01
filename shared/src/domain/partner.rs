//! Partners: the platform's resellers, agencies and their sub-partners, as a tree.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{Errors, Fields, FromJson, parse_with};
use super::values::Name;
use crate::error::ApiError;

/// What kind of business a partner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerType {
    Partner,
    Reseller,
    Agency,
}

impl FromJson for PartnerType {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| match v.as_str() {
            Some("partner") => Ok(Self::Partner),
            Some("reseller") => Ok(Self::Reseller),
            Some("agency") => Ok(Self::Agency),
            _ => Err("must be one of partner, reseller, agency".into()),
        })
    }
}

/// A stored partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partner {
    pub id: String,
    /// The partner's integer id (API.md §3), given at creation, never changed.
    #[serde(default)]
    pub number: u64,
    pub name: Name,
    #[serde(rename = "type")]
    pub kind: PartnerType,
    pub parent_id: Option<String>,
    pub root_id: String,
    /// Ids from the root down to this partner, itself included.
    pub path: Vec<String>,
    pub suspended: bool,
    pub created: String,
    pub modified: String,
}

impl Partner {
    /// The partner as the API shows it.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "number": self.number,
            "name": self.name,
            "type": self.kind,
            "parentId": self.parent_id,
            "rootId": self.root_id,
            "suspended": self.suspended,
            "created": self.created,
            "modified": self.modified,
        })
    }
}

/// The body of `POST /v1/partners`.
#[derive(Debug)]
pub struct NewPartner {
    pub name: Name,
    pub kind: PartnerType,
    pub parent_id: Option<String>,
}

impl NewPartner {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let name = f.required::<Name>("name");
        let kind = f.optional::<PartnerType>("type").unwrap_or(PartnerType::Partner);
        let parent_id = f.optional::<String>("parentId");
        if parent_id.as_deref().is_some_and(|p| !super::is_id(p)) {
            f.error("parentId", "must be a partner id");
        }
        f.finish()?;
        Ok(Self { name: name.expect("checked by finish"), kind, parent_id })
    }
}

/// The body of `PATCH /v1/partners/{partnerId}`: a new name, a new type, or both.
#[derive(Debug)]
pub struct PartnerPatch {
    pub name: Option<Name>,
    pub kind: Option<PartnerType>,
}

impl PartnerPatch {
    /// # Errors
    /// `validation_failed` listing every bad or unknown field; the tree's shape
    /// (`parentId`, `rootId`) and `suspended` (its own routes) are read-only.
    pub fn from_body(body: Value) -> Result<Self, ApiError> {
        let mut f = Fields::from_body(body)?;
        let name = f.optional::<Name>("name");
        let kind = f.optional::<PartnerType>("type");
        for field in ["id", "parentId", "rootId", "suspended", "created", "modified"] {
            f.read_only(field);
        }
        f.finish()?;
        Ok(Self { name, kind })
    }

    /// The partner with the patch applied.
    pub fn apply(&self, p: &Partner) -> Partner {
        let mut next = p.clone();
        if let Some(name) = &self.name {
            next.name = name.clone();
        }
        if let Some(kind) = self.kind {
            next.kind = kind;
        }
        next
    }
}
