//! A tower layer on the gRPC server that counts every call and times it, by
//! method (the request path, `/sweep.v1.SweepService/ListSweeps`) and gRPC
//! status code.
//!
//! The code is the `grpc-status` header of the response (where tonic puts
//! every refusal before the body: the gate's, a bad argument, a store
//! error); a response without one is counted as `OK` (its real status
//! travels in trailers, after the body). The latency runs until the response
//! headers, which for a unary call is the whole handler and for
//! `WatchSweep` is the start of the stream.
//!
//! Methods are whatever path a caller sends, so at most [`MAX_METHODS`]
//! distinct ones get a label of their own; the rest share `other`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::Code;

/// Distinct method labels kept; both services, health and reflection have
/// fewer than 30 methods.
pub const MAX_METHODS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    code: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The RPC counters and histograms, shared by every clone of the layer.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    calls: Family<RpcLabels, Counter>,
    seconds: Family<RpcLabels, Histogram, fn() -> Histogram>,
    methods: Arc<Mutex<HashSet<String>>>,
}

impl RpcMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let calls = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_calls",
            "gRPC calls by method and status code",
            calls.clone(),
        );
        let seconds = Family::<RpcLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "rpc_latency",
            "gRPC call latency until the response headers, by method and status code",
            Unit::Seconds,
            seconds.clone(),
        );
        Self {
            calls,
            seconds,
            methods: Arc::default(),
        }
    }

    /// `path` if it is one of the first [`MAX_METHODS`] seen, else `other`.
    fn method_label(&self, path: &str) -> String {
        let mut methods = self.methods.lock().unwrap_or_else(|p| p.into_inner());
        if methods.contains(path) {
            return path.to_string();
        }
        if methods.len() < MAX_METHODS {
            methods.insert(path.to_string());
            return path.to_string();
        }
        "other".to_string()
    }

    fn observe(&self, method: String, code: String, seconds: f64) {
        let labels = RpcLabels { method, code };
        self.calls.get_or_create(&labels).inc();
        self.seconds.get_or_create(&labels).observe(seconds);
    }
}

/// The status a response's headers carry (`OK` if none).
fn code_of(headers: &http::HeaderMap) -> String {
    let Some(value) = headers.get("grpc-status") else {
        return format!("{:?}", Code::Ok);
    };
    let code = value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
        .unwrap_or(Code::Unknown);
    format!("{code:?}")
}

/// Wraps a service in [`RpcMetricsService`].
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: RpcMetrics,
}

impl RpcMetricsLayer {
    pub(super) fn new(metrics: RpcMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// Counts and times each call of `inner`.
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: RpcMetrics,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.metrics.method_label(request.uri().path());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            let code = match &answer {
                Ok(response) => code_of(response.headers()),
                Err(_) => "transport_error".to_string(),
            };
            metrics.observe(method, code, started.elapsed().as_secs_f64());
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(code_of(&headers), "Ok");
        headers.insert("grpc-status", "16".parse().unwrap());
        assert_eq!(code_of(&headers), "Unauthenticated");
        headers.insert("grpc-status", "junk".parse().unwrap());
        assert_eq!(code_of(&headers), "Unknown");
    }

    #[test]
    fn method_labels_are_capped() {
        let metrics = RpcMetrics::register(&mut Registry::default());
        for i in 0..MAX_METHODS {
            assert_eq!(metrics.method_label(&format!("/m{i}")), format!("/m{i}"));
        }
        assert_eq!(metrics.method_label("/one-too-many"), "other");
        assert_eq!(metrics.method_label("/m0"), "/m0");
    }
}
