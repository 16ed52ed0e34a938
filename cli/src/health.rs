//! `sweep health`: asks the coordinator's standard gRPC health service
//! (`grpc.health.v1.Health/Check`, open to every caller) whether it serves,
//! over the same TLS as every other command. Prints `SERVING` and exits 0, or
//! fails: exit 2 when it cannot be reached, 1 when it answers anything else.
//! Made for probes (Kubernetes' own gRPC probe speaks plaintext only) and
//! scripts that wait for a coordinator to come up.

use crate::client::{connect_channel, Coordinator};
use crate::error::CliError;
use crate::output;
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// `sweep health`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HealthArgs {
    /// The service to ask about, e.g. sweep.v1.WorkerService [default: the
    /// whole server].
    #[arg(long, default_value = "")]
    pub service: String,
    /// How long to wait for the answer, seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

pub async fn run(to: &Coordinator, args: &HealthArgs) -> Result<(), CliError> {
    let wait = Duration::from_secs(args.timeout);
    let (url, channel) = tokio::time::timeout(wait, connect_channel(to))
        .await
        .map_err(|_| CliError::NoAnswerInTime {
            url: to.url.clone(),
        })??;
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: args.service.clone(),
    });
    request.set_timeout(wait);
    let answer = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|status| CliError::from_status(&status, &url, None))?
        .into_inner();
    let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
    if status == ServingStatus::Serving {
        output::println("SERVING")
    } else {
        let what = if args.service.is_empty() {
            "the server".to_string()
        } else {
            format!("service {}", args.service)
        };
        Err(CliError::CoordinatorFailed {
            url,
            code: "health",
            message: format!("{what} is {}", status.as_str_name()),
        })
    }
}
