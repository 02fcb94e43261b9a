//! The search index behind `--search-delay-ms`: what `POST /customers/search` matches on,
//! lagging the store by a fixed delay, as a search engine fed after the database does.
//!
//! Only customers written within the last delay have an entry: the version search still
//! sees (none for a new customer) and the versions written since, each with the time it shows
//! up. Once the last of them shows, the entry goes and search reads the store again, so
//! memory holds the writes of one delay, not a second copy of the customers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

type Customer = Map<String, Value>;

#[derive(Debug)]
pub(crate) struct Index {
    delay: Duration,
    lagging: HashMap<u64, Lag>,
}

#[derive(Debug)]
struct Lag {
    /// What search sees now; None: the customer is not searchable yet.
    visible: Option<Customer>,
    /// Versions written since, oldest first, each with when it shows up.
    pending: VecDeque<(Instant, Customer)>,
}

impl Index {
    pub(crate) fn new(delay: Duration) -> Index {
        Index {
            delay,
            lagging: HashMap::new(),
        }
    }

    /// Records that customer `id`, which search saw as `before` (None: not at all), was
    /// written at `now` and is now `after`.
    pub(crate) fn written(
        &mut self,
        id: u64,
        before: Option<&Customer>,
        after: &Customer,
        now: Instant,
    ) {
        let lag = self.lagging.entry(id).or_insert_with(|| Lag {
            visible: before.cloned(),
            pending: VecDeque::new(),
        });
        lag.pending.push_back((now + self.delay, after.clone()));
    }

    /// Forgets customer `id` (deleted: gone from search at once, as from the store).
    pub(crate) fn remove(&mut self, id: u64) {
        self.lagging.remove(&id);
    }

    /// Lets every version whose time has come at `now` show up.
    pub(crate) fn settle(&mut self, now: Instant) {
        self.lagging.retain(|_, lag| {
            while let Some((at, _)) = lag.pending.front() {
                if *at > now {
                    break;
                }
                lag.visible = lag.pending.pop_front().map(|(_, customer)| customer);
            }
            // Settled: search reads the store, which holds the same version.
            !lag.pending.is_empty()
        });
    }

    /// The version of customer `id` that search sees, `stored` being the store's; call
    /// `settle` first.
    pub(crate) fn view<'a>(&'a self, id: u64, stored: &'a Customer) -> Option<&'a Customer> {
        match self.lagging.get(&id) {
            Some(lag) => lag.visible.as_ref(),
            None => Some(stored),
        }
    }

    /// How many customers have a version not yet searchable.
    #[cfg(test)]
    fn lagging(&self) -> usize {
        self.lagging.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customer(email: &str) -> Customer {
        json!({ "email": email })
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn seen(index: &Index, stored: &Customer) -> Option<Value> {
        index.view(1, stored).map(|c| c["email"].clone())
    }

    #[test]
    fn a_new_customer_shows_up_after_the_delay() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut index = Index::new(Duration::from_millis(100));
        let stored = customer("a@x.com");
        index.written(1, None, &stored, at(0));
        index.settle(at(99));
        assert_eq!(seen(&index, &stored), None);
        index.settle(at(100));
        assert_eq!(seen(&index, &stored), Some(json!("a@x.com")));
        assert_eq!(index.lagging(), 0, "settled entries go");
    }

    #[test]
    fn changes_show_up_in_order_each_after_the_delay() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut index = Index::new(Duration::from_millis(100));
        let (a, b, c) = (customer("a@x"), customer("b@x"), customer("c@x"));
        index.written(1, Some(&a), &b, at(10));
        index.written(1, Some(&b), &c, at(50));
        index.settle(at(20));
        assert_eq!(seen(&index, &c), Some(json!("a@x")));
        index.settle(at(110));
        assert_eq!(seen(&index, &c), Some(json!("b@x")));
        assert_eq!(index.lagging(), 1);
        index.settle(at(150));
        assert_eq!(seen(&index, &c), Some(json!("c@x")));
        assert_eq!(index.lagging(), 0);
    }

    #[test]
    fn a_customer_written_long_ago_is_read_from_the_store() {
        let index = Index::new(Duration::from_secs(1));
        let stored = customer("s@x");
        assert_eq!(seen(&index, &stored), Some(json!("s@x")));
    }

    #[test]
    fn a_removed_customer_is_forgotten() {
        let now = Instant::now();
        let mut index = Index::new(Duration::from_secs(1));
        index.written(1, None, &customer("a@x"), now);
        index.remove(1);
        assert_eq!(index.lagging(), 0);
    }
}
