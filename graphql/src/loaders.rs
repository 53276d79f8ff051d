//! Batching. CIs by id go through a DataLoader. Relationships are batched per *level*: every CI
//! object produced by one list (a `cis` page, the ends of one batch of relationships, the
//! members of a page of services) shares a [`Level`]; the first `relationships` field resolved
//! on any of them fetches the relationships of the whole level in one store call (plus one
//! `get_many` for the CIs at their ends when `from`/`to` are selected), and every sibling reads
//! from that result. Unlike a time-window DataLoader this never splits a level into several
//! round trips, however slowly the resolvers are polled.
//!
//! The `CI` type's fields are in `types::ci`; a [`CiObj`] is defined here because it carries
//! its level.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::Context;
use cmdb_model::{Ci, CiId, RelType, Relationship};
use cmdb_store::{Direction, GraphStore, RelQuery};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::error::{gql, ApiError};

/// A configuration item as resolvers carry it: the CI, and the level (list) it was produced in, for batching.
#[derive(Clone, Debug)]
pub struct CiObj(pub Arc<Ci>, pub Option<Arc<Level>>);

impl From<Ci> for CiObj {
    fn from(c: Ci) -> Self {
        CiObj(Arc::new(c), None)
    }
}

impl CiObj {
    /// CIs produced by one list: they share a level.
    pub fn level(cis: Vec<Ci>) -> Vec<CiObj> {
        let level = Level::new(cis.iter().map(|c| c.id.clone()).collect());
        cis.into_iter()
            .map(|c| CiObj(Arc::new(c), Some(level.clone())))
            .collect()
    }
}

pub struct CiLoader(pub Arc<dyn GraphStore>);

impl Loader<CiId> for CiLoader {
    type Value = Arc<Ci>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[CiId]) -> Result<HashMap<CiId, Arc<Ci>>, Arc<ApiError>> {
        let cis = self
            .0
            .get_many(keys)
            .await
            .map_err(|e| Arc::new(ApiError::from(e)))?;
        Ok(cis
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect())
    }
}

/// The identifier keys of CIs produced without a level (one by one: `ci(id)`, dependencies,
/// impact), batched by the loader's window.
pub struct IdentifierLoader(pub Arc<dyn GraphStore>);

impl Loader<CiId> for IdentifierLoader {
    type Value = Arc<Vec<String>>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[CiId]) -> Result<HashMap<CiId, Arc<Vec<String>>>, Arc<ApiError>> {
        let pairs = self
            .0
            .identifiers_of(keys)
            .await
            .map_err(|e| Arc::new(ApiError::from(e)))?;
        Ok(group_keys(pairs))
    }
}

fn group_keys(pairs: Vec<(CiId, String)>) -> HashMap<CiId, Arc<Vec<String>>> {
    let mut by: HashMap<CiId, Vec<String>> = HashMap::new();
    for (id, key) in pairs {
        by.entry(id).or_default().push(key);
    }
    by.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()
}

/// CIs produced together by one list; their relationships are fetched together.
#[derive(Debug)]
pub struct Level {
    pub ids: Vec<CiId>,
}

impl Level {
    pub fn new(mut ids: Vec<CiId>) -> Arc<Level> {
        ids.sort();
        ids.dedup();
        Arc::new(Level { ids })
    }
}

/// What a `relationships`-like field asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelArgs {
    pub direction: Direction,
    /// Sorted; empty = all types.
    pub types: Vec<RelType>,
    pub include_closed: bool,
    /// Fetch the CIs at the `from` / `to` ends too.
    pub from_ends: bool,
    pub to_ends: bool,
}

/// The relationships of one level.
pub struct LevelRels {
    per_ci: HashMap<CiId, Arc<Vec<Relationship>>>,
    /// End CIs (when asked for), and the level they form.
    pub ends: Option<Arc<HashMap<CiId, Arc<Ci>>>>,
    pub ends_level: Option<Arc<Level>>,
    /// Keeps the level alive so its address is not reused within the request.
    _level: Arc<Level>,
}

impl LevelRels {
    pub fn of(&self, id: &CiId) -> Arc<Vec<Relationship>> {
        self.per_ci.get(id).cloned().unwrap_or_default()
    }
}

type LevelKey = (usize, RelArgs);

/// Per-request state; attached to each request by [`crate::Api::prepare`].
/// One level's identifier keys, and the level (kept alive so its address is not reused).
type LevelKeys = (
    Arc<Level>,
    Arc<OnceCell<Arc<HashMap<CiId, Arc<Vec<String>>>>>>,
);

pub struct Loaders {
    store: Arc<dyn GraphStore>,
    pub cis: DataLoader<CiLoader>,
    identifiers: DataLoader<IdentifierLoader>,
    levels: Mutex<HashMap<LevelKey, Arc<OnceCell<Arc<LevelRels>>>>>,
    level_keys: Mutex<HashMap<usize, LevelKeys>>,
}

