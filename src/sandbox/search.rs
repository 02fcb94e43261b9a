//! `POST /customers/search` filters, and the paging and order (`limit`, `offset`, `sort`,
//! `order`) shared with listing (pure).
//!
//! Filters are typed as the docs type the fields: `customers.id` an integer, `lastSeen` a
//! date (a string holding a UNIX timestamp), `tagsData` an array of `{"name": ...}`, the rest
//! strings. An operator the field's type does not take, or a value of another type, is a 400
//! ("The value has to match the field type, otherwise the query will fail").

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::validate::{FieldError, is_timestamp};

/// Page size when none is asked for, and the largest the sandbox serves.
const MAX_LIMIT: u64 = 100;

/// Which slice of the matching customers to answer with, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub limit: usize,
    pub offset: usize,
    pub order: Order,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            limit: MAX_LIMIT as usize,
            offset: 0,
            order: Order::default(),
        }
    }
}

/// `sort` and `order`: by id ascending unless asked otherwise, so paging is stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Order {
    pub key: SortKey,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SortKey {
    #[default]
    Id,
    FirstSeen,
    LastSeen,
}

impl SortKey {
    const ALL: [(&'static str, SortKey); 3] = [
        ("customers.id", SortKey::Id),
        ("customers.firstSeen", SortKey::FirstSeen),
        ("customers.lastSeen", SortKey::LastSeen),
    ];

    /// The customer's value to sort on; a customer without one sorts first, as SQL's NULL.
    fn of(self, customer: &Map<String, Value>) -> Option<u64> {
        let field = match self {
            SortKey::Id => "id",
            SortKey::FirstSeen => "firstSeen",
            SortKey::LastSeen => "lastSeen",
        };
        customer.get(field).and_then(number)
    }
}

/// A stored number or timestamp string as a number.
fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// Looks `name` up in a table of `(name, value)`.
fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, value)| value)
}

/// The names of a table, for error messages.
fn names<T>(table: &[(&str, T)]) -> String {
    let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

impl Page {
    /// Reads `limit` (1 to 100), `offset`, `sort` and `order` from JSON values; `null` or
    /// absent means the default.
    fn from_values(get: impl Fn(&str) -> Option<Value>, errors: &mut Vec<FieldError>) -> Page {
        let mut page = Page::default();
        let present = |name: &str| get(name).filter(|value| !value.is_null());
        if let Some(value) = present("limit") {
            match value.as_u64() {
                Some(n @ 1..=MAX_LIMIT) => page.limit = n as usize,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {MAX_LIMIT}"),
                )),
            }
        }
        if let Some(value) = present("offset") {
            match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => page.offset = n,
                None => errors.push(FieldError::new("offset", "must be a non-negative integer")),
            }
        }
        if let Some(value) = present("sort") {
            match value.as_str().and_then(|name| lookup(&SortKey::ALL, name)) {
                Some(key) => page.order.key = key,
                None => errors.push(FieldError::new(
                    "sort",
                    format!("must be one of {}", names(&SortKey::ALL)),
                )),
            }
        }
        if let Some(value) = present("order") {
            match value.as_str() {
                Some("asc") => page.order.descending = false,
                Some("desc") => page.order.descending = true,
                _ => errors.push(FieldError::new("order", "must be \"asc\" or \"desc\"")),
            }
        }
        page
    }

    /// Reads `?limit=&offset=&sort=&order=` of `GET /customers`; other parameters are ignored.
    pub(crate) fn from_query(params: &HashMap<String, String>) -> Result<Page, Vec<FieldError>> {
        let value = |name: &str| {
            params.get(name).map(|text| {
                text.parse::<u64>()
                    .map_or_else(|_| Value::String(text.clone()), Value::from)
            })
        };
        let mut errors = Vec::new();
        let page = Page::from_values(value, &mut errors);
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(errors)
        }
    }

    /// The page of `items` (given in id order) in the asked order, and how many there were.
    pub(crate) fn apply<'a>(
        &self,
        items: impl DoubleEndedIterator<Item = &'a Map<String, Value>>,
    ) -> (Vec<Value>, usize) {
        match (self.order.key, self.order.descending) {
            (SortKey::Id, false) => self.slice(items),
            (SortKey::Id, true) => self.slice(items.rev()),
            (key, descending) => {
                let mut sorted: Vec<_> = items.collect();
                // Stable: customers with the same value stay in id order.
                sorted.sort_by(|a, b| {
                    let ordering = key.of(a).cmp(&key.of(b));
                    if descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                });
                self.slice(sorted.into_iter())
            }
        }
    }

    fn slice<'a>(
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
    operand: Operand,
}

