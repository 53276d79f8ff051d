//! GraphQL types, one file per entity. They are their own structs, converted from model types:
//! the model carries no GraphQL attributes.

mod alert;
mod ci;
mod dependency;
mod enums;
mod filter;
mod health;
mod history;
mod identification;
mod impact;
mod incident;
mod map;
mod page;
mod path;
mod relationship;
mod risk;
mod service;
mod stats;
mod status;
mod window;

pub use alert::*;
pub use ci::*;
pub use dependency::*;
pub use enums::*;
pub use filter::*;
pub use health::*;
pub use history::*;
pub use identification::*;
pub use impact::*;
pub use incident::*;
pub use map::*;
pub use page::*;
pub use path::*;
pub use relationship::*;
pub use risk::*;
pub use service::*;
pub use stats::*;
pub use status::*;
pub use window::*;
