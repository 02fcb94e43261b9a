//! End-to-end: the API as it may really behave where its docs are silent, one sandbox
//! switch at a time (`helpcrunch-api.md`, "What changed"): attributes the account lacks,
//! a search that finds nothing answering 404, PATCH replacing or merging collections, a
//! search that shows new contacts late. The real binary against the sandbox over loopback.

mod common;

use common::{Dir, KEY, Run, fast_retry_config, run, sandbox};
use helpcrunch_import::sandbox::{
    PatchCollections, Sandbox, SandboxConfig, SearchEmpty, UnknownAttribute,
};
use serde_json::{Map, Value, json};

/// `import FILE --base-url SANDBOX --out DIR/OUT` plus `extra`, with fast retries.
async fn import_into(sandbox: &Sandbox, dir: &Dir, file: &str, out: &str, extra: &[&str]) -> Run {
    import_with(sandbox, dir, file, out, &fast_retry_config(dir), extra).await
}

/// The same with the config file `config`.
async fn import_with(
    sandbox: &Sandbox,
    dir: &Dir,
    file: &str,
    out: &str,
    config: &str,
    extra: &[&str],
) -> Run {
    let base_url = sandbox.base_url();
    let out = dir.path().join(out).to_string_lossy().into_owned();
    let mut args = vec![
        "import",
        file,
        "--base-url",
        &base_url,
        "--out",
        &out,
        "--rate",
        "100/s",
        "--config",
        config,
    ];
    args.extend_from_slice(extra);
    run(&args, Some(KEY)).await
}

fn endpoint(sandbox: &Sandbox, name: &str) -> u64 {
    sandbox.stats().by_endpoint.get(name).copied().unwrap_or(0)
}

/// `n` rows `u1..un` with a plan and a seat count in customData.
fn rows_with_custom_data(n: usize) -> String {
    let mut text = String::from("userId,email,customData.plan,customData.seats:integer\n");
    for i in 1..=n {
        text.push_str(&format!("u{i},user{i}@example.com,pro,{i}\n"));
    }
    text
}

/// `n` rows known by their email alone (`PREFIX1@example.com`, …): emails are not unique in
/// HelpCrunch, so a create re-sent blindly would duplicate the contact.
fn email_only_rows(prefix: &str, n: usize) -> String {
    let mut text = String::from("email,name\n");
    for i in 1..=n {
        text.push_str(&format!("{prefix}{i}@example.com,Row {i}\n"));
    }
    text
}

