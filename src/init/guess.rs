//! The guessing of `init`, pure: what each column is, from its name and its sampled
//! values.

use std::collections::{HashMap, HashSet};

use crate::dates::{EXCEL, UNIX_MS, parse_timestamp};
use crate::mapping::parse_boolean;

/// Example values quoted in a comment.
const EXAMPLES: usize = 2;
/// Longest example value quoted, in characters.
const EXAMPLE_CHARS: usize = 40;

/// What a column is guessed to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// One of the API's text fields (`email`, `userId`, …), with a date format for
    /// `firstSeen` when its values need one.
    Field {
        key: &'static str,
        format: Option<String>,
    },
    FirstName,
    LastName,
    /// Tags, split on `separator`.
    Tags {
        separator: String,
    },
    /// A customData property of a guessed type.
    Custom {
        kind: Kind,
        format: Option<String>,
    },
    /// Left out, with the reason in its comment (NDJSON objects or arrays).
    Skip,
}

/// A customData type, as the config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Float,
    Boolean,
    Date,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Float => "float",
            Kind::Boolean => "boolean",
            Kind::Date => "date",
        }
    }
}

/// One input column and what it was guessed to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub role: Role,
    /// Why, for the comment above its line.
    pub reason: String,
    /// A few non-empty values from the sample.
    pub examples: Vec<String>,
}

/// Formats tried on date-looking values, most common first. Day-first comes before
/// month-first; when both fit every value, the comment says so.
const DATE_FORMATS: [&str; 16] = [
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y.%m.%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d %b %Y",
    "%b %d, %Y",
];

