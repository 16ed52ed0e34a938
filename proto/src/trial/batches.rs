//! How an epoch's shuffled training order is cut into batches: `batch_size`
//! images each, the last one shorter, except that a last batch of a single
//! image joins the one before it.
//!
//! Why: in train mode BatchNorm normalises with the batch's own statistics
//! and updates its running variance with the unbiased estimate (n − 1 in the
//! denominator). At 32 px `layer4`'s output is 1 × 1, so a one-image batch
//! gives n = 1 value per channel there: variance 0/0 = NaN, and the running
//! variance — used by every later evaluation — becomes NaN for good
//! (PyTorch's Python API refuses such a batch; libtorch computes it). Merging
//! keeps every image in the epoch (dropping it, as `drop_last` would, loses
//! one image an epoch) and changes nothing when the split leaves no lone image.
//!
//! It lives here, beside the config it reads, so the worker's training loops
//! and the config's checks (a `step` schedule's batch count) count alike.

use std::ops::Range;

/// The batches of an epoch of `n` images, as index ranges into its order.
pub fn batch_ranges(n: usize, batch_size: usize) -> Vec<Range<usize>> {
    assert!(batch_size > 0, "batch size is validated positive");
    let mut ranges: Vec<Range<usize>> = (0..n)
        .step_by(batch_size)
        .map(|s| s..(s + batch_size).min(n))
        .collect();
    if ranges.len() >= 2 && ranges.last().is_some_and(|r| r.len() == 1) {
        let lone = ranges.pop().expect("two or more");
        ranges.last_mut().expect("one or more").end = lone.end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_last_image_joins_the_batch_before() {
        assert_eq!(batch_ranges(257, 128), vec![0..128, 128..257]);
        assert_eq!(batch_ranges(129, 128), vec![0..129]);
    }

    #[test]
    fn other_splits_are_cut_as_chunks() {
        assert_eq!(batch_ranges(256, 128), vec![0..128, 128..256]);
        assert_eq!(batch_ranges(258, 128), vec![0..128, 128..256, 256..258]);
        assert_eq!(batch_ranges(5, 128), vec![0..5]);
        assert_eq!(batch_ranges(1, 128), vec![0..1]);
        assert_eq!(batch_ranges(0, 128), Vec::<Range<usize>>::new());
        // Every image exactly once, in order.
        for n in 0..300 {
            let r = batch_ranges(n, 7);
            let flat: Vec<usize> = r.iter().flat_map(|r| r.clone()).collect();
            assert_eq!(flat, (0..n).collect::<Vec<_>>());
            assert!(r.iter().all(|r| r.len() != 1) || n == 1 || r.len() == 1);
        }
    }
}