/// An account whose settings hold the `plan` attribute and no other, treating an unknown
/// one as `unknown`.
async fn account_with_plan_only(unknown: UnknownAttribute) -> Sandbox {
    sandbox(SandboxConfig {
        custom_attributes: Some(vec!["plan".into()]),
        unknown_attribute: unknown,
        ..SandboxConfig::default()
    })
    .await
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attribute_dropped_in_silence_stops_the_run_after_the_first_create() {
    let sandbox = account_with_plan_only(UnknownAttribute::Drop).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_with_custom_data(50));
    let result = import_into(&sandbox, &dir, &file, "out", &["--concurrency", "1"]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    let output = result.all_output();
    assert!(output.contains("customData \"seats\""), "{output}");
    assert!(
        output.contains("Custom attributes"),
        "the likely cause: {output}"
    );
    // One contact created and read back; nothing more spent.
    assert_eq!(endpoint(&sandbox, "POST /customers"), 1);
    assert_eq!(endpoint(&sandbox, "GET /customers/{id}"), 1);
    // Nothing lost: the created contact is in the results, the rest resumable.
    let created = dir.csv_rows("created.csv");
    assert_eq!(created.len(), 1);
    let summary = dir.summary_of("out");
    assert_eq!(summary["created"], 1);
    assert_eq!(summary["failed_by_status"]["not_sent"], 49);
    assert!(
        summary["stopped_by"]
            .as_str()
            .unwrap_or("")
            .contains("seats")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_read_back_waits_behind_the_workers_ahead_of_it_not_the_whole_run() {
    // Sixteen workers: the read-back after the first create queues behind the fifteen
    // requests already waiting for a turn, and no more. The limiter once let the newest
    // waiters win each turn, and the read-back could come at the end of the run (in
    // about one run in two here; three runs make it show).
    for _ in 0..3 {
        let sandbox = account_with_plan_only(UnknownAttribute::Drop).await;
        let dir = Dir::new();
        let file = dir.write("rows.csv", rows_with_custom_data(300));
        let result = import_into(&sandbox, &dir, &file, "out", &["--concurrency", "16"]).await;
        assert_eq!(result.code, 2, "{}", result.all_output());
        assert!(result.all_output().contains("customData \"seats\""));
        let creates = endpoint(&sandbox, "POST /customers");
        assert!(
            creates <= 24,
            "{creates} contacts created before the read-back stopped the run"
        );
        assert_eq!(dir.summary_of("out")["created"], creates);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attribute_refused_with_400_stops_the_run_within_the_first_rows() {
    let sandbox = account_with_plan_only(UnknownAttribute::Reject).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_with_custom_data(200));
    let result = import_into(&sandbox, &dir, &file, "out", &[]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result.all_output().contains("customData.seats"),
        "{}",
        result.all_output()
    );
    let posts = endpoint(&sandbox, "POST /customers");
    // 20 refusals stop it; the workers already sending finish theirs.
    assert!(
        (20..=20 + 16).contains(&posts),
        "{posts} creates sent before the stop"
    );
    assert_eq!(sandbox.customers().len(), 0);
    let summary = dir.summary_of("out");
    let rejected = summary["failed_by_status"]["rejected"]
        .as_u64()
        .unwrap_or(0);
    let not_sent = summary["failed_by_status"]["not_sent"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(rejected, posts);
    assert_eq!(rejected + not_sent, 200, "every row in exactly one place");

    // The same file with the check turned off sends every row (and each is refused).
    let sandbox_b = account_with_plan_only(UnknownAttribute::Reject).await;
    let off = import_into(&sandbox_b, &dir, &file, "off", &["--fail-fast", "0"]).await;
    assert_eq!(off.code, 1, "{}", off.all_output());
    assert_eq!(endpoint(&sandbox_b, "POST /customers"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_answers_404_when_empty_is_no_match_for_upserts_and_lookups() {
    let sandbox = sandbox(SandboxConfig {
        search_empty: SearchEmpty::NotFound,
        // Every create's answer is lost: each row is looked up before anything is re-sent.
        drop_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    // Email-only rows: an upsert searches for each first (404: none), then creates it,
    // then (the answer lost) looks it up.
    let file = dir.write("rows.csv", email_only_rows("only", 20));
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let result = import_into(
        &sandbox,
        &dir,
        &file,
        "out",
        &["--mode", "upsert", "--state", &state],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let summary = dir.summary_of("out");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["created"], 20);
    assert_eq!(sandbox.customers().len(), 20, "none created twice");
}

/// A contact an agent tagged and gave a property to, before the nightly sync.
fn agent_tagged() -> Map<String, Value> {
    object(json!({
        "userId": "u1", "email": "ada@example.com", "name": "Ada",
        "tags": [{"name": "agent-vip"}],
        "customData": {"plan": "free"}
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_tag_survives_an_upsert_whichever_way_patch_treats_tags() {
    for mode in [PatchCollections::Replace, PatchCollections::Merge] {
        let sandbox = sandbox(SandboxConfig {
            patch_collections: mode,
            seed_contacts: vec![agent_tagged()],
            ..SandboxConfig::default()
        })
        .await;
        let dir = Dir::new();
        let file = dir.write(
            "rows.csv",
            "userId,email,name,tags,customData.plan\nu1,ada@example.com,Ada Lovelace,crm-customer,pro\n",
        );
        let state = dir.path().join("state.db").to_string_lossy().into_owned();
        let result = import_into(
            &sandbox,
            &dir,
            &file,
            "out",
            &["--mode", "upsert", "--state", &state],
        )
        .await;
        assert_eq!(result.code, 0, "{mode:?}: {}", result.all_output());
        let customers = sandbox.customers();
        assert_eq!(customers.len(), 1, "{mode:?}");
        let ada = &customers[0];
        assert_eq!(ada["name"], "Ada Lovelace", "{mode:?}");
        assert_eq!(ada["customData"]["plan"], "pro", "{mode:?}");
        let tags: Vec<&str> = ada["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(tags.contains(&"agent-vip"), "{mode:?}: {tags:?}");
        assert!(tags.contains(&"crm-customer"), "{mode:?}: {tags:?}");
        // The tags went through the tag endpoint (which only adds), not the PATCH.
        assert_eq!(
            endpoint(&sandbox, "PUT /customers/{id}/tags"),
            1,
            "{mode:?}"
        );
        assert_eq!(endpoint(&sandbox, "PATCH /customers/{id}"), 1, "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_would_delete_customdata_it_did_not_send_stops_after_the_first() {
    // The agent set a property the CRM does not know; the sync sends `plan` alone.
    let agent_set = object(json!({
        "userId": "u1", "email": "ada@example.com", "name": "Ada",
        "customData": {"plan": "free", "set_by_agent": "yes"}
    }));
    let second = object(json!({"userId": "u2", "email": "bob@example.com", "name": "Bob"}));
    let file_text = "userId,email,name,customData.plan\n\
                     u1,ada@example.com,Ada L.,pro\n\
                     u2,bob@example.com,Bob B.,pro\n";
    for (mode, expected) in [(PatchCollections::Replace, 2), (PatchCollections::Merge, 0)] {
        let sandbox = sandbox(SandboxConfig {
            patch_collections: mode,
            seed_contacts: vec![agent_set.clone(), second.clone()],
            ..SandboxConfig::default()
        })
        .await;
        let dir = Dir::new();
        let file = dir.write("rows.csv", file_text);
        let state = dir.path().join("state.db").to_string_lossy().into_owned();
        let args = ["--mode", "upsert", "--state", &state, "--concurrency", "1"];
        let result = import_into(&sandbox, &dir, &file, "out", &args).await;
        assert_eq!(result.code, expected, "{mode:?}: {}", result.all_output());
        if expected == 2 {
            let output = result.all_output();
            assert!(output.contains("set_by_agent"), "{output}");
            assert!(
                output.contains("custom_data = \\\"replace\\\"")
                    || output.contains("custom_data = \"replace\""),
                "{output}"
            );
            // Stopped after the first update: the second row was not sent.
            assert_eq!(dir.summary_of("out")["failed_by_status"]["not_sent"], 1);
        }
    }

    // Told that PATCH may replace customData, the run goes on.
    let sandbox = sandbox(SandboxConfig {
        patch_collections: PatchCollections::Replace,
        seed_contacts: vec![agent_set, second],
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", file_text);
    let config = dir.write(
        "accept.toml",
        "[update]\ncustom_data = \"replace\"\n\n[retry]\nmax_attempts = 20\ninitial_delay_ms = 10\nmax_delay_secs = 1\n",
    );
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let args = ["--mode", "upsert", "--state", &state];
    let result = import_with(&sandbox, &dir, &file, "out", &config, &args).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_shows_new_contacts_late_never_duplicates_one() {
    let sandbox = sandbox(SandboxConfig {
        search_delay: std::time::Duration::from_millis(2000),
        drop_rate: 0.05,
        seed: 7,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    // A create whose answer was lost is settled by searching its email.
    let file = dir.write("rows.csv", email_only_rows("late", 100));
    let result = import_into(&sandbox, &dir, &file, "out", &[]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let stats = sandbox.stats();
    assert!(stats.dropped > 0, "some answers were dropped: {stats:?}");
    let emails = common::stored(&sandbox, "email");
    let mut unique = emails.clone();
    unique.dedup();
    assert_eq!(emails.len(), 100, "{stats:?}");
    assert_eq!(unique.len(), 100, "no contact created twice");
    assert_eq!(dir.summary_of("out")["created"], 100);
}