/// A header name reduced for matching: lowercase letters and digits only.
fn squash(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The payload field a column name suggests, before looking at its values.
pub fn field_for(name: &str) -> Option<Role> {
    let field = |key| Some(Role::Field { key, format: None });
    let squashed = squash(name);
    if let Some((key, _)) = contact_point(&squashed) {
        return field(key);
    }
    match squashed.as_str() {
        "firstname" | "givenname" | "first" | "forename" => Some(Role::FirstName),
        "lastname" | "surname" | "familyname" | "last" => Some(Role::LastName),
        "name" | "fullname" | "contactname" | "customername" | "displayname" | "clientname" => {
            field("name")
        }
        "customerid" | "externalid" | "userid" | "id" | "contactid" | "clientid" | "uid"
        | "memberid" | "externaluserid" | "customerno" | "customernumber" => field("userId"),
        "company" | "companyname" | "organization" | "organisation" | "org" | "business"
        | "employer" | "accountname" => field("company"),
        "firstseen" | "createdat" | "created" | "createddate" | "datecreated" | "signupdate"
        | "signedup" | "signedupat" | "registered" | "registeredat" | "registrationdate"
        | "subscriptiondate" | "joined" | "joindate" | "customersince" | "since" | "signup"
        | "signupat" | "signedupdate" => field("firstSeen"),
        "locale" | "language" | "lang" | "preferredlanguage" => field("locale"),
        "notes" | "note" | "comments" | "comment" | "description" | "remarks" => field("notes"),
        "source" | "leadsource" | "channel" | "utmsource" => field("source"),
        // Opting out, by the names CRMs export it under (Salesforce's HasOptedOutOfEmail,
        // HubSpot's and Zoho's Email Opt Out, Pipedrive's and others' Do Not Email). An
        // opt-in column means the opposite, and is left to customData.
        "unsubscribed"
        | "isunsubscribed"
        | "emailunsubscribed"
        | "unsubscribedfromemails"
        | "unsubscribe"
        | "optedout"
        | "optout"
        | "emailoptout"
        | "emailoptedout"
        | "hasoptedoutofemail"
        | "optedoutofemail"
        | "donotemail"
        | "donotmail"
        | "emailoptoutstatus"
        | "globalunsubscribe" => field("unsubscribed"),
        "blocked" | "isblocked" | "contactblocked" => field("blocked"),
        "lastseen" | "lastseenat" | "lastactivity" | "lastactivitydate" | "lastactivityat"
        | "lastactive" | "lastactiveat" | "lastvisit" | "lastvisitat" | "lastvisited"
        | "lastlogin" | "lastloginat" | "lastlogindate" | "lastcontacted" => field("lastSeen"),
        "referer" | "referrer" | "refererurl" | "referrerurl" | "referringurl"
        | "referringsite" => field("referer"),
        "lastpage" | "lastpageseen" | "lastpageurl" | "lastpagevisited" | "lastvisitedpage" => {
            field("lastPage")
        }
        "createdfrom" => field("createdFrom"),
        "integrationid" => field("integrationId"),
        "tags" | "tag" | "labels" | "label" | "segments" | "segment" => Some(Role::Tags {
            separator: ";".into(),
        }),
        _ => None,
    }
}

/// Email and phone columns come several to a file: `Email`, `Email 1`, `Primary Email`,
/// `Work Email`, `E-mail Address 2`, `Mobile`, `Home Phone`. The field a (squashed) name
/// is for, and how surely it is the contact's own: 0 for the plain name, 1 for primary
/// or number 1, 2 for work, 3 for any other; the surest column becomes the field, the
/// others customData.
fn contact_point(squashed: &str) -> Option<(&'static str, u8)> {
    const PHONES: [&str; 9] = [
        "phonenumber",
        "telephone",
        "mobilephone",
        "mobilenumber",
        "cellphone",
        "phone",
        "mobile",
        "cell",
        "tel",
    ];
    let unnumbered = squashed.trim_end_matches(|c: char| c.is_ascii_digit());
    let number: Option<u32> = squashed
        .get(unnumbered.len()..)
        .and_then(|n| n.parse().ok());
    let address = unnumbered
        .strip_suffix("address")
        .or_else(|| unnumbered.strip_suffix("addr"))
        .unwrap_or(unnumbered);
    let (key, prefix) = match address
        .strip_suffix("email")
        .or_else(|| address.strip_suffix("mail"))
    {
        Some(prefix) => ("email", prefix),
        None => (
            "phone",
            PHONES
                .iter()
                .find_map(|core| unnumbered.strip_suffix(core))?,
        ),
    };
    let first = matches!(number, None | Some(1));
    let tier = match prefix {
        "" if number.is_none() => 0,
        "" | "primary" | "main" | "default" if first => 1,
        "work" | "business" | "office" | "company" | "contact" if first => 2,
        "" | "primary" | "main" | "default" | "work" | "business" | "office" | "company"
        | "contact" | "personal" | "home" | "private" | "other" | "secondary" | "alternate"
        | "alt" | "mobile" => 3,
        _ => return None,
    };
    Some((key, tier))
}

/// The date format every value fits: `Some(None)` for what needs none (UNIX seconds,
/// ISO 8601), `Some(Some(format))` (Excel serial days and UNIX milliseconds included),
/// or None when no format fits them all. The second value is another format that fits
/// too (day and month ambiguous).
pub fn date_format(values: &[String]) -> Option<(Option<String>, Option<&'static str>)> {
    if values.is_empty() {
        return None;
    }
    if values.iter().all(|v| parse_timestamp(v, None).is_ok()) {
        return Some((None, None));
    }
    for format in [EXCEL, UNIX_MS] {
        if values
            .iter()
            .all(|v| parse_timestamp(v, Some(format)).is_ok())
        {
            return Some((Some(format.to_string()), None));
        }
    }
    let mut fitting = DATE_FORMATS.iter().filter(|format| {
        values
            .iter()
            .all(|v| parse_timestamp(v, Some(format)).is_ok())
    });
    let first = fitting.next()?;
    Some((Some((*first).to_string()), fitting.next().copied()))
}

/// The customData type every value fits.
pub fn value_kind(values: &[String], name: &str) -> Kind {
    if values.is_empty() {
        return Kind::String;
    }
    let lower: Vec<String> = values.iter().map(|v| v.to_ascii_lowercase()).collect();
    let all = |test: &dyn Fn(&str) -> bool| lower.iter().all(|v| test(v));
    let flag_name = {
        let squashed = squash(name);
        [
            "is",
            "has",
            "opt",
            "subscribed",
            "verified",
            "active",
            "enabled",
        ]
        .iter()
        .any(|prefix| squashed.starts_with(prefix))
    };
    let word = |v: &str| matches!(v, "true" | "false" | "yes" | "no");
    let bit = |v: &str| matches!(v, "1" | "0");
    if all(&|v| word(v) || bit(v)) && (lower.iter().any(|v| word(v)) || flag_name) {
        return Kind::Boolean;
    }
    // Serial days in a column named like a date: Excel wrote the dates as numbers.
    if names_a_date(name)
        && values
            .iter()
            .all(|v| parse_timestamp(v, Some(EXCEL)).is_ok())
    {
        return Kind::Date;
    }
    // A leading zero (a zip code, a phone number) must be kept: text.
    let leading_zero = |v: &str| {
        let unsigned = v.trim_start_matches(['-', '+']);
        let whole = unsigned.split(['.', 'e', 'E']).next().unwrap_or_default();
        whole.len() > 1 && whole.starts_with('0')
    };
    let integer = |v: &str| v.parse::<i64>().is_ok() && !leading_zero(v);
    if all(&integer) {
        return Kind::Integer;
    }
    let float = |v: &str| {
        v.parse::<f64>().is_ok_and(f64::is_finite)
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && !leading_zero(v)
    };
    if all(&float) {
        return Kind::Float;
    }
    let looks_dated = |v: &str| v.bytes().filter(u8::is_ascii_digit).count() >= 6;
    if all(&looks_dated) && date_format(values).is_some() {
        return Kind::Date;
    }
    Kind::String
}

/// A column name that says it holds dates: `Created Date`, `Signup Time`, `Birthday`,
/// `Last Seen`, `Updated At`.
fn names_a_date(name: &str) -> bool {
    let squashed = squash(name);
    [
        "date", "time", "day", "since", "created", "updated", "seen", "joined",
    ]
    .iter()
    .any(|word| squashed.contains(word))
        || squashed.ends_with("at")
        || matches!(
            field_for(name),
            Some(Role::Field {
                key: "firstSeen",
                ..
            })
        )
}

/// Guesses every column's role from its name and its sample values (`samples[i]` holds
/// the non-empty values of `header[i]`).
pub fn guess(header: &[String], samples: &[Vec<String>]) -> Vec<Column> {
    let mut taken: HashSet<&'static str> = HashSet::new();
    // The surest email and phone columns, by field: (how sure, position).
    let mut surest: HashMap<&'static str, (u8, usize)> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if let Some((key, tier)) = contact_point(&squash(name)).filter(|_| !name.starts_with('_')) {
            let best = surest.entry(key).or_insert((tier, i));
            if tier < best.0 {
                *best = (tier, i);
            }
        }
    }
    let mut columns = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let values = samples.get(i).map(Vec::as_slice).unwrap_or_default();
        let examples = values
            .iter()
            .take(EXAMPLES)
            .map(|v| shorten(v))
            .collect::<Vec<_>>();
        let another = contact_point(&squash(name)).and_then(|(key, _)| {
            let (_, at) = surest.get(key).filter(|(_, at)| *at != i)?;
            Some((key, header.get(*at)?))
        });
        let (role, reason) = match another {
            Some((key, surest)) if !name.starts_with('_') => custom(
                name,
                values,
                &format!("another {key} column; the contact's {key} is {surest:?}"),
            ),
            _ => role_for(name, values, &mut taken),
        };
        columns.push(Column {
            name: name.clone(),
            role,
            reason,
            examples,
        });
    }
    // A name template needs both halves; one alone is plain customData.
    let has = |role: &Role| columns.iter().any(|c| &c.role == role);
    let pair = has(&Role::FirstName) && has(&Role::LastName) && !taken.contains("name");
    if !pair {
        for column in &mut columns {
            if matches!(column.role, Role::FirstName | Role::LastName) {
                column.role = Role::Custom {
                    kind: Kind::String,
                    format: None,
                };
                column.reason = "text (no first/last name pair to make a name from)".into();
            }
        }
    }
    columns
}

