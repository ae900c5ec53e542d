//! A fixed-capacity FIFO ring buffer that overwrites its oldest item when full.

pub struct RingBuffer<T> {
    slots: Vec<Option<T>>,
    /// Index of the oldest item.
    head: usize,
    /// Number of items currently stored.
    len: usize,
}

impl<T: Clone> RingBuffer<T> {
    /// Create an empty buffer holding at most `capacity` items.
    ///
    /// Panics if `capacity` is zero.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be positive");
        RingBuffer {
            slots: (0..capacity).map(|_| None).collect(),
            head: 0,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Append `item` as the newest element. When the buffer is full the
    /// oldest element is overwritten and returned.
    pub fn push(&mut self, item: T) -> Option<T> {
        let idx = (self.head + self.len) % self.capacity();
        if self.is_full() {
            return self.slots[idx].replace(item);
        }
        self.slots[idx] = Some(item);
        self.len += 1;
        None
    }

    /// Remove and return the oldest element.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head += 1;
        self.len -= 1;
        item
    }

    /// Peek at the oldest element without removing it.
    pub fn peek(&self) -> Option<&T> {
        if self.len == 0 {
            None
        } else {
            self.slots[self.head].as_ref()
        }
    }

    /// The stored items, oldest first.
    pub fn to_vec(&self) -> Vec<T> {
        self.slots.iter().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
