//! Pass 3: the variables' nesting and list sizes.

use async_graphql::ServerError;
use async_graphql_value::ConstValue;

use super::limits::{limit_error, list_error, RequestLimits};

/// Pass 3: the variables' nesting and list sizes, with an explicit stack (serde_json already
/// refuses JSON nested deeper than 128 on every HTTP path; in-process callers are held to the
/// same limits).
pub fn check_variables(
    vars: &async_graphql::Variables,
    limits: &RequestLimits,
) -> Result<(), ServerError> {
    let mut todo: Vec<(&ConstValue, usize)> = vars.values().map(|v| (v, 0)).collect();
    while let Some((v, depth)) = todo.pop() {
        match v {
            ConstValue::List(_) | ConstValue::Object(_) if depth + 1 > limits.max_value_depth => {
                return Err(limit_error(
                    "max_value_depth",
                    format!(
                        "a variable's value nests more than {} levels deep",
                        limits.max_value_depth
                    ),
                    None,
                ));
            }
            ConstValue::List(items) => {
                if items.len() > limits.max_list_items {
                    return Err(list_error(items.len(), limits, None));
                }
                todo.extend(items.iter().map(|i| (i, depth + 1)));
            }
            ConstValue::Object(fields) => todo.extend(fields.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}
