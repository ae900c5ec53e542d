use super::*;

#[test]
fn push_pop_fifo() {
    let mut rb = RingBuffer::new(4);
    rb.push(1);
    rb.push(2);
    rb.push(3);
    assert_eq!(rb.pop(), Some(1));
    assert_eq!(rb.pop(), Some(2));
    assert_eq!(rb.pop(), Some(3));
    assert_eq!(rb.pop(), None);
}

#[test]
fn len_capacity_and_flags() {
    let mut rb = RingBuffer::new(2);
    assert!(rb.is_empty());
    assert_eq!(rb.capacity(), 2);
    rb.push("a");
    rb.push("b");
    assert!(rb.is_full());
    assert_eq!(rb.len(), 2);
    assert_eq!(rb.peek(), Some(&"a"));
}

#[test]
fn overwrite_returns_evicted() {
    let mut rb = RingBuffer::new(3);
    assert_eq!(rb.push(1), None);
    assert_eq!(rb.push(2), None);
    assert_eq!(rb.push(3), None);
    assert_eq!(rb.push(4), Some(1));
    assert_eq!(rb.push(5), Some(2));
    assert_eq!(rb.len(), 3);
}

#[test]
fn overwrite_keeps_fifo_order() {
    let mut rb = RingBuffer::new(3);
    for i in 1..=5 {
        rb.push(i);
    }
    assert_eq!(rb.to_vec(), vec![3, 4, 5]);
    assert_eq!(rb.peek(), Some(&3));
    assert_eq!(rb.pop(), Some(3));
    assert_eq!(rb.pop(), Some(4));
    assert_eq!(rb.pop(), Some(5));
    assert_eq!(rb.pop(), None);
}

#[test]
fn wraparound_after_pops() {
    let mut rb = RingBuffer::new(3);
    for round in 0..10 {
        rb.push(round * 2);
        rb.push(round * 2 + 1);
        assert_eq!(rb.pop(), Some(round * 2));
        assert_eq!(rb.pop(), Some(round * 2 + 1));
        assert!(rb.is_empty());
    }
}

#[test]
fn to_vec_is_oldest_first_after_wrap() {
    let mut rb = RingBuffer::new(4);
    for c in ['a', 'b', 'c', 'd'] {
        rb.push(c);
    }
    rb.pop();
    rb.pop();
    rb.push('e');
    rb.push('f');
    assert_eq!(rb.to_vec(), vec!['c', 'd', 'e', 'f']);
    assert_eq!(rb.push('g'), Some('c'));
    assert_eq!(rb.to_vec(), vec!['d', 'e', 'f', 'g']);
}
