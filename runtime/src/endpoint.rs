//! What a coordinator address on a command line means.

/// `host:port` without a scheme means `http://host:port`; surrounding
/// whitespace is dropped.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_gets_http() {
        assert_eq!(normalize_url(" 127.0.0.1:50051 "), "http://127.0.0.1:50051");
        assert_eq!(normalize_url("https://h:1"), "https://h:1");
    }
}
