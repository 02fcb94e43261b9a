//! `POST /customers/search` filters and the `limit`/`offset` paging shared with listing (pure).

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::validate::FieldError;

/// Page size when none is asked for, and the largest the API serves.
const MAX_LIMIT: u64 = 100;

/// Which slice of the matching customers to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            limit: MAX_LIMIT as usize,
            offset: 0,
        }
    }
}

impl Page {
    /// Reads `limit` (1 to 100) and `offset` from JSON values; `null` or absent means default.
    fn from_values(
        limit: Option<&Value>,
        offset: Option<&Value>,
        errors: &mut Vec<FieldError>,
    ) -> Page {
        let mut page = Page::default();
        match limit {
            None | Some(Value::Null) => {}
            Some(value) => match value.as_u64() {
                Some(n @ 1..=MAX_LIMIT) => page.limit = n as usize,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_LIMIT}"),
                )),
            },
        }
        match offset {
            None | Some(Value::Null) => {}
            Some(value) => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => page.offset = n,
                None => errors.push(FieldError::new("offset", "must be a non-negative integer")),
            },
        }
        page
    }

    /// Reads `?limit=&offset=` of `GET /customers`; other parameters are ignored.
    pub(crate) fn from_query(params: &HashMap<String, String>) -> Result<Page, Vec<FieldError>> {
        let number = |name: &str| {
            params.get(name).map(|text| {
                text.parse::<u64>()
                    .map_or_else(|_| Value::String(text.clone()), Value::from)
            })
        };
        let mut errors = Vec::new();
        let page = Page::from_values(
            number("limit").as_ref(),
            number("offset").as_ref(),
            &mut errors,
        );
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(errors)
        }
    }

    /// The page of `items` and how many there were in all.
    pub(crate) fn apply<'a>(
        &self,
        items: impl Iterator<Item = &'a Map<String, Value>>,
    ) -> (Vec<Value>, usize) {
        let mut total = 0;
        let mut data = Vec::new();
        for item in items {
            if total >= self.offset && data.len() < self.limit {
                data.push(Value::Object(item.clone()));
            }
            total += 1;
        }
        (data, total)
    }
}

/// A parsed search body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Search {
    filters: Vec<Filter>,
    /// `comparison: "OR"`: one matching filter is enough.
    any: bool,
    pub page: Page,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    field: Field,
    operator: Operator,
    /// The value as text, for text fields and for `~` on ids.
    text: String,
    /// The value as a number, for ordering ids.
    number: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Email,
    UserId,
    Name,
}

impl Field {
    const ALL: [(&'static str, Field); 4] = [
        ("customers.id", Field::Id),
        ("customers.email", Field::Email),
        ("customers.userId", Field::UserId),
        ("customers.name", Field::Name),
    ];

    fn key(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Email => "email",
            Field::UserId => "userId",
            Field::Name => "name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Contains,
    NotContains,
}

impl Operator {
    const ALL: [(&'static str, Operator); 8] = [
        ("=", Operator::Eq),
        ("!=", Operator::Ne),
        (">", Operator::Gt),
        ("<", Operator::Lt),
        (">=", Operator::Ge),
        ("<=", Operator::Le),
        ("~", Operator::Contains),
        ("!~", Operator::NotContains),
    ];

    fn holds(self, ordering: Ordering, contains: bool) -> bool {
        match self {
            Operator::Eq => ordering == Ordering::Equal,
            Operator::Ne => ordering != Ordering::Equal,
            Operator::Gt => ordering == Ordering::Greater,
            Operator::Lt => ordering == Ordering::Less,
            Operator::Ge => ordering != Ordering::Less,
            Operator::Le => ordering != Ordering::Greater,
            Operator::Contains => contains,
            Operator::NotContains => !contains,
        }
    }
}

impl Search {
    pub(crate) fn parse(body: &Value) -> Result<Search, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError::new("body", "must be a JSON object")]);
        };
        let mut errors = Vec::new();
        for key in object.keys() {
            if !["filter", "comparison", "limit", "offset"].contains(&key.as_str()) {
                errors.push(FieldError::new(key.clone(), "unknown field"));
            }
        }
        let filters = match object.get("filter") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| Filter::parse(item, index, &mut errors))
                .collect(),
            Some(_) => {
                errors.push(FieldError::new("filter", "must be an array of filters"));
                Vec::new()
            }
        };
        let any = match object.get("comparison").map(|c| (c, c.as_str())) {
            None | Some((Value::Null, _)) | Some((_, Some("AND"))) => false,
            Some((_, Some("OR"))) => true,
            Some(_) => {
                errors.push(FieldError::new("comparison", "must be \"AND\" or \"OR\""));
                false
            }
        };
        let page = Page::from_values(object.get("limit"), object.get("offset"), &mut errors);
        if errors.is_empty() {
            Ok(Search { filters, any, page })
        } else {
            Err(errors)
        }
    }

    /// Whether `customer` is selected. No filter selects everyone.
    pub(crate) fn matches(&self, customer: &Map<String, Value>) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let mut results = self.filters.iter().map(|filter| filter.matches(customer));
        if self.any {
            results.any(|hit| hit)
        } else {
            results.all(|hit| hit)
        }
    }
}

