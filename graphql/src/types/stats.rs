//! `stats`: store counts.

#[derive(async_graphql::SimpleObject)]
pub struct NamedCount {
    pub name: String,
    pub count: usize,
}

#[derive(async_graphql::SimpleObject)]
#[graphql(name = "Stats")]
pub struct StatsG {
    pub cis: usize,
    pub relationships: usize,
    pub history_entries: usize,
    pub by_class: Vec<NamedCount>,
    pub by_status: Vec<NamedCount>,
}
