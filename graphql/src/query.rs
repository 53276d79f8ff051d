//! The CMDB queries: a CI, the `cis` list and the search box, dependencies, business
//! services, `impact` and store counts.

use std::sync::Arc;

use async_graphql::{Context, Object, ID};
use cmdb_model::impact::ImpactOptions;
use cmdb_model::{CiClass, CiId};
use cmdb_store as st;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::loaders::CiObj;
use crate::resolve::{check_depth, page_request, require_ci, resolve_ids, state};
use crate::types::{
    BusinessServiceObj, CiClassG, CiConnection, CiFilterG, CiOrderG, DependencyDirection,
    ImpactReportObj, NamedCount, ReachedCi, RelTypeG, StatsG,
};

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// A CI by id (ids merged into another CI resolve to it).
    async fn ci(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<CiObj>> {
        Ok(state(ctx)?
            .store
            .get(&CiId::new(id.as_str()))
            .await
            .api()?
            .map(Into::into))
    }

    /// CIs matching `filter`, ordered, Relay-paginated, with the total count.
    #[graphql(complexity = "crate::resolve::page_complexity(first, last, child_complexity)")]
    // The arguments are the field's GraphQL arguments (filter, order, Relay paging).
    #[allow(clippy::too_many_arguments)]
    async fn cis(
        &self,
        ctx: &Context<'_>,
        filter: Option<CiFilterG>,
        order_by: Option<CiOrderG>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<CiConnection> {
        let s = state(ctx)?;
        let f = filter.unwrap_or_default().to_store().api()?;
        let page = page_request(s, first, after, last, before)?;
        let p = s
            .store
            .find(&f, order_by.unwrap_or_default().into(), &page)
            .await
            .api()?;
        Ok(CiConnection::from_page(p))
    }

    /// The search box: CIs whose name contains `text` (any case), that hold an identifier
    /// with `text` as its value once normalised the way identification normalises it (IP
    /// address, MAC address in any common notation, serial number, host name, interface
    /// name, …), or that carry `text` as a tag (exactly). Identifier matches first, then by
    /// name, then id; Relay-paginated forward like `cis`, with the total count. `classes`
    /// narrows it to CIs of those classes. An empty or blank `text` is INVALID_INPUT.
    #[graphql(complexity = "crate::resolve::page_complexity(first, None, child_complexity)")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        text: String,
        classes: Option<Vec<CiClassG>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<CiConnection> {
        let s = state(ctx)?;
        if text.trim().is_empty() {
            return Err(gql(ApiError::InvalidInput(
                "`text` is empty; search for a name, an identifier (IP, MAC, serial number, host name) or a tag"
                    .into(),
            )));
        }
        let max = cmdb_model::search::MAX_TEXT_CHARS;
        if text.chars().count() > max {
            return Err(gql(ApiError::LimitExceeded(format!(
                "`text` is longer than {max} characters"
            ))));
        }
        let page = page_request(s, first, after, None, None)?;
        let mut classes: Vec<CiClass> = classes
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        classes.sort();
        classes.dedup();
        let p = s
            .store
            .search(&st::SearchQuery { text, classes }, &page)
            .await
            .api()?;
        Ok(CiConnection::from_page(p))
    }

    /// CIs reached from `id`: UPSTREAM = what it relies on, DOWNSTREAM = what its failure
    /// would affect. Each with its shortest depth.
    async fn dependencies(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default_with = "DependencyDirection::Upstream")] direction: DependencyDirection,
        #[graphql(default = 10)] max_depth: i32,
        types: Option<Vec<RelTypeG>>,
        #[graphql(
            desc = "At most this many, nearest first (default and maximum: the page size cap)."
        )]
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<ReachedCi>> {
        let s = state(ctx)?;
        let max_depth = check_depth(s, max_depth)?;
        let limit = s.at_most(first)?;
        let start = require_ci(s, id.as_str()).await?;
        let q = st::TraverseQuery {
            direction: match direction {
                DependencyDirection::Upstream => st::TraverseDirection::Upstream,
                DependencyDirection::Downstream => st::TraverseDirection::Downstream,
            },
            max_depth,
            types: types
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        let mut reached = s
            .store
            .traverse(std::slice::from_ref(&start.id), &q)
            .await
            .api()?;
        reached.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        Ok(reached
            .into_iter()
            .filter(|r| r.id != start.id)
            .take(limit)
            .map(|r| ReachedCi {
                id: r.id,
                depth: r.depth,
                via: r.via,
            })
            .collect())
    }

    /// All business services, by name.
    async fn business_services(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Vec<BusinessServiceObj>> {
        let s = state(ctx)?;
        let page = page_request(
            s,
            first.or(Some(s.limits.max_page_size.min(i32::MAX as usize) as i32)),
            after,
            None,
            None,
        )?;
        let f = st::CiFilter {
            classes: vec![CiClass::BusinessService],
            ..Default::default()
        };
        let order = st::CiOrder {
            field: st::CiOrderField::Name,
            descending: false,
        };
        let p = s.store.find(&f, order, &page).await.api()?;
        Ok(CiObj::level(p.items.into_iter().map(|(_, c)| c).collect())
            .into_iter()
            .map(BusinessServiceObj)
            .collect())
    }

    /// One business service.
    async fn business_service(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<BusinessServiceObj>> {
        let s = state(ctx)?;
        match s.store.get(&CiId::new(id.as_str())).await.api()? {
            Some(ci) if ci.class == CiClass::BusinessService => {
                Ok(Some(BusinessServiceObj(ci.into())))
            }
            _ => Ok(None),
        }
    }

    /// Which business services are affected if the CIs `ids` fail, and why. Follows each
    /// relationship type's declared impact flow up to `maxDepth` hops (default 20: a
    /// three-tier service behind a load balancer and its switches is 10–13 hops deep).
    async fn impact(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
    ) -> async_graphql::Result<ImpactReportObj> {
        let s = state(ctx)?;
        let max_depth = check_depth(s, max_depth)?;
        let failing = resolve_ids(s, &ids, "impact").await?;
        let opts = ImpactOptions {
            max_depth,
            max_paths_per_service: s.limits.max_paths_per_service,
        };
        let report = st::analysis::impact(s.store.as_ref(), &failing, &opts)
            .await
            .api()?;
        Ok(ImpactReportObj {
            report: Arc::new(report),
            max_depth,
        })
    }

    /// Store counts.
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<StatsG> {
        let st = state(ctx)?.store.stats().await.api()?;
        Ok(StatsG {
            cis: st.cis,
            relationships: st.relationships,
            history_entries: st.history_entries,
            by_class: st
                .by_class
                .into_iter()
                .map(|(k, n)| NamedCount { name: k, count: n })
                .collect(),
            by_status: st
                .by_status
                .into_iter()
                .map(|(k, n)| NamedCount { name: k, count: n })
                .collect(),
        })
    }
}