impl Filter {
    fn parse(item: &Value, index: usize, errors: &mut Vec<FieldError>) -> Option<Filter> {
        let path = format!("filter[{index}]");
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(
                path,
                "must be an object with field, operator and value",
            ));
            return None;
        };
        let before = errors.len();
        for key in object.keys() {
            if !["field", "operator", "value"].contains(&key.as_str()) {
                errors.push(FieldError::new(format!("{path}.{key}"), "unknown field"));
            }
        }
        let field = object
            .get("field")
            .and_then(Value::as_str)
            .and_then(|name| Field::ALL.iter().find(|(known, _)| *known == name))
            .map(|&(_, field)| field);
        if field.is_none() {
            errors.push(FieldError::new(
                format!("{path}.field"),
                "must be one of customers.id, customers.email, customers.userId, customers.name",
            ));
        }
        let operator = object
            .get("operator")
            .and_then(Value::as_str)
            .and_then(|name| Operator::ALL.iter().find(|(known, _)| *known == name))
            .map(|&(_, operator)| operator);
        if operator.is_none() {
            errors.push(FieldError::new(
                format!("{path}.operator"),
                "must be one of = != > < >= <= ~ !~",
            ));
        }
        let value = object.get("value");
        let parsed = match field {
            Some(Field::Id) => match value {
                Some(Value::Number(n)) => n.as_u64().map(|id| (id.to_string(), id)),
                Some(Value::String(text)) if text.bytes().all(|b| b.is_ascii_digit()) => {
                    text.parse().ok().map(|id| (text.clone(), id))
                }
                _ => None,
            },
            _ => value
                .and_then(Value::as_str)
                .map(|text| (text.to_string(), 0)),
        };
        let Some((text, number)) = parsed else {
            let message = if field == Some(Field::Id) {
                "must be a customer id"
            } else {
                "must be a string"
            };
            errors.push(FieldError::new(format!("{path}.value"), message));
            return None;
        };
        match (field, operator) {
            (Some(field), Some(operator)) if errors.len() == before => Some(Filter {
                field,
                operator,
                text,
                number,
            }),
            _ => None,
        }
    }

    /// Ids compare as numbers, text byte-wise and case-sensitively. A customer without the
    /// field matches only the negative operators (`!=`, `!~`).
    fn matches(&self, customer: &Map<String, Value>) -> bool {
        let value = customer.get(self.field.key());
        if self.field == Field::Id {
            let Some(id) = value.and_then(Value::as_u64) else {
                return false;
            };
            let contains = id.to_string().contains(&self.text);
            return self.operator.holds(id.cmp(&self.number), contains);
        }
        match value.and_then(Value::as_str) {
            Some(text) => self.operator.holds(
                text.cmp(self.text.as_str()),
                text.contains(self.text.as_str()),
            ),
            None => matches!(self.operator, Operator::Ne | Operator::NotContains),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customers() -> Vec<Map<String, Value>> {
        [
            json!({"id": 1000001, "name": "Ann", "email": "ann@a.com", "userId": "u1"}),
            json!({"id": 1000002, "name": "Bob", "email": null, "userId": "u2"}),
            json!({"id": 1000010, "name": "Cid", "email": "cid@b.com", "userId": null}),
        ]
        .into_iter()
        .filter_map(|c| c.as_object().cloned())
        .collect()
    }

    fn ids(body: Value) -> Vec<u64> {
        let search = Search::parse(&body).expect("valid search");
        customers()
            .iter()
            .filter(|c| search.matches(c))
            .filter_map(|c| c["id"].as_u64())
            .collect()
    }

    fn one(field: &str, operator: &str, value: Value) -> Vec<u64> {
        ids(json!({"filter": [{"field": field, "operator": operator, "value": value}]}))
    }

    #[test]
    fn each_operator_on_text() {
        assert_eq!(one("customers.name", "=", json!("Bob")), [1000002]);
        assert_eq!(
            one("customers.name", "!=", json!("Bob")),
            [1000001, 1000010]
        );
        assert_eq!(one("customers.name", ">", json!("Bob")), [1000010]);
        assert_eq!(one("customers.name", "<", json!("Bob")), [1000001]);
        assert_eq!(
            one("customers.name", ">=", json!("Bob")),
            [1000002, 1000010]
        );
        assert_eq!(
            one("customers.name", "<=", json!("Bob")),
            [1000001, 1000002]
        );
        assert_eq!(one("customers.email", "~", json!("@a.")), [1000001]);
        assert_eq!(
            one("customers.email", "!~", json!("@a.")),
            [1000002, 1000010]
        );
    }

    #[test]
    fn missing_values_match_only_negative_operators() {
        assert_eq!(one("customers.userId", "=", json!("u3")), Vec::<u64>::new());
        assert_eq!(
            one("customers.userId", "!=", json!("u1")),
            [1000002, 1000010]
        );
        assert_eq!(one("customers.email", ">", json!("")), [1000001, 1000010]);
    }

    #[test]
    fn ids_compare_as_numbers() {
        // As text "1000010" < "1000002"; as numbers it is greater.
        assert_eq!(one("customers.id", ">", json!(1000002)), [1000010]);
        assert_eq!(
            one("customers.id", "<=", json!("1000002")),
            [1000001, 1000002]
        );
        assert_eq!(
            one("customers.id", "~", json!("10")),
            [1000001, 1000002, 1000010]
        );
        assert_eq!(one("customers.id", "!~", json!("01")), [1000002]);
    }

    #[test]
    fn comparison_joins_filters() {
        let filters = json!([
            {"field": "customers.name", "operator": "=", "value": "Ann"},
            {"field": "customers.userId", "operator": "=", "value": "u2"}
        ]);
        assert_eq!(
            ids(json!({"filter": filters, "comparison": "OR"})),
            [1000001, 1000002]
        );
        assert_eq!(
            ids(json!({"filter": filters, "comparison": "AND"})),
            Vec::<u64>::new()
        );
        assert_eq!(ids(json!({"filter": filters})), Vec::<u64>::new());
        assert_eq!(
            ids(json!({"comparison": "OR"})),
            [1000001, 1000002, 1000010]
        );
    }

    #[test]
    fn bad_searches_name_each_problem() {
        let errors = Search::parse(&json!({
            "filter": [
                {"field": "customers.phone", "operator": "=", "value": "x"},
                {"field": "customers.name", "operator": "like", "value": "x"},
                {"field": "customers.id", "operator": "=", "value": "abc"},
                {"field": "customers.name", "operator": "=", "value": 3},
                "x"
            ],
            "comparison": "XOR", "limit": 101, "offset": -1, "sort": "id"
        }))
        .expect_err("invalid");
        let codes: Vec<_> = errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "sort",
                "filter[0].field",
                "filter[1].operator",
                "filter[2].value",
                "filter[3].value",
                "filter[4]",
                "comparison",
                "limit",
                "offset"
            ]
        );
    }

    #[test]
    fn paging_defaults_and_limits() {
        let mut errors = Vec::new();
        assert_eq!(Page::from_values(None, None, &mut errors), Page::default());
        assert_eq!(
            Page::default(),
            Page {
                limit: 100,
                offset: 0
            }
        );
        let page = Page::from_values(Some(&json!(1)), Some(&json!(1)), &mut errors);
        assert!(errors.is_empty());
        let all = customers();
        let (data, total) = page.apply(all.iter());
        assert_eq!(total, 3);
        assert_eq!(data, [Value::Object(all[1].clone())]);
        Page::from_values(Some(&json!(0)), Some(&json!(1.5)), &mut errors);
        assert_eq!(errors.len(), 2);
        let query = HashMap::from([("limit".to_string(), "x".to_string())]);
        assert!(Page::from_query(&query).is_err());
        let query = HashMap::from([("offset".to_string(), "2".to_string())]);
        assert_eq!(
            Page::from_query(&query),
            Ok(Page {
                limit: 100,
                offset: 2
            })
        );
    }
}