fn role_for(name: &str, values: &[String], taken: &mut HashSet<&'static str>) -> (Role, String) {
    if name.starts_with('_') {
        return (
            Role::Custom {
                kind: Kind::String,
                format: None,
            },
            "ignored by the importer (starts with \"_\")".into(),
        );
    }
    match field_for(name) {
        Some(Role::Field { key, .. }) if !taken.contains(key) => {
            if matches!(key, "firstSeen" | "lastSeen") {
                match date_format(values) {
                    Some((format, also)) => {
                        taken.insert(key);
                        let reason = date_reason(format.as_deref(), also);
                        return (Role::Field { key, format }, reason);
                    }
                    None if !values.is_empty() => {
                        return custom(name, values, "its values are not dates in a known format");
                    }
                    None => {}
                }
            }
            if matches!(key, "unsubscribed" | "blocked") {
                let flags = values.iter().all(|v| parse_boolean(v).is_ok());
                if !flags {
                    return custom(
                        name,
                        values,
                        "its values are not all true/false, yes/no or 1/0",
                    );
                }
            }
            taken.insert(key);
            let reason = match key {
                "unsubscribed" => "the contact opted out of emails (true/false, yes/no or 1/0): \
                                   sent as unsubscribed, so that nobody who opted out is written to"
                    .to_owned(),
                "blocked" => {
                    "whether the contact is blocked (true/false, yes/no or 1/0)".to_owned()
                }
                _ => format!("the contact's {key}"),
            };
            (Role::Field { key, format: None }, reason)
        }
        Some(Role::Tags { .. }) if !taken.contains("tags") => {
            taken.insert("tags");
            let separator = tag_separator(values);
            let reason = format!("tags, split on {separator:?}");
            (Role::Tags { separator }, reason)
        }
        Some(role @ (Role::FirstName | Role::LastName)) => {
            let reason = "part of the name template".to_string();
            (role, reason)
        }
        _ => custom(name, values, ""),
    }
}