/// A filter's value, read as its field's type.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// An id, or a date's timestamp.
    Number(u64),
    Text(String),
    /// Tag names, every one of which the customer must carry.
    Tags(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Integer,
    String,
    Date,
    Array,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Integer => "integer",
            Type::String => "string",
            Type::Date => "date",
            Type::Array => "array",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Name,
    Email,
    Company,
    Phone,
    CountryCode,
    City,
    RegionCode,
    UserId,
    LastSeen,
    TagsData,
}

impl Field {
    const ALL: [(&'static str, Field); 11] = [
        ("customers.id", Field::Id),
        ("customers.name", Field::Name),
        ("customers.email", Field::Email),
        ("customers.company", Field::Company),
        ("customers.phone", Field::Phone),
        ("customers.countryCode", Field::CountryCode),
        ("customers.city", Field::City),
        ("customers.regionCode", Field::RegionCode),
        ("customers.userId", Field::UserId),
        ("customers.lastSeen", Field::LastSeen),
        ("customers.tagsData", Field::TagsData),
    ];

    fn kind(self) -> Type {
        match self {
            Field::Id => Type::Integer,
            Field::LastSeen => Type::Date,
            Field::TagsData => Type::Array,
            _ => Type::String,
        }
    }

    /// Where the customer object keeps the field's value.
    fn value(self, customer: &Map<String, Value>) -> Option<&Value> {
        let in_location = |key| customer.get("location").and_then(|l| l.get(key));
        match self {
            Field::Id => customer.get("id"),
            Field::Name => customer.get("name"),
            Field::Email => customer.get("email"),
            Field::Company => customer.get("company"),
            Field::Phone => customer.get("phone"),
            Field::CountryCode => in_location("countryCode"),
            Field::City => in_location("city"),
            Field::RegionCode => in_location("regionCode"),
            Field::UserId => customer.get("userId"),
            Field::LastSeen => customer.get("lastSeen"),
            Field::TagsData => customer.get("tags"),
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

    /// As documented: `=` for all types, `!=` for all but arrays, the comparisons for
    /// integers and dates, `~ !~` (contains) for strings.
    fn takes(self, kind: Type) -> bool {
        match self {
            Operator::Eq => true,
            Operator::Ne => kind != Type::Array,
            Operator::Gt | Operator::Lt | Operator::Ge | Operator::Le => {
                matches!(kind, Type::Integer | Type::Date)
            }
            Operator::Contains | Operator::NotContains => kind == Type::String,
        }
    }

    /// Whether a value that compares `ordering` to the operand passes.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Operator::Eq => ordering == Ordering::Equal,
            Operator::Ne => ordering != Ordering::Equal,
            Operator::Gt => ordering == Ordering::Greater,
            Operator::Lt => ordering == Ordering::Less,
            Operator::Ge => ordering != Ordering::Less,
            Operator::Le => ordering != Ordering::Greater,
            // Never reached: parsing keeps containment to strings.
            Operator::Contains | Operator::NotContains => false,
        }
    }

    /// The operators whose answer is yes for a customer without the field.
    fn negative(self) -> bool {
        matches!(self, Operator::Ne | Operator::NotContains)
    }
}

impl Search {
    pub(crate) fn parse(body: &Value) -> Result<Search, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError::new("body", "must be a JSON object")]);
        };
        let mut errors = Vec::new();
        const KEYS: [&str; 6] = ["filter", "comparison", "limit", "offset", "sort", "order"];
        for key in object.keys() {
            if !KEYS.contains(&key.as_str()) {
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
        let page = Page::from_values(|name| object.get(name).cloned(), &mut errors);
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
            .and_then(|name| lookup(&Field::ALL, name));
        if field.is_none() {
            errors.push(FieldError::new(
                format!("{path}.field"),
                format!("must be one of {}", names(&Field::ALL)),
            ));
        }
        let operator = object
            .get("operator")
            .and_then(Value::as_str)
            .and_then(|name| lookup(&Operator::ALL, name));
        if operator.is_none() {
            errors.push(FieldError::new(
                format!("{path}.operator"),
                format!(
                    "must be one of {}",
                    names(&Operator::ALL).replace(", ", " ")
                ),
            ));
        }
        let field = field?;
        if let Some(operator) = operator.filter(|op| !op.takes(field.kind())) {
            let name = Operator::ALL
                .iter()
                .find(|(_, known)| *known == operator)
                .map_or("", |(name, _)| *name);
            errors.push(FieldError::new(
                format!("{path}.operator"),
                format!("{name} does not apply to a {} field", field.kind().name()),
            ));
        }
        let operand = Operand::parse(field.kind(), object.get("value"), &path, errors);
        match (operator, operand) {
            (Some(operator), Some(operand)) if errors.len() == before => Some(Filter {
                field,
                operator,
                operand,
            }),
            _ => None,
        }
    }

    /// Numbers compare as numbers, text byte-wise and case-sensitively, tags by name. A
    /// customer without the field matches only the negative operators (`!=`, `!~`).
    fn matches(&self, customer: &Map<String, Value>) -> bool {
        let value = self.field.value(customer).filter(|v| !v.is_null());
        let Some(value) = value else {
            return self.operator.negative();
        };
        match &self.operand {
            Operand::Number(operand) => {
                number(value).is_some_and(|n| self.operator.holds(n.cmp(operand)))
            }
            Operand::Text(operand) => {
                let Some(text) = value.as_str() else {
                    return self.operator.negative();
                };
                match self.operator {
                    Operator::Contains => text.contains(operand.as_str()),
                    Operator::NotContains => !text.contains(operand.as_str()),
                    operator => operator.holds(text.cmp(operand)),
                }
            }
            Operand::Tags(wanted) => {
                let carried: Vec<&str> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|tag| tag.get("name").and_then(Value::as_str))
                    .collect();
                wanted.iter().all(|name| carried.contains(&name.as_str()))
            }
        }
    }
}

