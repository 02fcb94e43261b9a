//! TEMPORARY stand-in until the sandbox lands (same signatures).
use std::net::SocketAddr;
use std::time::Duration;

use crate::rate::Rate;

#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    pub api_key: Option<String>,
    pub limit: Option<Limit>,
    pub retry_after: RetryAfterMode,
    pub error_rate: f64,
    pub drop_rate: f64,
    pub latency: Duration,
    pub seed: u64,
}
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    TokenBucket { rate: Rate, burst: u32 },
    FixedWindow { max: u32, window: Duration },
}
#[derive(Debug, Clone, Copy, Default)]
pub enum RetryAfterMode {
    #[default]
    Seconds,
    Date,
    None,
}
impl std::str::FromStr for RetryAfterMode {
    type Err = ();
    fn from_str(_s: &str) -> Result<Self, ()> {
        Ok(RetryAfterMode::Seconds)
    }
}
pub struct Sandbox;
impl Sandbox {
    pub async fn start(_c: SandboxConfig, _a: SocketAddr) -> std::io::Result<Sandbox> {
        Ok(Sandbox)
    }
    pub fn base_url(&self) -> String {
        String::new()
    }
    pub async fn shutdown(self) {}
}
pub async fn serve(
    _l: tokio::net::TcpListener,
    _c: SandboxConfig,
    _s: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    Ok(())
}
