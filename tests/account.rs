//! End-to-end: knowing the account. A first sync over contacts HelpCrunch already holds,
//! and a create run into a used account, with the account index listed into the state;
//! request counts come from the sandbox's own stats.

mod common;

use common::{
    Dir, KEY, READ_BACK_CREATE, READ_BACK_UPDATE, Run, import_to, rows_renamed, run, sandbox,
};
use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Map, Value, json};

/// `n` contacts `u1..un` as another tool (the widget, an earlier import) created them.
fn seeded(n: usize) -> Vec<Map<String, Value>> {
    (1..=n)
        .map(|i| {
            let contact = json!({"userId": format!("u{i}"), "email": format!("user{i}@example.com"), "name": format!("User {i}")});
            contact.as_object().cloned().unwrap_or_default()
        })
        .collect()
}

async fn sync(sandbox: &Sandbox, dir: &Dir, file: &str, out: &str, extra: &[&str]) -> Run {
    let out = dir.path().join(out).to_string_lossy().into_owned();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let mut args = vec!["--rate", "500/s", "--state", &state];
    args.extend_from_slice(extra);
    import_to(sandbox, file, &out, &args).await
}

/// `plan FILE --mode upsert --state STATE --base-url URL --out OUT` plus `extra`, with
/// `key` in HELPCRUNCH_API_KEY.
async fn plan_upsert(
    file: &str,
    state: &str,
    base_url: &str,
    out: &str,
    extra: &[&str],
    key: Option<&str>,
) -> Run {
    let mut args = vec![
        "plan",
        file,
        "--mode",
        "upsert",
        "--state",
        state,
        "--base-url",
        base_url,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    run(&args, key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_over_an_account_holding_the_contacts_costs_a_request_per_change() {
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: seeded(1000),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    // 1,020 rows: 1,000 HelpCrunch holds (50 of them changed), 20 new.
    let file = dir.write("rows.csv", rows_renamed(1020, |i| i % 20 == 0 && i <= 1000));
    let first = sync(&sandbox, &dir, &file, "first", &["--mode", "upsert"]).await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    let stats = sandbox.stats();
    let first_summary = dir.summary_of("first");
    let counts = ["created", "updated", "unchanged", "exists", "failed"]
        .map(|k| first_summary[k].as_u64().unwrap_or(u64::MAX));
    assert_eq!(counts, [20, 50, 950, 0, 0], "{first_summary}");
    // 10 pages listed (the answer's total says when it is all), 20 creates, 50 PATCHes,
    // and the read-backs.
    let index = &first_summary["index"];
    assert_eq!(index["index"], "listed", "{first_summary}");
    assert_eq!(index["requests"], 10, "{first_summary}");
    assert_eq!(
        stats.requests,
        10 + 20 + 50 + READ_BACK_CREATE + READ_BACK_UPDATE,
        "{stats:?}"
    );
    assert!(stats.requests <= 100);
    assert_eq!(stats.by_endpoint["POST /customers/search"], 0, "no lookups");
    assert_eq!(sandbox.customers().len(), 1020, "no contact duplicated");
    let renamed = common::stored(&sandbox, "name")
        .iter()
        .filter(|n| n.starts_with("Renamed"))
        .count();
    assert_eq!(renamed, 50, "the changes stored");
    eprintln!(
        "figures: first sync of 1,020 rows over 1,000 held contacts: {} requests",
        stats.requests
    );

    // The same file again: nothing to send.
    let again = sync(&sandbox, &dir, &file, "again", &["--mode", "upsert"]).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(sandbox.stats().requests, stats.requests, "0 requests");
    assert_eq!(dir.summary_of("again")["unchanged"], 1020);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_run_into_a_used_account_records_contacts_it_holds_as_existing() {
    // 300 of the 1,000 rows' emails are in HelpCrunch already (no userIds).
    let held: Vec<Map<String, Value>> = (1..=300)
        .map(|i| {
            let contact = json!({"email": format!("person{i}@example.com"), "name": "Held"});
            contact.as_object().cloned().unwrap_or_default()
        })
        .collect();
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: held,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let mut text = String::from("email,name\n");
    for i in 1..=1000 {
        text.push_str(&format!("Person{i}@example.com,Person {i}\n"));
    }
    let file = dir.write("rows.csv", text);
    let result = sync(
        &sandbox,
        &dir,
        &file,
        "out",
        &["--mode", "create", "--index", "always"],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let summary = dir.summary_of("out");
    assert_eq!(summary["created"], 700, "{summary}");
    assert_eq!(summary["exists"], 300, "{summary}");
    let emails = common::stored(&sandbox, "email");
    let mut unique: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(emails.len(), 1000, "no one duplicated");
    assert_eq!(unique.len(), 1000);
    // The existing contacts' ids are in created.csv, with the status `exists`.
    let created = dir.csv_rows("created.csv");
    let existing: Vec<_> = created.iter().filter(|r| r["status"] == "exists").collect();
    assert_eq!(existing.len(), 300);
    assert!(existing.iter().all(|r| !r["id"].is_empty()));

    // The same file again, with the same state: nothing is created twice, whether the
    // index is listed again or not (an email-only row would be a second contact).
    for (out, index) in [("again", "never"), ("third", "auto")] {
        let again = sync(
            &sandbox,
            &dir,
            &file,
            out,
            &["--mode", "create", "--index", index],
        )
        .await;
        assert_eq!(again.code, 0, "{}", again.all_output());
        let summary = dir.summary_of(out);
        assert_eq!(summary["created"], 0, "{out}: {summary}");
        assert_eq!(summary["exists"], 1000, "{out}: {summary}");
        assert_eq!(common::stored(&sandbox, "email").len(), 1000, "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_run_stops_at_a_contact_holding_the_rows_email_under_another_user_id() {
    // The widget made contacts with these emails and no userId, or another userId.
    let held: Vec<Map<String, Value>> = (1..=10)
        .map(|i| {
            let contact = if i % 2 == 0 {
                json!({"email": format!("p{i}@example.com"), "name": "Widget"})
            } else {
                json!({"userId": format!("crm-{i}"), "email": format!("p{i}@example.com")})
            };
            contact.as_object().cloned().unwrap_or_default()
        })
        .collect();
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: held,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let mut text = String::from("userId,email\n");
    for i in 1..=20 {
        text.push_str(&format!("u{i},P{i}@example.com\n"));
    }
    let file = dir.write("rows.csv", text);
    let result = sync(
        &sandbox,
        &dir,
        &file,
        "out",
        &["--mode", "create", "--index", "always"],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let summary = dir.summary_of("out");
    assert_eq!(summary["exists"], 10, "{summary}");
    assert_eq!(summary["created"], 10, "{summary}");
    assert_eq!(sandbox.customers().len(), 20, "no email twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_can_start_from_an_account_holding_contacts() {
    let dir = Dir::new();
    let seed: String = seeded(5)
        .into_iter()
        .map(|contact| format!("{}\n", Value::Object(contact)))
        .collect();
    let seed = dir.write("held.ndjson", seed);
    let file = dir.write("rows.csv", rows_renamed(6, |i| i == 2));
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let result = run(
        &[
            "import",
            &file,
            "--sandbox",
            "--seed-contacts",
            &seed,
            "--mode",
            "upsert",
            "--state",
            &state,
            "--out",
            &out,
            "--rate",
            "50/s",
        ],
        None,
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let summary = dir.summary_of("out");
    let counts = ["created", "updated", "unchanged"].map(|k| summary[k].as_u64());
    assert_eq!(counts, [Some(1), Some(1), Some(4)], "{summary}");
    assert_eq!(summary["index"]["contacts"], 5, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_predicts_exactly_what_the_import_then_does() {
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: seeded(1000),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let mut text = rows_renamed(1020, |i| i % 20 == 0 && i <= 1000);
    text.push_str("u9999,not-an-email,Bad\n");
    let file = dir.write("rows.csv", text);
    let base_url = sandbox.base_url();
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    // The plan lists the account into the state (10 requests), and sends nothing else.
    let plan = plan_upsert(
        &file,
        &state,
        &base_url,
        &out,
        &["--index", "always"],
        Some(KEY),
    )
    .await;
    assert_eq!(plan.code, 1, "one invalid row: {}", plan.all_output());
    assert!(plan.stdout.contains("requests:"), "{}", plan.stdout);
    assert_eq!(sandbox.stats().requests, 10, "only the listing");
    let planned: Value = serde_json::from_str(&dir.read_out("plan.json")).expect("plan.json");
    assert_eq!(
        planned["actions"],
        json!({"create": 20, "update": 50, "unchanged": 950, "exists": 0, "invalid": 1})
    );
    assert_eq!(
        planned["requests"],
        20 + 50 + READ_BACK_CREATE + READ_BACK_UPDATE
    );
    assert_eq!(planned["index_requests"], 10);
    assert_eq!(planned["duration_secs"], 36, "73 requests at 120/min");
    let plan_csv = dir.csv_rows("plan.csv");
    assert_eq!(plan_csv.len(), 1021);
    assert!(
        plan_csv
            .iter()
            .any(|r| r["action"] == "invalid" && r["errors"].contains("email"))
    );

    // The import, into the same directory, does what was planned: no listing (the state
    // holds the index), and the requests planned.
    let before = sandbox.stats().requests;
    let import = sync(&sandbox, &dir, &file, "out", &["--mode", "upsert"]).await;
    assert_eq!(import.code, 1, "{}", import.all_output());
    let summary = dir.summary_of("out");
    for (action, count) in [
        ("create", "created"),
        ("update", "updated"),
        ("unchanged", "unchanged"),
    ] {
        assert_eq!(
            planned["actions"][action], summary[count],
            "{action}: {summary}"
        );
    }
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["index"]["index"], "used");
    assert_eq!(sandbox.stats().requests - before, 73);
    assert_eq!(summary["requests"], 73);
    assert_eq!(summary["plan"]["requests"], 73);
    assert!(
        import.stdout.contains("planned 73 requests"),
        "{}",
        import.stdout
    );

    // A plan made afterwards into the same directory leaves the run's results as they are.
    let results = ["created.csv", "failed.csv", "summary.json"].map(|name| dir.read_out(name));
    let again = plan_upsert(&file, &state, &base_url, &out, &[], None).await;
    assert_eq!(again.code, 1, "{}", again.all_output());
    for (name, before) in ["created.csv", "failed.csv", "summary.json"]
        .iter()
        .zip(&results)
    {
        assert_eq!(&dir.read_out(name), before, "{name} kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_asked_to_list_an_account_it_cannot_reach_plans_nothing_and_exits_2() {
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(5, |_| false));
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let closed = "http://127.0.0.1:1/v1";
    // The listing's own retries run out.
    let retry = dir.write(
        "retry.toml",
        "[retry]\nmax_attempts = 20\ninitial_delay_ms = 10\nmax_delay_secs = 1\nunreachable_secs = 0\n",
    );
    let planned = plan_upsert(
        &file,
        &state,
        closed,
        &out,
        &["--index", "always", "--config", &retry],
        Some(KEY),
    )
    .await;
    assert_eq!(planned.code, 2, "{}", planned.all_output());
    assert!(
        planned.all_output().contains("could not be listed"),
        "{}",
        planned.all_output()
    );
    assert!(
        !dir.path().join("out").join("plan.json").exists(),
        "nothing planned"
    );
    // With the default config, the outage stops it first, in its own words.
    let planned = plan_upsert(
        &file,
        &state,
        closed,
        &out,
        &["--index", "always"],
        Some(KEY),
    )
    .await;
    assert_eq!(planned.code, 2, "{}", planned.all_output());
    assert!(
        planned
            .all_output()
            .contains("no answer from the API at http://127.0.0.1:1/v1"),
        "{}",
        planned.all_output()
    );
    assert!(!dir.path().join("out").join("plan.json").exists());
}