impl Operand {
    fn parse(
        kind: Type,
        value: Option<&Value>,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) -> Option<Operand> {
        let operand = match kind {
            Type::Integer => value.and_then(Value::as_u64).map(Operand::Number),
            Type::String => value
                .and_then(Value::as_str)
                .map(|text| Operand::Text(text.to_string())),
            Type::Date => value
                .and_then(Value::as_str)
                .filter(|text| is_timestamp(text))
                .and_then(|text| text.parse().ok())
                .map(Operand::Number),
            Type::Array => tag_names(value),
        };
        if operand.is_none() {
            let message = match kind {
                Type::Integer => "must be an integer",
                Type::String => "must be a string",
                Type::Date => "must be a string holding a UNIX timestamp",
                Type::Array => "must be a non-empty array of {\"name\": ...} tags",
            };
            errors.push(FieldError::new(format!("{path}.value"), message));
        }
        operand
    }
}

/// `[{"name": "vip"}, ...]`: at least one tag, each only a non-empty name.
fn tag_names(value: Option<&Value>) -> Option<Operand> {
    let items = value?.as_array().filter(|items| !items.is_empty())?;
    let names = items.iter().map(|item| {
        let object = item.as_object().filter(|object| object.len() == 1)?;
        let name = object.get("name")?.as_str()?;
        (!name.is_empty()).then(|| name.to_string())
    });
    names.collect::<Option<Vec<_>>>().map(Operand::Tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customers() -> Vec<Map<String, Value>> {
        [
            json!({"id": 1000001, "name": "Ann", "email": "ann@a.com", "userId": "u1",
                "lastSeen": "1600000000", "firstSeen": "1500000000",
                "location": {"city": "Kyiv", "countryCode": "UA", "regionCode": null},
                "tags": [{"name": "vip", "color": "#fff"}, {"name": "new", "color": "#fff"}]}),
            json!({"id": 1000002, "name": "Bob", "email": null, "userId": "u2",
                "lastSeen": "1700000000", "firstSeen": null,
                "location": {"city": null, "countryCode": null, "regionCode": null},
                "tags": [{"name": "vip", "color": "#fff"}]}),
            json!({"id": 1000010, "name": "Cid", "email": "cid@b.com", "userId": null,
                "lastSeen": null, "firstSeen": "1400000000",
                "location": {"city": "Lviv", "countryCode": "UA", "regionCode": null},
                "tags": null}),
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

    fn codes(body: Value) -> Vec<String> {
        match Search::parse(&body) {
            Ok(search) => panic!("expected errors, got {search:?}"),
            Err(errors) => errors.into_iter().map(|e| e.code).collect(),
        }
    }

    fn bad_filter(field: &str, operator: &str, value: Value) -> Vec<String> {
        codes(json!({"filter": [{"field": field, "operator": operator, "value": value}]}))
    }

    #[test]
    fn strings_take_equality_and_containment() {
        assert_eq!(one("customers.name", "=", json!("Bob")), [1000002]);
        assert_eq!(
            one("customers.name", "!=", json!("Bob")),
            [1000001, 1000010]
        );
        assert_eq!(one("customers.email", "~", json!("@a.")), [1000001]);
        assert_eq!(
            one("customers.email", "!~", json!("@a.")),
            [1000002, 1000010]
        );
        // Case-sensitive, byte by byte.
        assert_eq!(one("customers.name", "=", json!("bob")), Vec::<u64>::new());
    }

    #[test]
    fn location_fields_are_searched_inside_location() {
        assert_eq!(
            one("customers.countryCode", "=", json!("UA")),
            [1000001, 1000010]
        );
        assert_eq!(one("customers.city", "~", json!("viv")), [1000010]);
        assert_eq!(
            one("customers.regionCode", "!=", json!("x")),
            [1000001, 1000002, 1000010]
        );
    }

    #[test]
    fn missing_values_match_only_negative_operators() {
        assert_eq!(one("customers.userId", "=", json!("u3")), Vec::<u64>::new());
        assert_eq!(
            one("customers.userId", "!=", json!("u1")),
            [1000002, 1000010]
        );
        assert_eq!(one("customers.email", "!~", json!("")), [1000002]);
        assert_eq!(
            one("customers.lastSeen", "!=", json!("1600000000")),
            [1000002, 1000010]
        );
        assert_eq!(
            one("customers.lastSeen", "<", json!("1650000000")),
            [1000001]
        );
    }

    #[test]
    fn ids_compare_as_numbers() {
        // As text "1000010" < "1000002"; as numbers it is greater.
        assert_eq!(one("customers.id", ">", json!(1000002)), [1000010]);
        assert_eq!(
            one("customers.id", "<=", json!(1000002)),
            [1000001, 1000002]
        );
        assert_eq!(one("customers.id", ">=", json!(1000010)), [1000010]);
        assert_eq!(one("customers.id", "<", json!(1000002)), [1000001]);
        assert_eq!(one("customers.id", "=", json!(1000002)), [1000002]);
        assert_eq!(
            one("customers.id", "!=", json!(1000002)),
            [1000001, 1000010]
        );
    }

    #[test]
    fn dates_compare_as_timestamps() {
        assert_eq!(
            one("customers.lastSeen", ">", json!("1600000000")),
            [1000002]
        );
        assert_eq!(
            one("customers.lastSeen", ">=", json!("1600000000")),
            [1000001, 1000002]
        );
        // "999" < "1600000000" as numbers, though not as text.
        assert_eq!(
            one("customers.lastSeen", ">", json!("999")),
            [1000001, 1000002]
        );
        assert_eq!(
            one("customers.lastSeen", "=", json!("1700000000")),
            [1000002]
        );
    }

    #[test]
    fn tags_data_needs_every_tag_named() {
        assert_eq!(
            one("customers.tagsData", "=", json!([{"name": "vip"}])),
            [1000001, 1000002]
        );
        assert_eq!(
            one(
                "customers.tagsData",
                "=",
                json!([{"name": "vip"}, {"name": "new"}])
            ),
            [1000001]
        );
        assert_eq!(
            one("customers.tagsData", "=", json!([{"name": "VIP"}])),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn operators_are_checked_by_field_type() {
        for (field, value, refused) in [
            (
                "customers.name",
                json!("a"),
                [">", "<", ">=", "<="].as_slice(),
            ),
            ("customers.id", json!(1), ["~", "!~"].as_slice()),
            ("customers.lastSeen", json!("1"), ["~", "!~"].as_slice()),
            (
                "customers.tagsData",
                json!([{"name": "a"}]),
                ["!=", ">", "<", ">=", "<=", "~", "!~"].as_slice(),
            ),
        ] {
            for operator in refused {
                assert_eq!(
                    bad_filter(field, operator, value.clone()),
                    ["filter[0].operator"],
                    "{field} {operator}"
                );
            }
        }
        let errors = Search::parse(
            &json!({"filter": [{"field": "customers.name", "operator": ">", "value": "a"}]}),
        )
        .expect_err("refused");
        assert_eq!(errors[0].message, "> does not apply to a string field");
    }

    #[test]
    fn values_must_match_the_field_type() {
        for (field, value) in [
            ("customers.id", json!("1000001")),
            ("customers.id", json!(-1)),
            ("customers.id", json!(1.5)),
            ("customers.name", json!(3)),
            ("customers.email", Value::Null),
            ("customers.lastSeen", json!(1600000000)),
            ("customers.lastSeen", json!("2020-09-13")),
            ("customers.tagsData", json!("vip")),
            ("customers.tagsData", json!([])),
            ("customers.tagsData", json!(["vip"])),
            ("customers.tagsData", json!([{"name": ""}])),
            (
                "customers.tagsData",
                json!([{"name": "a", "color": "#fff"}]),
            ),
        ] {
            assert_eq!(
                bad_filter(field, "=", value.clone()),
                ["filter[0].value"],
                "{field} {value}"
            );
        }
        let missing = codes(json!({"filter": [{"field": "customers.name", "operator": "="}]}));
        assert_eq!(missing, ["filter[0].value"]);
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
        let errors = codes(json!({
            "filter": [
                {"field": "customers.notes", "operator": "=", "value": "x"},
                {"field": "customers.name", "operator": "like", "value": "x"},
                {"field": "customers.id", "operator": "=", "value": "abc"},
                {"field": "customers.name", "operator": "=", "value": 3},
                "x"
            ],
            "comparison": "XOR", "limit": 101, "offset": -1, "sort": "id", "order": "up",
            "page": 2
        }));
        assert_eq!(
            errors,
            [
                "page",
                "filter[0].field",
                "filter[1].operator",
                "filter[2].value",
                "filter[3].value",
                "filter[4]",
                "comparison",
                "limit",
                "offset",
                "sort",
                "order"
            ]
        );
    }

    fn sorted(query: &[(&str, &str)]) -> Vec<u64> {
        let params = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let page = Page::from_query(&params).expect("valid query");
        let all = customers();
        let (data, total) = page.apply(all.iter());
        assert_eq!(total, 3);
        data.iter().filter_map(|c| c["id"].as_u64()).collect()
    }

    #[test]
    fn sort_and_order_with_nulls_first_ascending_and_ties_by_id() {
        assert_eq!(sorted(&[]), [1000001, 1000002, 1000010]);
        assert_eq!(sorted(&[("order", "desc")]), [1000010, 1000002, 1000001]);
        assert_eq!(
            sorted(&[("sort", "customers.firstSeen")]),
            [1000002, 1000010, 1000001]
        );
        assert_eq!(
            sorted(&[("sort", "customers.firstSeen"), ("order", "desc")]),
            [1000001, 1000010, 1000002]
        );
        assert_eq!(
            sorted(&[("sort", "customers.lastSeen"), ("order", "asc")]),
            [1000010, 1000001, 1000002]
        );
        assert_eq!(
            sorted(&[("sort", "customers.id"), ("order", "desc"), ("limit", "2")]),
            [1000010, 1000002]
        );
        let search =
            Search::parse(&json!({"sort": "customers.lastSeen", "order": "desc"})).expect("valid");
        assert_eq!(
            search.page.order,
            Order {
                key: SortKey::LastSeen,
                descending: true
            }
        );
    }

    #[test]
    fn paging_defaults_and_limits() {
        let mut errors = Vec::new();
        let none = |_: &str| None;
        assert_eq!(Page::from_values(none, &mut errors), Page::default());
        assert_eq!((Page::default().limit, Page::default().offset), (100, 0));
        let one = |name: &str| ["limit", "offset"].contains(&name).then(|| json!(1));
        let page = Page::from_values(one, &mut errors);
        assert!(errors.is_empty());
        let all = customers();
        let (data, total) = page.apply(all.iter());
        assert_eq!(total, 3);
        assert_eq!(data, [Value::Object(all[1].clone())]);
        let query = HashMap::from([("limit".to_string(), "x".to_string())]);
        assert!(Page::from_query(&query).is_err());
        let query = HashMap::from([("limit".to_string(), "0".to_string())]);
        assert!(Page::from_query(&query).is_err());
        let query = HashMap::from([("offset".to_string(), "2".to_string())]);
        assert_eq!(Page::from_query(&query).map(|p| p.offset), Ok(2));
        let query = HashMap::from([("sort".to_string(), "customers.name".to_string())]);
        assert!(Page::from_query(&query).is_err());
    }
}
