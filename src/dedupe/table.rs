//! The in-memory half of the detector: open tables of 64-bit hashes, in shards, within a
//! byte budget.

/// Shards of each table (a power of two).
const SHARDS: usize = 64;
/// The hash's top bits pick the shard.
const SHARD_SHIFT: u32 = u64::BITS - SHARDS.trailing_zeros();

/// An entry of an open table: a nonzero 64-bit hash (zero marks an empty slot).
pub(super) trait Entry: Copy + Default {
    fn hash(&self) -> u64;
    /// This kind's table among the two, with the budget both share.
    fn table(tables: &mut Tables) -> (&mut Sharded<Self>, &mut Budget);
}

/// Where a userId was first seen: its hash split so the slot packs into 14 bytes.
#[derive(Clone, Copy, Default)]
#[repr(C, packed(2))]
pub(super) struct Place {
    hash: [u32; 2],
    line: u32,
    file: u16,
}

impl Place {
    pub(super) fn new(hash: u64, file: u16, line: u32) -> Place {
        Place {
            hash: [(hash >> 32) as u32, hash as u32],
            line,
            file,
        }
    }

    pub(super) fn file(&self) -> u16 {
        self.file
    }

    pub(super) fn line(&self) -> u32 {
        self.line
    }
}

impl Entry for Place {
    fn hash(&self) -> u64 {
        let [high, low] = self.hash;
        (u64::from(high) << 32) | u64::from(low)
    }

    fn table(tables: &mut Tables) -> (&mut Sharded<Self>, &mut Budget) {
        (&mut tables.user_ids, &mut tables.budget)
    }
}

impl Entry for u64 {
    fn hash(&self) -> u64 {
        *self
    }

    fn table(tables: &mut Tables) -> (&mut Sharded<Self>, &mut Budget) {
        (&mut tables.emails, &mut tables.budget)
    }
}

/// What a lookup found.
pub(super) enum Outcome<T> {
    /// The entry recorded first for that hash.
    Earlier(T),
    /// None: the entry is recorded now.
    Added,
    /// The table must grow to take the entry, and the budget has no room for it.
    OverBudget,
}

/// The bytes the tables may hold and hold.
pub(super) struct Budget {
    limit: usize,
    used: usize,
    /// The most they held, a growth step's two copies of a shard included.
    peak: usize,
}

impl Budget {
    /// Room to grow a table from `old` bytes to `new`: both are held while the entries
    /// move, and that step is the peak, so it is what the limit bounds.
    fn make_room(&mut self, old: usize, new: usize) -> bool {
        let during = self.used + new;
        if during > self.limit {
            return false;
        }
        self.peak = self.peak.max(during);
        self.used = during - old;
        true
    }
}

/// A set of hashes with linear probing. It grows by half when 80% full, not by
/// doubling, so it wastes less: a hash table's slack is most of its memory here.
struct Open<T> {
    slots: Vec<T>,
    len: usize,
}

impl<T: Entry> Open<T> {
    /// Small, so that a small budget still gives every shard its first slots.
    const FIRST: usize = 4;

    fn new() -> Self {
        Open {
            slots: Vec::new(),
            len: 0,
        }
    }

    /// Where the entry with `hash` would be if nothing were in the way.
    fn home(&self, hash: u64) -> usize {
        // The shard took the top bits; the low 32 pick the slot, scaled to the size
        // by a multiplication (a division costs more than the rest of the probe).
        (((hash & 0xFFFF_FFFF) * self.slots.len() as u64) >> 32) as usize
    }

    /// The entry with `hash`, or the empty slot where it would go.
    fn probe(&self, hash: u64) -> usize {
        let size = self.slots.len();
        let mut at = self.home(hash);
        loop {
            let found = self.slots[at].hash();
            if found == hash || found == 0 {
                return at;
            }
            at += 1;
            if at == size {
                at = 0;
            }
        }
    }

    /// The entry already there or that `earlier` knows (asked only when the table has
    /// none), or Added after inserting `entry`.
    fn get_or_insert(
        &mut self,
        entry: T,
        budget: &mut Budget,
        earlier: impl FnOnce(u64) -> Option<T>,
    ) -> Outcome<T> {
        if (self.len + 1) * 5 > self.slots.len() * 4 && !self.grow(budget) {
            return Outcome::OverBudget;
        }
        let hash = entry.hash();
        let at = self.probe(hash);
        let slot = &mut self.slots[at];
        if slot.hash() != 0 {
            return Outcome::Earlier(*slot);
        }
        if let Some(first) = earlier(hash) {
            return Outcome::Earlier(first);
        }
        *slot = entry;
        self.len += 1;
        Outcome::Added
    }

    /// False, leaving the table as it is, when the budget has no room.
    fn grow(&mut self, budget: &mut Budget) -> bool {
        let size = (self.slots.len() + self.slots.len() / 2).max(Self::FIRST);
        self.resize(size, budget)
    }

    /// Room for `more` entries, and a fifth more than that below the load that makes
    /// it grow: entries fall into shards unevenly.
    fn reserve(&mut self, more: usize, budget: &mut Budget) {
        let size = (self.len + more) * 3 / 2 + 1;
        if size > self.slots.len() {
            self.resize(size, budget);
        }
    }

