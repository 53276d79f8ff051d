//! The `cis` query's filter and order inputs, and their translation to the store's.

use async_graphql::{Enum, InputObject, Json, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;
use cmdb_store as st;
use serde_json::Value;

use crate::error::ApiError;

use super::enums::{CiClassG, CiStatusG};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "CIOrderField")]
pub enum CiOrderFieldG {
    #[default]
    Id,
    Name,
    Class,
    LastSeen,
    FirstSeen,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// Name condition: exactly one of the three.
#[derive(InputObject, Debug, Clone, Default)]
pub struct NameFilter {
    pub equals: Option<String>,
    pub contains: Option<String>,
    /// Rust `regex` syntax, matched anywhere in the name.
    pub regex: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct AttributeFilter {
    pub key: String,
    /// Compared exactly as JSON (strings as strings, numbers as numbers).
    pub equals: Json<Value>,
}

/// CI filter; all given conditions must hold.
#[derive(InputObject, Debug, Clone, Default)]
#[graphql(name = "CIFilter")]
pub struct CiFilterG {
    pub class: Option<CiClassG>,
    /// Any of these classes.
    pub classes: Option<Vec<CiClassG>>,
    pub name: Option<NameFilter>,
    /// Has this tag.
    pub tag: Option<String>,
    /// Has all of these tags.
    pub tags: Option<Vec<String>>,
    pub status: Option<CiStatusG>,
    pub statuses: Option<Vec<CiStatusG>>,
    /// Reported by this source (`manual`, `ssh`, `snmp`, …).
    pub source: Option<String>,
    /// IpAddress CIs with this address and devices listing it.
    pub ip_address: Option<String>,
    pub attribute: Option<AttributeFilter>,
    pub attributes: Option<Vec<AttributeFilter>>,
    pub last_seen_before: Option<DateTime<Utc>>,
    pub last_seen_after: Option<DateTime<Utc>>,
    pub ids: Option<Vec<ID>>,
}

impl CiFilterG {
    pub fn to_store(&self) -> Result<st::CiFilter, ApiError> {
        let mut f = st::CiFilter::default();
        if let Some(c) = self.class {
            f.classes.push(c.into());
        }
        for c in self.classes.iter().flatten() {
            f.classes.push((*c).into());
        }
        if let Some(n) = &self.name {
            let given: Vec<(st::NameMatch, &String)> = [
                (st::NameMatch::Equals, n.equals.as_ref()),
                (st::NameMatch::Contains, n.contains.as_ref()),
                (st::NameMatch::Regex, n.regex.as_ref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            match given.as_slice() {
                [(k, v)] => {
                    if *k == st::NameMatch::Regex {
                        if v.len() > 1000 {
                            return Err(ApiError::LimitExceeded(
                                "name regex longer than 1000 characters".into(),
                            ));
                        }
                        regex::RegexBuilder::new(v)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|e| {
                                ApiError::InvalidInput(format!("invalid name regex: {e}"))
                            })?;
                    }
                    f.name = Some((*k, (*v).clone()));
                }
                [] => {}
                _ => {
                    return Err(ApiError::InvalidInput(
                        "name filter: give exactly one of equals, contains, regex".into(),
                    ))
                }
            }
        }
        f.tags.extend(self.tag.iter().cloned());
        f.tags.extend(self.tags.iter().flatten().cloned());
        f.statuses.extend(self.status.map(m::CiStatus::from));
        f.statuses.extend(
            self.statuses
                .iter()
                .flatten()
                .map(|s| m::CiStatus::from(*s)),
        );
        f.source = self.source.clone();
        f.ip_address = self.ip_address.clone();
        for a in self
            .attribute
            .iter()
            .chain(self.attributes.iter().flatten())
        {
            f.attributes.push((a.key.clone(), a.equals.0.clone()));
        }
        f.last_seen_before = self.last_seen_before;
        f.last_seen_after = self.last_seen_after;
        f.ids = self
            .ids
            .as_ref()
            .map(|v| v.iter().map(|i| m::CiId::new(i.as_str())).collect());
        Ok(f)
    }
}

#[derive(InputObject, Debug, Clone, Copy, Default)]
#[graphql(name = "CIOrder")]
pub struct CiOrderG {
    #[graphql(default)]
    pub field: CiOrderFieldG,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<CiOrderG> for st::CiOrder {
    fn from(o: CiOrderG) -> Self {
        st::CiOrder {
            field: match o.field {
                CiOrderFieldG::Id => st::CiOrderField::Id,
                CiOrderFieldG::Name => st::CiOrderField::Name,
                CiOrderFieldG::Class => st::CiOrderField::Class,
                CiOrderFieldG::LastSeen => st::CiOrderField::LastSeen,
                CiOrderFieldG::FirstSeen => st::CiOrderField::FirstSeen,
            },
            descending: o.direction == OrderDirection::Desc,
        }
    }
}
