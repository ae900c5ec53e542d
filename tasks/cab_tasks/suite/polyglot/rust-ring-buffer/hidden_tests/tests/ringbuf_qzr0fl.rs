use ringbuf::RingBuffer;
use std::collections::VecDeque;

#[test]
fn qzr0fl_matches_a_queue_model_through_many_wraps() {
    let capacity = 5;
    let mut rb = RingBuffer::new(capacity);
    let mut model: VecDeque<u32> = VecDeque::new();
    let mut state: u32 = 12345;
    for step in 0..2000u32 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        if (state >> 16) % 3 == 0 {
            assert_eq!(rb.pop(), model.pop_front(), "pop at step {}", step);
        } else {
            model.push_back(step);
            let evicted = if model.len() > capacity { model.pop_front() } else { None };
            assert_eq!(rb.push(step), evicted, "push at step {}", step);
        }
        assert_eq!(rb.len(), model.len());
        assert_eq!(rb.peek(), model.front());
        assert_eq!(rb.to_vec(), model.iter().copied().collect::<Vec<_>>());
    }
}

#[test]
fn qzr0fl_owned_values_are_evicted_oldest_first() {
    let mut rb: RingBuffer<String> = RingBuffer::new(3);
    let mut evicted = Vec::new();
    for i in 0..10 {
        if let Some(old) = rb.push(format!("item{}", i)) {
            evicted.push(old);
        }
    }
    assert_eq!(evicted, (0..7).map(|i| format!("item{}", i)).collect::<Vec<_>>());
    assert_eq!(rb.to_vec(), vec!["item7", "item8", "item9"]);
    assert!(rb.is_full());
}

#[test]
fn qzr0fl_capacity_one_and_refill_after_emptying() {
    let mut rb = RingBuffer::new(1);
    assert_eq!(rb.push('a'), None);
    assert_eq!(rb.push('b'), Some('a'));
    assert_eq!(rb.pop(), Some('b'));
    assert!(rb.is_empty());
    let mut rb = RingBuffer::new(4);
    for round in 0..3 {
        for i in 0..6 {
            rb.push(round * 10 + i);
        }
        assert_eq!(rb.to_vec(), vec![round * 10 + 2, round * 10 + 3, round * 10 + 4, round * 10 + 5]);
        while rb.pop().is_some() {}
        assert_eq!(rb.peek(), None);
    }
}