fn custom(name: &str, values: &[String], why: &str) -> (Role, String) {
    let kind = value_kind(values, name);
    let (format, mut reason) = match kind {
        Kind::Date => {
            let (format, also) = date_format(values).unwrap_or((None, None));
            let reason = date_reason(format.as_deref(), also);
            (format, reason)
        }
        Kind::String if values.is_empty() => (None, "text (no values in the sample)".into()),
        Kind::String => (None, "text".into()),
        kind => (None, format!("{} in every sampled value", kind.name())),
    };
    if !why.is_empty() {
        reason = format!("{reason} ({why})");
    }
    (Role::Custom { kind, format }, reason)
}

fn date_reason(format: Option<&str>, also: Option<&str>) -> String {
    match (format, also) {
        (None, _) => "dates (UNIX seconds or ISO 8601: no format needed)".into(),
        (Some(EXCEL), _) => {
            "dates as Excel serial days (44197 is 2021-01-01; a fraction is the time of day)".into()
        }
        (Some(UNIX_MS), _) => "dates as UNIX milliseconds".into(),
        (Some(format), None) => format!("dates in the format {format}"),
        (Some(format), Some(also)) => {
            format!("dates in the format {format}; CHECK: every sampled value also fits {also}")
        }
    }
}

/// `;` unless the values hold more `,` or `|`.
fn tag_separator(values: &[String]) -> String {
    let count = |c: char| values.iter().map(|v| v.matches(c).count()).sum::<usize>();
    let (semicolons, commas, pipes) = (count(';'), count(','), count('|'));
    if commas > semicolons && commas >= pipes {
        ",".into()
    } else if pipes > semicolons && pipes > commas {
        "|".into()
    } else {
        ";".into()
    }
}

