//! Which CPU this machine has and how many cores, and how they are split
//! between trials that run side by side (libtorch's intra-op thread count is
//! per process). Figures measured on different CPU models (an Intel Xeon, an
//! AMD EPYC) are not comparable, so benchmarks print [`model`].

/// The cores this process may use (at least 1).
pub fn available() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The CPU's model name from `/proc/cpuinfo` (e.g. `Intel(R) Xeon(R)
/// Processor`), or `unknown CPU` where there is none.
pub fn model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
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
        assert!(!model().is_empty());
    }
}
