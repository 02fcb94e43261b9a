//! End-to-end: the real binary importing into the sandbox over loopback.

mod common;

use common::{
    Dir, Imported, KEY, expected_ids, fast_retry_config, import, import_exactly_once, per_sec, run,
    sandbox, simple_csv, user_ids,
};
use helpcrunch_import::sandbox::{Limit, RetryAfterMode, SandboxConfig};
use serde_json::{Value, json};

fn customer_by_user_id<'a>(customers: &'a [Value], user_id: &str) -> &'a Value {
    customers
        .iter()
        .find(|c| c["userId"] == user_id)
        .unwrap_or_else(|| panic!("no customer {user_id} in {customers:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_with_api_named_columns_imports_exact_payloads() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "contacts.csv",
        "\u{feff}name,email,userId,company,phone,firstSeen,source,locale,notes,tags,customData.plan,customData.zip,customData.seats:integer,customData.paid:boolean,customData.amount:float,customData.renewal:date,_comment\r\n\
         Ann Lee , ann@example.com ,u1,\"Acme, Inc.\",+10233456781,2021-03-04T05:06:07Z,https://example.com,en-US,\"two\nlines\",vip; beta ,pro,01234,15,Yes,15.99,2021-03-04,ignored\r\n\
         Bob,bob@example.com,u2,,,1603885746,,EN,,,,,,no,,1603885746,\r\n",
    );
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());

    let customers = sandbox.customers();
    assert_eq!(customers.len(), 2);
    let ann = customer_by_user_id(&customers, "u1");
    assert_eq!(ann["name"], "Ann Lee");
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["company"], "Acme, Inc.");
    assert_eq!(ann["phone"], "+10233456781");
    assert_eq!(ann["firstSeen"], "1614834367");
    assert_eq!(ann["source"], "https://example.com");
    assert_eq!(ann["locale"], "en");
    assert_eq!(ann["notes"], "two\nlines");
    assert_eq!(
        ann["tags"],
        json!([{"name": "vip", "color": "#c377e0"}, {"name": "beta", "color": "#c377e0"}])
    );
    assert_eq!(
        ann["customData"],
        json!({"plan": "pro", "zip": "01234", "seats": 15, "paid": true, "amount": 15.99, "renewal": "1614816000"})
    );
    let bob = customer_by_user_id(&customers, "u2");
    assert_eq!(bob["firstSeen"], "1603885746");
    assert_eq!(bob["locale"], "en");
    // Empty cells are left out, never sent as "".
    assert!(bob["company"].is_null(), "{bob}");
    assert_eq!(
        bob["customData"],
        json!({"paid": false, "renewal": "1603885746"})
    );

    let created = dir.csv_rows("created.csv");
    assert_eq!(created.len(), 2);
    for row in &created {
        let stored = customer_by_user_id(&customers, &row["userId"]);
        assert_eq!(row["id"], stored["id"].to_string());
        assert_eq!(row["email"], stored["email"].as_str().unwrap_or_default());
    }
    // Workers finish in any order; the lines are those of the two records.
    let mut lines: Vec<&str> = created.iter().map(|r| r["line"].as_str()).collect();
    lines.sort();
    assert_eq!(lines, ["2", "4"]);
    let summary = dir.summary();
    assert_eq!(summary["rows_read"], 2);
    assert_eq!(summary["created"], 2);
    assert_eq!(summary["failed"], 0);
    // Two creates, and the first contact read back to prove every field stuck.
    assert_eq!(summary["requests"], 3);
    assert_eq!(summary["verify_requests"], 1);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_in_the_documented_shape_passes_through_normalised() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "contacts.ndjson",
        concat!(
            r##"{"name":"Ann","email":"ann@example.com","userId":"u1","firstSeen":"2021-03-04T07:06:07+02:00","locale":"en-GB","tags":[{"name":"vip","color":"#ff0000"}],"customData":[{"property":"plan","value":"pro"},{"property":"seats","value":15}]}"##,
            "\n",
            r#"{"userId":"u2","email":"bob@example.com","customData":{"paid":true,"amount":15.99},"firstSeen":1603885746}"#,
            "\n",
            "not json\n",
        ),
    );
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(
        result.code,
        1,
        "one line is not JSON: {}",
        result.all_output()
    );
    let customers = sandbox.customers();
    assert_eq!(customers.len(), 2);
    let ann = customer_by_user_id(&customers, "u1");
    assert_eq!(ann["firstSeen"], "1614834367");
    assert_eq!(ann["locale"], "en");
    assert_eq!(ann["tags"], json!([{"name": "vip", "color": "#ff0000"}]));
    assert_eq!(ann["customData"], json!({"plan": "pro", "seats": 15}));
    let bob = customer_by_user_id(&customers, "u2");
    assert_eq!(bob["customData"], json!({"paid": true, "amount": 15.99}));
    assert_eq!(bob["firstSeen"], "1603885746");

    let failed: Vec<Value> = dir
        .read_out("failed.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("failed.ndjson holds JSON"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["_line"], "3");
    assert_eq!(failed[0]["_status"], "invalid");
    assert_eq!(failed[0]["_raw"], "not json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_outs_and_blocks_are_stored_as_booleans_and_last_seen_as_a_timestamp_string() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    // A CRM export's own names, mapped; and the API's names, with no mapping.
    let export = dir.write(
        "crm.csv",
        "Email,Email Opt Out,Blocked,Last Activity,Referrer\n\
         ann@example.com,Yes,no,31/12/2020,https://ref.example\n\
         bob@example.com,0,TRUE,01/01/2021,\n\
         cid@example.com,,,,\n",
    );
    let config = dir.write(
        "crm.toml",
        "[mapping]\nemail = \"Email\"\nunsubscribed = \"Email Opt Out\"\nblocked = \"Blocked\"\n\
         lastSeen = { column = \"Last Activity\", format = \"%d/%m/%Y\" }\nreferer = \"Referrer\"\n\
         createdFrom = { value = \"crm-export\" }\n",
    );
    let result = import(
        &sandbox,
        &dir,
        &export,
        &["--config", &config, "--rate", "50/s"],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let api = dir.write(
        "api.csv",
        "userId,unsubscribed,blocked,lastSeen,lastPage,integrationId\n\
         u1,true,false,2021-03-04T05:06:07Z,/pricing,int-7\n",
    );
    let out2 = dir.path().join("out2").to_string_lossy().into_owned();
    let base_url = sandbox.base_url();
    let args = [
        "import",
        &api,
        "--base-url",
        &base_url,
        "--out",
        &out2,
        "--rate",
        "50/s",
    ];
    let result = run(&args, Some(KEY)).await;
    assert_eq!(result.code, 0, "{}", result.all_output());

    let customers = sandbox.customers();
    let by_email = |email: &str| {
        customers
            .iter()
            .find(|c| c["email"] == email)
            .unwrap_or_else(|| panic!("no customer {email} in {customers:?}"))
            .clone()
    };
    let ann = by_email("ann@example.com");
    assert_eq!(ann["unsubscribed"], json!(true));
    assert_eq!(ann["blocked"], json!(false));
    assert_eq!(ann["lastSeen"], json!("1609372800"));
    assert_eq!(ann["referer"], "https://ref.example");
    assert_eq!(ann["createdFrom"], "crm-export");
    let bob = by_email("bob@example.com");
    assert_eq!(bob["unsubscribed"], json!(false));
    assert_eq!(bob["blocked"], json!(true));
    assert_eq!(bob["lastSeen"], json!("1609459200"));
    // Empty cells send nothing: the API's own default stays.
    let cid = by_email("cid@example.com");
    assert_eq!(cid["unsubscribed"], json!(false), "{cid}");
    assert!(cid["lastSeen"].is_null(), "{cid}");
    let u1 = customer_by_user_id(&customers, "u1");
    assert_eq!(u1["unsubscribed"], json!(true));
    assert_eq!(u1["blocked"], json!(false));
    assert_eq!(u1["lastSeen"], json!("1614834367"));
    assert_eq!(u1["lastPage"], "/pricing");
    assert_eq!(u1["integrationId"], "int-7");
    // The first contact of each run was read back, booleans and dates included.
    assert_eq!(dir.summary()["verify_requests"], 1);
    dir.assert_results_agree();
}

async fn storm(retry_after: RetryAfterMode) {
    // The server allows 20/s; we are told 200/s: a storm of 429s, each answered with
    // Retry-After, which must pause every worker and still create each row once.
    let config = SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: per_sec(20),
            burst: 1,
        }),
        retry_after,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } =
        import_exactly_once(config, 40, &["--rate", "200/s", "--concurrency", "8"]).await;
    let stats = sandbox.stats();
    assert!(stats.rate_limited > 0, "the storm happened: {stats:?}");
    let summary = dir.summary();
    assert_eq!(summary["rate_limited"], stats.rate_limited);
    assert_eq!(summary["requests"], stats.requests);
    assert_eq!(summary["created"], 40);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_with_retry_after_seconds_creates_every_row_once() {
    storm(RetryAfterMode::Seconds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_with_retry_after_dates_creates_every_row_once() {
    storm(RetryAfterMode::Date).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_without_retry_after_backs_off_and_creates_every_row_once() {
    storm(RetryAfterMode::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_success() {
    let config = SandboxConfig {
        error_rate: 0.3,
        retry_after: RetryAfterMode::None,
        seed: 7,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } = import_exactly_once(config, 30, &["--rate", "100/s"]).await;
    let stats = sandbox.stats();
    assert!(stats.server_errors > 0, "{stats:?}");
    assert_eq!(dir.summary()["retries"], stats.server_errors);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_keep_their_cells_and_reasons_and_reimport_once_fixed() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    // u0 exists already: the API refuses the duplicate userId, which is no failure.
    let first = dir.write("first.csv", "userId,email\nu0,zero@example.com\n");
    assert_eq!(
        import(&sandbox, &dir, &first, &["--rate", "50/s"])
            .await
            .code,
        0
    );
    std::fs::remove_dir_all(dir.out()).expect("clear out");

    let file = dir.write(
        "mixed.csv",
        "userId,email,name,customData.seats:integer\n\
         u1,one@example.com,One,1\n\
         u2,two@@example.com,\"Two, Jr.\",2\n\
         u0,zero@example.com,Zero,3\n\
         u3,three@example.com,Three,many\n",
    );
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert!(
        result.stderr.contains("mixed.csv:3"),
        "failures are named by file and line: {}",
        result.stderr
    );
    let failed = dir.csv_rows("failed.csv");
    let by_line = |line: &str| {
        failed
            .iter()
            .find(|r| r["_line"] == line)
            .unwrap_or_else(|| panic!("line {line}"))
    };
    assert_eq!(failed.len(), 2);
    assert_eq!(by_line("3")["_status"], "invalid");
    assert!(
        by_line("3")["_errors"].contains("two@@example.com"),
        "{:?}",
        by_line("3")
    );
    assert_eq!(by_line("3")["name"], "Two, Jr.");
    assert_eq!(by_line("5")["_status"], "invalid");
    assert!(by_line("5")["_errors"].contains("many"));
    let existing = dir
        .csv_rows("created.csv")
        .into_iter()
        .find(|r| r["line"] == "4")
        .expect("the existing contact is in created.csv");
    assert_eq!(existing["status"], "exists");
    let u0 = customer_by_user_id(&sandbox.customers(), "u0").clone();
    assert_eq!(existing["id"], u0["id"].to_string());
    let summary = dir.summary();
    assert_eq!(summary["rows_read"], 4);
    assert_eq!(summary["created"], 1);
    assert_eq!(summary["exists"], 1);
    assert_eq!(summary["failed"], 2);
    dir.assert_results_agree();

    // Fix the two invalid rows in failed.csv and import it as it is.
    let fixed = dir
        .read_out("failed.csv")
        .replace("two@@example.com", "two@example.com")
        .replace(",many", ",4");
    let fixed = dir.write("fixed.csv", fixed);
    std::fs::remove_dir_all(dir.out()).expect("clear out");
    let again = import(&sandbox, &dir, &fixed, &["--rate", "50/s"]).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(dir.summary()["created"], 2);
    assert_eq!(user_ids(&sandbox), ["u0", "u1", "u2", "u3"]);
    let u3 = customer_by_user_id(&sandbox.customers(), "u3").clone();
    assert_eq!(u3["customData"], json!({"seats": 4}));
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_stops_the_run_with_exit_2_naming_the_variable() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("many.csv", simple_csv(2000));
    let base_url = sandbox.base_url();
    let out = dir.out().to_string_lossy().into_owned();
    let result = run(
        &[
            "import",
            &file,
            "--base-url",
            &base_url,
            "--out",
            &out,
            "--rate",
            "100/s",
        ],
        Some("wrong-key-5521"),
    )
    .await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result.stderr.contains("HELPCRUNCH_API_KEY"),
        "{}",
        result.stderr
    );
    let stats = sandbox.stats();
    assert_eq!(stats.created, 0);
    assert!(
        stats.unauthorized >= 1 && stats.requests <= 8,
        "stopped at once: {stats:?}"
    );
    // Every row read is accounted for, none silently dropped.
    let summary = dir.summary();
    assert_eq!(summary["ending"], "stopped");
    assert_eq!(summary["rows_read"], summary["failed"]);
    assert_eq!(
        summary["failed_by_status"]["unauthorized"]
            .as_u64()
            .unwrap_or(0),
        stats.unauthorized
    );
    dir.assert_results_agree();
    assert!(!result.all_output().contains("wrong-key-5521"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_never_appears_in_logs_or_result_files() {
    let dir = Dir::new();
    let file = dir.write("some.csv", simple_csv(10) + "u11,bad-email,X\n");
    let config = fast_retry_config(&dir);
    for format in ["text", "json"] {
        let sandbox = sandbox(SandboxConfig {
            error_rate: 0.2,
            seed: 3,
            ..SandboxConfig::default()
        })
        .await;
        let _ = std::fs::remove_dir_all(dir.out());
        let result = import(
            &sandbox,
            &dir,
            &file,
            &[
                "--rate",
                "100/s",
                "-vv",
                "--log-format",
                format,
                "--config",
                &config,
            ],
        )
        .await;
        assert_eq!(result.code, 1, "{}", result.all_output());
        assert!(
            result.stderr.contains("retrying"),
            "-vv logs the requests' fates: {}",
            result.stderr
        );
        assert!(
            !result.all_output().contains(KEY),
            "the key leaked into the {format} log"
        );
        // Every file, the binary ledger included.
        for entry in std::fs::read_dir(dir.out()).expect("out dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("result file");
            assert!(
                !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
                "the key leaked into {}",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_sends_no_burst_at_the_start() {
    // 8 workers, and a server that refuses more than 3 at once: only pacing (not the
    // concurrency) can keep every request under its limit.
    let sandbox = sandbox(SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: per_sec(20),
            burst: 3,
        }),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("paced.csv", simple_csv(30));
    let result = import(
        &sandbox,
        &dir,
        &file,
        &["--rate", "20/s", "--concurrency", "8"],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(sandbox.stats().rate_limited, 0, "{:?}", sandbox.stats());
    assert_eq!(user_ids(&sandbox), expected_ids(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_never_spends_the_rows_fault_attempts() {
    // One attempt against faults, yet a storm of 429s: every row must still be created,
    // since a 429 says nothing is wrong with the row.
    let sandbox = sandbox(SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: per_sec(20),
            burst: 1,
        }),
        retry_after: RetryAfterMode::None,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("storm.csv", simple_csv(20));
    let config = dir.write(
        "one-attempt.toml",
        "[retry]\nmax_attempts = 1\ninitial_delay_ms = 10\nmax_delay_secs = 1\n",
    );
    let result = import(
        &sandbox,
        &dir,
        &file,
        &["--rate", "200/s", "--concurrency", "8", "--config", &config],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert!(sandbox.stats().rate_limited > 0, "{:?}", sandbox.stats());
    assert_eq!(user_ids(&sandbox), expected_ids(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_is_one_file_when_a_run_ends() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", simple_csv(20));
    // The process exits as soon as the ledger says it is closed: it must be, by then.
    for run in 0..5 {
        let out = dir.path().join(format!("out{run}"));
        let out = out.to_string_lossy().into_owned();
        let result = common::import_to(&sandbox, &file, &out, &["--rate", "500/s"]).await;
        assert_eq!(result.code, 0, "{}", result.all_output());
        for side in ["ledger.sqlite-wal", "ledger.sqlite-shm"] {
            let path = std::path::Path::new(&out).join(side);
            assert!(!path.exists(), "run {run}: {side} left beside the ledger");
        }
    }
}
