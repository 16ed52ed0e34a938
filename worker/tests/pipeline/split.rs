//! The split on the real MNIST files: stratified (equal per class), train and
//! val disjoint, deterministic for a seed, different for another seed; and
//! refused by field name when a class's pool is too small.

use super::common::mnist_dir;
use std::collections::HashSet;
use sweep_worker::pipeline::mnist::load_mnist;
use sweep_worker::pipeline::split::{stratified_split, SplitSizes};

fn per_class(labels: &[u8], idx: &[usize]) -> Vec<usize> {
    let mut c = vec![0; 10];
    for &i in idx {
        c[labels[i] as usize] += 1;
    }
    c
}

#[test]
fn stratified_disjoint_deterministic() {
    let m = load_mnist(&mnist_dir()).unwrap();
    let sizes = SplitSizes {
        train: 10_000,
        val: 2_000,
        test: 2_000,
    };
    let s = stratified_split(&m.train.labels, &m.test.labels, sizes, 0).unwrap();
    assert_eq!(per_class(&m.train.labels, &s.train), vec![1000; 10]);
    assert_eq!(per_class(&m.train.labels, &s.val), vec![200; 10]);
    assert_eq!(per_class(&m.test.labels, &s.test), vec![200; 10]);
    let train: HashSet<_> = s.train.iter().collect();
    assert_eq!(train.len(), 10_000, "no index drawn twice");
    assert!(
        s.val.iter().all(|i| !train.contains(i)),
        "train ∩ val must be empty"
    );
    assert_eq!(s.test.iter().collect::<HashSet<_>>().len(), 2_000);

    let again = stratified_split(&m.train.labels, &m.test.labels, sizes, 0).unwrap();
    assert_eq!(s, again, "same seed, same split");
    let other = stratified_split(&m.train.labels, &m.test.labels, sizes, 1).unwrap();
    assert_ne!(s.train, other.train);
    assert_ne!(s.val, other.val);
    assert_ne!(s.test, other.test);
}

#[test]
fn the_largest_split_fits_and_one_more_per_class_does_not() {
    let m = load_mnist(&mnist_dir()).unwrap();
    // Digit 5 has 5421 training images and 892 test images.
    let fits = SplitSizes {
        train: 50_000,
        val: 4_210,
        test: 8_920,
    };
    let s = stratified_split(&m.train.labels, &m.test.labels, fits, 3).unwrap();
    assert_eq!(s.train.len() + s.val.len(), 54_210);
    let too_many = SplitSizes {
        train: 50_000,
        val: 4_220,
        test: 100,
    };
    let e = stratified_split(&m.train.labels, &m.test.labels, too_many, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.train") && e.contains("digit 5"), "{e}");
    let too_many_test = SplitSizes {
        train: 100,
        val: 100,
        test: 8_930,
    };
    let e = stratified_split(&m.train.labels, &m.test.labels, too_many_test, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("data.test"), "{e}");
}