impl Loaders {
    pub fn new(store: Arc<dyn GraphStore>) -> Self {
        Loaders {
            cis: DataLoader::new(CiLoader(store.clone()), tokio::spawn)
                .delay(std::time::Duration::from_millis(1)),
            identifiers: DataLoader::new(IdentifierLoader(store.clone()), tokio::spawn)
                .delay(std::time::Duration::from_millis(1)),
            store,
            levels: Mutex::new(HashMap::new()),
            level_keys: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch_level(
        &self,
        level: Arc<Level>,
        args: &RelArgs,
    ) -> Result<Arc<LevelRels>, ApiError> {
        let q = RelQuery {
            direction: args.direction,
            types: args.types.clone(),
            include_closed: args.include_closed,
        };
        let rels = self.store.relationships(&level.ids, &q).await?;
        let mut per: HashMap<CiId, Vec<Relationship>> = HashMap::new();
        let wanted: std::collections::HashSet<&CiId> = level.ids.iter().collect();
        for r in &rels {
            let sym = r.rel_type.is_symmetric();
            let from_side = matches!(args.direction, Direction::Out | Direction::Both) || sym;
            let to_side = matches!(args.direction, Direction::In | Direction::Both) || sym;
            if from_side && wanted.contains(&r.from) {
                per.entry(r.from.clone()).or_default().push(r.clone());
            }
            if to_side && r.to != r.from && wanted.contains(&r.to) {
                per.entry(r.to.clone()).or_default().push(r.clone());
            }
        }
        let per_ci = per
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_by(|a, b| (a.rel_type, &a.from, &a.to).cmp(&(b.rel_type, &b.from, &b.to)));
                v.dedup_by(|a, b| a.key() == b.key());
                (k, Arc::new(v))
            })
            .collect();
        let (ends, ends_level) = if args.from_ends || args.to_ends {
            let mut ids: Vec<CiId> = Vec::new();
            for r in &rels {
                if args.from_ends {
                    ids.push(r.from.clone());
                }
                if args.to_ends {
                    ids.push(r.to.clone());
                }
            }
            ids.sort();
            ids.dedup();
            let cis = if ids.is_empty() {
                Vec::new()
            } else {
                self.store.get_many(&ids).await?
            };
            let map: HashMap<CiId, Arc<Ci>> = cis
                .into_iter()
                .map(|c| (c.id.clone(), Arc::new(c)))
                .collect();
            let lvl = Level::new(map.keys().cloned().collect());
            (Some(Arc::new(map)), Some(lvl))
        } else {
            (None, None)
        };
        Ok(Arc::new(LevelRels {
            per_ci,
            ends,
            ends_level,
            _level: level,
        }))
    }
}

fn loaders<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| gql(ApiError::Internal("request data lacks loaders".into())))
}

/// The relationships of `ci`'s whole level (fetched once per level and arguments).
pub async fn level_rels(
    ctx: &Context<'_>,
    ci: &CiObj,
    args: RelArgs,
) -> async_graphql::Result<Arc<LevelRels>> {
    let l = loaders(ctx)?;
    let level =
        ci.1.clone()
            .unwrap_or_else(|| Level::new(vec![ci.0.id.clone()]));
    let key = (Arc::as_ptr(&level) as usize, args.clone());
    let cell = l
        .levels
        .lock()
        .entry(key)
        .or_insert_with(|| Arc::new(OnceCell::new()))
        .clone();
    let got = cell
        .get_or_try_init(|| async { l.fetch_level(level.clone(), &args).await })
        .await
        .map_err(|e| to_gql(&e))?;
    Ok(got.clone())
}

/// The identifier keys of `ci`: for a CI of a level, the whole level's in one store call
/// (the first sibling asking fetches them); for a CI produced alone, through the loader.
pub async fn identifiers(ctx: &Context<'_>, ci: &CiObj) -> async_graphql::Result<Arc<Vec<String>>> {
    let l = loaders(ctx)?;
    let Some(level) = ci.1.clone() else {
        return l
            .identifiers
            .load_one(ci.0.id.clone())
            .await
            .map(Option::unwrap_or_default)
            .map_err(|e| to_gql(&e));
    };
    let cell = l
        .level_keys
        .lock()
        .entry(Arc::as_ptr(&level) as usize)
        .or_insert_with(|| (level.clone(), Arc::new(OnceCell::new())))
        .1
        .clone();
    let keys = cell
        .get_or_try_init(|| async {
            l.store
                .identifiers_of(&level.ids)
                .await
                .map(|pairs| Arc::new(group_keys(pairs)))
                .map_err(ApiError::from)
        })
        .await
        .map_err(|e| to_gql(&e))?;
    Ok(keys.get(&ci.0.id).cloned().unwrap_or_default())
}

fn to_gql(e: &ApiError) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    e.extend()
}

/// `ctx.load_ci(id)` / `ctx.load_cis(ids)` from any resolver.
pub trait CiLoaderExt {
    async fn load_ci(&self, id: &CiId) -> async_graphql::Result<Option<CiObj>>;
    async fn load_cis(&self, ids: &[CiId]) -> async_graphql::Result<Vec<CiObj>>;
}

impl CiLoaderExt for Context<'_> {
    async fn load_ci(&self, id: &CiId) -> async_graphql::Result<Option<CiObj>> {
        let l = loaders(self)?;
        match l.cis.load_one(id.clone()).await {
            Ok(v) => Ok(v.map(|c| CiObj(c, None))),
            Err(e) => Err(to_gql(&e)),
        }
    }
    /// In the order given; unknown ids skipped. The CIs form one level.
    async fn load_cis(&self, ids: &[CiId]) -> async_graphql::Result<Vec<CiObj>> {
        let l = loaders(self)?;
        let map = l
            .cis
            .load_many(ids.iter().cloned())
            .await
            .map_err(|e| to_gql(&e))?;
        let level = Level::new(map.keys().cloned().collect());
        Ok(ids
            .iter()
            .filter_map(|i| map.get(i).cloned().map(|c| CiObj(c, Some(level.clone()))))
            .collect())
    }
}
