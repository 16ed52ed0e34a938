//! How many cores this machine has, and how they are split between trials
//! that run side by side (libtorch's intra-op thread count is per process).

/// The cores this process may use (at least 1).
pub fn available() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Threads for each of `ways` trials sharing `cores` cores: an even share,
/// at least 1.
pub fn share(cores: u32, ways: u32) -> u32 {
    (cores / ways.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_even_and_never_zero() {
        assert_eq!(share(8, 2), 4);
        assert_eq!(share(2, 3), 1);
        assert_eq!(share(5, 0), 5);
        assert!(available() >= 1);
    }
}