fn shorten(value: &str) -> String {
    if value.chars().count() > EXAMPLE_CHARS {
        let cut: String = value.chars().take(EXAMPLE_CHARS).collect();
        format!("{cut}…")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn names_suggest_fields() {
        for (name, key) in [
            ("Email", "email"),
            ("E-mail", "email"),
            ("E-Mail Address", "email"),
            ("Customer Id", "userId"),
            ("External ID", "userId"),
            ("user_id", "userId"),
            ("Company Name", "company"),
            ("Phone 1", "phone"),
            ("Mobile", "phone"),
            ("Created At", "firstSeen"),
            ("Language", "locale"),
            ("Lead Source", "source"),
            ("Comments", "notes"),
            ("Unsubscribed", "unsubscribed"),
            ("Opted Out", "unsubscribed"),
            ("Email Opt Out", "unsubscribed"),
            ("HasOptedOutOfEmail", "unsubscribed"),
            ("Do Not Email", "unsubscribed"),
            ("do_not_email", "unsubscribed"),
            ("Blocked", "blocked"),
            ("Last Seen", "lastSeen"),
            ("Last Activity", "lastSeen"),
            ("Last Activity Date", "lastSeen"),
            ("Referrer", "referer"),
            ("Last Page", "lastPage"),
            ("createdFrom", "createdFrom"),
            ("Integration ID", "integrationId"),
        ] {
            assert_eq!(
                field_for(name),
                Some(Role::Field { key, format: None }),
                "{name}"
            );
        }
        assert_eq!(field_for("First Name"), Some(Role::FirstName));
        assert_eq!(field_for("Surname"), Some(Role::LastName));
        assert!(matches!(field_for("Labels"), Some(Role::Tags { .. })));
        assert_eq!(field_for("City"), None);
        // Opting in is the opposite of unsubscribed: never mapped to it.
        assert_eq!(field_for("Email Opt In"), None);
        assert_eq!(field_for("Subscribed"), None);
    }

    #[test]
    fn email_and_phone_columns_are_ranked() {
        let rank = |name: &str| contact_point(&squash(name));
        for (name, expected) in [
            ("Email", Some(("email", 0))),
            ("E-mail Address", Some(("email", 0))),
            ("Email 1", Some(("email", 1))),
            ("E-mail Address 1", Some(("email", 1))),
            ("Primary Email", Some(("email", 1))),
            ("Work Email", Some(("email", 2))),
            ("Email 2", Some(("email", 3))),
            ("Home E-mail", Some(("email", 3))),
            ("Phone", Some(("phone", 0))),
            ("Mobile", Some(("phone", 0))),
            ("Phone 1", Some(("phone", 1))),
            ("Phone Number 2", Some(("phone", 3))),
            ("Home Phone", Some(("phone", 3))),
            ("Voicemail", None),
            ("Email Opt-In", None),
            ("Hotel", None),
            ("Mailing Address", None),
        ] {
            assert_eq!(rank(name), expected, "{name}");
        }
        let header = strings(&["Phone 2", "Email 2", "Work Email", "Email 1", "Mobile"]);
        let samples = vec![vec![]; header.len()];
        let columns = guess(&header, &samples);
        let roles: Vec<Option<&str>> = columns
            .iter()
            .map(|c| match &c.role {
                Role::Field { key, .. } => Some(*key),
                _ => None,
            })
            .collect();
        assert_eq!(roles, [None, None, None, Some("email"), Some("phone")]);
        assert_eq!(
            columns[1].reason,
            "text (no values in the sample) (another email column; the contact's email is \"Email 1\")"
        );
    }

    #[test]
    fn excel_serial_columns_are_dates() {
        assert_eq!(
            date_format(&strings(&["44197", "45383.5"])),
            Some((Some("excel".into()), None))
        );
        assert_eq!(
            date_format(&strings(&["1609459200000", "1711929600000"])),
            Some((Some("unix_ms".into()), None))
        );
        assert_eq!(date_format(&strings(&["1609459200"])), Some((None, None)));
        let kind = |values: &[&str], name: &str| value_kind(&strings(values), name);
        assert_eq!(kind(&["44197", "45383"], "Renewal Date"), Kind::Date);
        assert_eq!(kind(&["44197", "45383"], "Updated At"), Kind::Date);
        assert_eq!(kind(&["44197", "45383"], "Order Number"), Kind::Integer);
        assert_eq!(kind(&["3", "12"], "Visits"), Kind::Integer);
        let columns = guess(&strings(&["Created Date"]), &[strings(&["44197"])]);
        assert_eq!(
            columns[0].role,
            Role::Field {
                key: "firstSeen",
                format: Some("excel".into())
            }
        );
    }

    #[test]
    fn date_formats_are_guessed() {
        assert_eq!(
            date_format(&strings(&["2021-03-04", "1603885746"])),
            Some((None, None))
        );
        assert_eq!(
            date_format(&strings(&["31/12/2020", "04/03/2021"])),
            Some((Some("%d/%m/%Y".into()), None))
        );
        assert_eq!(
            date_format(&strings(&["12/31/2020", "04/03/2021"])),
            Some((Some("%m/%d/%Y".into()), None))
        );
        assert_eq!(
            date_format(&strings(&["04/03/2021"])),
            Some((Some("%d/%m/%Y".into()), Some("%m/%d/%Y")))
        );
        assert_eq!(
            date_format(&strings(&["04.03.2021 10:30"])),
            Some((Some("%d.%m.%Y %H:%M".into()), None))
        );
        assert_eq!(date_format(&strings(&["soon"])), None);
        assert_eq!(date_format(&[]), None);
    }

    #[test]
    fn value_types_are_guessed() {
        let kind = |values: &[&str], name: &str| value_kind(&strings(values), name);
        assert_eq!(kind(&["1", "-20", "300"], "Visits"), Kind::Integer);
        assert_eq!(kind(&["01234", "10115"], "Zip"), Kind::String);
        assert_eq!(kind(&["1.5", "2"], "Score"), Kind::Float);
        assert_eq!(kind(&["Yes", "no", "TRUE"], "Newsletter"), Kind::Boolean);
        assert_eq!(kind(&["1", "0"], "Is VIP"), Kind::Boolean);
        assert_eq!(kind(&["1", "0"], "Orders"), Kind::Integer);
        assert_eq!(kind(&["2021-03-04", "2020-01-01"], "Renewal"), Kind::Date);
        assert_eq!(kind(&["31/12/2020"], "Renewal"), Kind::Date);
        assert_eq!(kind(&["Berlin"], "City"), Kind::String);
        assert_eq!(kind(&["inf"], "Ratio"), Kind::String);
        assert_eq!(kind(&[], "Anything"), Kind::String);
    }

    #[test]
    fn opt_outs_and_activity_dates_become_their_fields() {
        let header = strings(&["Email Opt Out", "Do Not Email", "Last Activity", "Blocked"]);
        let samples = vec![
            strings(&["Yes", "no"]),
            strings(&["TRUE", "false"]),
            strings(&["31/12/2020"]),
            strings(&["maybe"]),
        ];
        let columns = guess(&header, &samples);
        assert_eq!(
            columns[0].role,
            Role::Field {
                key: "unsubscribed",
                format: None
            }
        );
        assert!(
            columns[0]
                .reason
                .contains("nobody who opted out is written to"),
            "{}",
            columns[0].reason
        );
        // One column is the field; another like it is customData.
        assert!(matches!(
            columns[1].role,
            Role::Custom {
                kind: Kind::Boolean,
                ..
            }
        ));
        assert_eq!(
            columns[2].role,
            Role::Field {
                key: "lastSeen",
                format: Some("%d/%m/%Y".into())
            }
        );
        // Values that are not booleans are not sent as a boolean field.
        assert!(matches!(
            columns[3].role,
            Role::Custom {
                kind: Kind::String,
                ..
            }
        ));
        assert!(
            columns[3].reason.contains("not all true/false"),
            "{}",
            columns[3].reason
        );
    }

    #[test]
    fn a_lone_first_name_is_custom_data() {
        let columns = guess(&strings(&["First Name", "Email"]), &[vec![], vec![]]);
        assert!(matches!(columns[0].role, Role::Custom { .. }));
    }
}
