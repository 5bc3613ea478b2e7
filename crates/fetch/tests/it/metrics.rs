//! Every block is counted in `palisade_fetch_blocked_total{rule}`, labelled by the rule only.

use crate::support::{fetcher, settings, StubResolver};
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use palisade_fetch::FetchRequest;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Records counter increments by their key (name and labels).
#[derive(Default)]
struct Counts(Mutex<Vec<(String, Arc<AtomicU64>)>>);

struct Cell(Arc<AtomicU64>);

impl CounterFn for Cell {
    fn increment(&self, v: u64) {
        self.0.fetch_add(v, Ordering::SeqCst);
    }
    fn absolute(&self, v: u64) {
        self.0.store(v, Ordering::SeqCst);
    }
}

impl Recorder for Counts {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let cell = Arc::new(AtomicU64::new(0));
        self.0.lock().unwrap().push((name, cell.clone()));
        Counter::from_arc(Arc::new(Cell(cell)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Counts {
    fn total(&self, name: &str) -> u64 {
        let v = self.0.lock().unwrap();
        v.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, c)| c.load(Ordering::SeqCst))
            .sum()
    }
}

#[test]
fn blocks_are_counted_by_rule() {
    let counts = Counts::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&counts, || {
        rt.block_on(async {
            let stub = Arc::new(StubResolver::new(&[]));
            stub.name("internal.test", &[&["10.0.0.7"]]);
            let f = fetcher(settings(&[]), stub, &[]);
            for url in [
                "http://169.254.169.254/",
                "http://internal.test/",
                "http://[::1]/",
                "http://127.0.0.1:22/",
            ] {
                assert!(f
                    .fetch(FetchRequest::get(url))
                    .await
                    .unwrap_err()
                    .is_blocked());
            }
            // Bad input is not a block.
            assert!(!f
                .fetch(FetchRequest::get("ftp://x/"))
                .await
                .unwrap_err()
                .is_blocked());
        })
    });
    assert_eq!(
        counts.total("palisade_fetch_blocked_total{rule=link-local}"),
        1
    );
    assert_eq!(
        counts.total("palisade_fetch_blocked_total{rule=private}"),
        1
    );
    assert_eq!(
        counts.total("palisade_fetch_blocked_total{rule=loopback}"),
        1
    );
    assert_eq!(
        counts.total("palisade_fetch_blocked_total{rule=port-not-allowed}"),
        1
    );
    let all: usize = counts.0.lock().unwrap().len();
    assert_eq!(all, 4, "one series per rule, no other label");
}