    fn resize(&mut self, size: usize, budget: &mut Budget) -> bool {
        let bytes = |slots: usize| slots * std::mem::size_of::<T>();
        if !budget.make_room(bytes(self.slots.len()), bytes(size)) {
            return false;
        }
        self.rehash(size);
        true
    }

    fn rehash(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![T::default(); size]);
        for entry in old.into_iter().filter(|e| e.hash() != 0) {
            let at = self.probe(entry.hash());
            self.slots[at] = entry;
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<T>()
    }
}

/// An [`Open`] table in shards picked by bits of the hash the slots do not use.
pub(super) struct Sharded<T>(Vec<Open<T>>);

impl<T: Entry> Default for Sharded<T> {
    fn default() -> Self {
        Sharded((0..SHARDS).map(|_| Open::new()).collect())
    }
}

impl<T: Entry> Sharded<T> {
    fn shard(&mut self, hash: u64) -> &mut Open<T> {
        &mut self.0[(hash >> SHARD_SHIFT) as usize]
    }

    /// Reads the slot where `hash` would be, so that it is in cache when looked up:
    /// a table larger than the cache costs a wait on memory per lookup, and reads
    /// that do not depend on one another wait together.
    fn touch(&self, hash: u64) {
        if let Some(open) = self.0.get((hash >> SHARD_SHIFT) as usize)
            && let Some(slot) = open.slots.get(open.home(hash))
        {
            std::hint::black_box(slot.hash());
        }
    }

    /// Every entry, in the order of their hashes read as i64 (how SQLite will keep
    /// them): each shard is sorted in place, and the shards, picked by the top bits,
    /// follow one another in that order once the sign bit is flipped. Sorting breaks
    /// the probing: [`Tables::clear`] or [`Tables::rehash`] must follow.
    pub(super) fn sorted(&mut self) -> impl Iterator<Item = T> + '_ {
        for shard in &mut self.0 {
            shard.slots.sort_unstable_by_key(|e| e.hash() as i64);
        }
        (0..SHARDS)
            .map(|shard| &self.0[shard ^ (SHARDS / 2)])
            .flat_map(|shard| shard.slots.iter().copied().filter(|e| e.hash() != 0))
    }

    fn clear(&mut self) {
        self.0.fill_with(Open::new);
    }

    fn rehash(&mut self) {
        for shard in &mut self.0 {
            shard.rehash(shard.slots.len());
        }
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.0.iter().map(Open::bytes).sum()
    }
}

/// The hashes of userIds and of emails, within one byte budget.
pub(super) struct Tables {
    pub(super) user_ids: Sharded<Place>,
    pub(super) emails: Sharded<u64>,
    budget: Budget,
}

impl Tables {
    /// The least budget that gives a table its first slots.
    const LEAST_BUDGET: usize = Open::<Place>::FIRST * std::mem::size_of::<Place>();

    pub(super) fn with_budget(limit: usize) -> Tables {
        Tables {
            user_ids: Sharded::default(),
            emails: Sharded::default(),
            budget: Budget {
                limit: limit.max(Self::LEAST_BUDGET),
                used: 0,
                peak: 0,
            },
        }
    }

    /// See [`Open::get_or_insert`].
    pub(super) fn get_or_insert<T: Entry>(
        &mut self,
        entry: T,
        earlier: impl FnOnce(u64) -> Option<T>,
    ) -> Outcome<T> {
        let (table, budget) = T::table(self);
        table
            .shard(entry.hash())
            .get_or_insert(entry, budget, earlier)
    }

    /// Sizes both tables for `rows` more rows at once, or for as many as three quarters
    /// of the budget hold (the rest is room for the steps they still grow by): grown
    /// step by step instead, they move every entry about twice, each move a wait on
    /// memory once a table outgrows the cache.
    pub(super) fn reserve(&mut self, rows: usize) {
        let row_bytes = (std::mem::size_of::<Place>() + std::mem::size_of::<u64>()) * 3 / 2;
        let rows = rows.min(self.budget.limit / 4 * 3 / row_bytes);
        let each = rows.div_ceil(SHARDS);
        for shard in &mut self.user_ids.0 {
            shard.reserve(each, &mut self.budget);
        }
        for shard in &mut self.emails.0 {
            shard.reserve(each, &mut self.budget);
        }
    }

    /// See [`Sharded::touch`].
    pub(super) fn touch(&self, user_id: Option<u64>, email: Option<u64>) {
        if let Some(hash) = user_id {
            self.user_ids.touch(hash);
        }
        if let Some(hash) = email {
            self.emails.touch(hash);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.budget.used == 0
    }

    /// Empties the tables and gives their memory back.
    pub(super) fn clear(&mut self) {
        self.user_ids.clear();
        self.emails.clear();
        self.budget.used = 0;
    }

    /// Makes the tables probe again after [`Sharded::sorted`], when they were not spilled.
    pub(super) fn rehash(&mut self) {
        self.user_ids.rehash();
        self.emails.rehash();
    }

    /// From now on the tables grow as they need: nothing can take their entries.
    pub(super) fn lift_budget(&mut self) {
        self.budget.limit = usize::MAX;
    }

    pub(super) fn limit(&self) -> usize {
        self.budget.limit
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.user_ids.bytes() + self.emails.bytes()
    }

    /// The most the tables held so far, a growth step included.
    pub(super) fn peak(&self) -> usize {
        self.budget.peak
    }
}
