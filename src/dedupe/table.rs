//! The in-memory tables of hashes, in shards.

/// Shards of each table (a power of two).
const SHARDS: usize = 64;

/// An entry of an open table: a nonzero 64-bit hash (zero marks an empty slot).
pub(super) trait Entry: Copy + Default {
    fn hash(&self) -> u64;
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
}

impl Entry for u64 {
    fn hash(&self) -> u64 {
        *self
    }
}

/// A set of hashes with linear probing. It grows by half when 80% full, not by
/// doubling, so it wastes less: a hash table's slack is most of its memory here.
struct Open<T> {
    slots: Vec<T>,
    len: usize,
}

impl<T: Entry> Open<T> {
    const FIRST: usize = 64;

    fn new() -> Self {
        Open {
            slots: Vec::new(),
            len: 0,
        }
    }

    /// The entry with `hash`, or the empty slot where it would go.
    fn probe(&self, hash: u64) -> usize {
        let size = self.slots.len();
        // The shard took the middle bits; the low 32 pick the slot, scaled to the size
        // by a multiplication (a division costs more than the rest of the probe).
        let mut at = (((hash & 0xFFFF_FFFF) * size as u64) >> 32) as usize;
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

    /// The entry already there, or None after inserting `entry`.
    fn get_or_insert(&mut self, entry: T) -> Option<T> {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow();
        }
        let at = self.probe(entry.hash());
        let slot = &mut self.slots[at];
        if slot.hash() != 0 {
            return Some(*slot);
        }
        *slot = entry;
        self.len += 1;
        None
    }

    fn grow(&mut self) {
        let size = (self.slots.len() + self.slots.len() / 2).max(Self::FIRST);
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
    pub(super) fn get_or_insert(&mut self, entry: T) -> Option<T> {
        let shard = (entry.hash() >> 40) as usize & (SHARDS - 1);
        self.0[shard].get_or_insert(entry)
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.0.iter().map(Open::bytes).sum()
    }
}
