//! Per-row cost of `validate`'s stages: parsing CSV, mapping and validating a record, the
//! repeat detector, and the three together, on generated contact rows like those of
//! `scripts/gen_contacts.py`.
//!
//! Run: `cargo bench --bench validate`. The whole command against Python is
//! `scripts/bench-validate.sh` (see BENCHMARKS.md).

use std::hint::black_box;
use std::io::BufRead;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use helpcrunch_import::dedupe::Seen;
use helpcrunch_import::mapping::Mapper;
use helpcrunch_import::payload::CreateCustomer;
use helpcrunch_import::record::{Cells, Record, Warnings};
use helpcrunch_import::source::{Format, Rows, TextOptions};

const ROWS: usize = 10_000;

/// Rows in the shape of the benchmark file: every column the conventions know, about
/// 5% with one problem.
fn csv(rows: usize) -> Vec<u8> {
    let mut text = String::from(
        "userId,email,name,company,phone,firstSeen,locale,tags,customData.plan,\
         customData.seats:integer,customData.paid:boolean,customData.city\r\n",
    );
    let locales = ["en", "en-US", "pt_BR", "de", "fr-FR", "uk", "English", ""];
    for i in 0..rows {
        let email = if i % 100 == 7 {
            format!("user{i}@@example.com")
        } else {
            format!("user.name{i}@example.com")
        };
        let date = if i % 100 == 13 {
            "2021-13-45".to_string()
        } else {
            format!(
                "20{:02}-{:02}-{:02}T{:02}:{:02}:00Z",
                10 + i % 15,
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 60
            )
        };
        text.push_str(&format!(
            "cust-{i:07},{email},Ann Lee,\"Acme, Inc.\",+1 555 {:07},{date},{},vip;new,pro,{},yes,Berlin\r\n",
            i * 7 % 10_000_000,
            locales[i % locales.len()],
            i % 500,
        ));
    }
    text.into_bytes()
}

fn rows(bytes: &[u8]) -> Rows {
    let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(bytes.to_vec()));
    Rows::from_bytes(
        "bench.csv".into(),
        Format::Csv,
        TextOptions::default(),
        reader,
    )
    .expect("the generated CSV opens")
}

fn records(bytes: &[u8]) -> Vec<Record> {
    rows(bytes)
        .collect::<Result<Vec<_>, _>>()
        .expect("the generated CSV reads")
}

fn stages(c: &mut Criterion) {
    let bytes = csv(ROWS);
    let records = records(&bytes);
    let mapper = Mapper::new(None).expect("conventions");
    let Cells::Csv { header, .. } = &records[0].cells else {
        panic!("CSV cells");
    };
    let plan = mapper.plan(header).expect("a conventional header");

    let mut group = c.benchmark_group("validate per row");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.bench_function("parse", |b| {
        b.iter(|| rows(&bytes).filter(|r| black_box(r.is_ok())).count())
    });
    // As a dry run does: every row into one payload, reusing its buffers.
    group.bench_function("map + validate", |b| {
        let mut payload = CreateCustomer::default();
        let mut warnings = Warnings::default();
        b.iter(|| {
            records
                .iter()
                .filter(|r| {
                    mapper
                        .map_into(Some(&plan), r, &mut payload, &mut warnings)
                        .is_ok()
                })
                .count()
        })
    });
    group.bench_function("repeat detector", |b| {
        let keys: Vec<_> = records
            .iter()
            .filter_map(|r| mapper.map(Some(&plan), r, &mut Warnings::default()).ok())
            .map(|p| (p.user_id, p.email))
            .collect();
        b.iter(|| {
            // Hashing, touching a batch's slots, then checking in order, as the run does.
            let mut seen = Seen::default();
            let keyer = seen.keyer();
            let mut repeats = 0;
            for (chunk, rows) in keys.chunks(64).zip(records.chunks(64)) {
                let chunk: Vec<_> = chunk
                    .iter()
                    .map(|(u, e)| (keyer.keys(u.as_deref(), e.as_deref()), u, e))
                    .collect();
                for (k, _, _) in &chunk {
                    seen.touch(k);
                }
                for ((k, u, e), r) in chunk.iter().zip(rows) {
                    repeats += usize::from(
                        seen.check(&r.origin, k, || ((*u).clone(), (*e).clone()))
                            .is_err(),
                    );
                }
            }
            repeats
        })
    });
    group.bench_function("parse + map + validate + repeats", |b| {
        b.iter(|| {
            let mut seen = Seen::default();
            let keyer = seen.keyer();
            let mut p = CreateCustomer::default();
            let mut w = Warnings::default();
            rows(&bytes)
                .filter_map(Result::ok)
                .filter(|r| {
                    mapper.map_into(Some(&plan), r, &mut p, &mut w).is_ok() && {
                        let (u, e) = (p.user_id.as_deref(), p.email.as_deref());
                        let names = || (p.user_id.clone(), p.email.clone());
                        seen.check(&r.origin, &keyer.keys(u, e), names).is_ok()
                    }
                })
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
