//! Client configuration: regions, base URLs, credentials, pacing and retry settings.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::error::ConfigError;

/// Environment variable holding the OAuth client id.
pub const ENV_CLIENT_ID: &str = "GENESYS_CLIENT_ID";
/// Environment variable holding the OAuth client secret.
pub const ENV_CLIENT_SECRET: &str = "GENESYS_CLIENT_SECRET";
/// Environment variable naming the region (`us_east_1`, `eu-west-1` or `mypurecloud.ie`).
pub const ENV_REGION: &str = "GENESYS_REGION";
/// Environment variable overriding the API base URL (e.g. the emulator).
pub const ENV_API_URL: &str = "GENESYS_API_URL";
/// Environment variable overriding the login base URL (e.g. the emulator).
pub const ENV_LOGIN_URL: &str = "GENESYS_LOGIN_URL";

/// The Genesys Cloud deployments (reference §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    UsEast1,
    UsEast2,
    UsWest2,
    CaCentral1,
    SaEast1,
    MxCentral1,
    EuWest1,
    EuWest2,
    EuCentral1,
    EuCentral2,
    EuscDeEast1,
    MeCentral1,
    ApSouth1,
    ApSoutheast1,
    ApSoutheast2,
    ApNortheast1,
    ApNortheast2,
    ApNortheast3,
}

/// (region, SDK id, AWS-style id, domain)
const REGIONS: &[(Region, &str, &str, &str)] = &[
    (Region::UsEast1, "us_east_1", "us-east-1", "mypurecloud.com"),
    (
        Region::UsEast2,
        "us_east_2",
        "us-east-2",
        "use2.us-gov-pure.cloud",
    ),
    (Region::UsWest2, "us_west_2", "us-west-2", "usw2.pure.cloud"),
    (
        Region::CaCentral1,
        "ca_central_1",
        "ca-central-1",
        "cac1.pure.cloud",
    ),
    (Region::SaEast1, "sa_east_1", "sa-east-1", "sae1.pure.cloud"),
    (
        Region::MxCentral1,
        "mx_central_1",
        "mx-central-1",
        "mxc1.pure.cloud",
    ),
    (Region::EuWest1, "eu_west_1", "eu-west-1", "mypurecloud.ie"),
    (Region::EuWest2, "eu_west_2", "eu-west-2", "euw2.pure.cloud"),
    (
        Region::EuCentral1,
        "eu_central_1",
        "eu-central-1",
        "mypurecloud.de",
    ),
    (
        Region::EuCentral2,
        "eu_central_2",
        "eu-central-2",
        "euc2.pure.cloud",
    ),
    // The EU sovereign cloud has no AWS region name; accept the dashed form of the SDK id.
    (
        Region::EuscDeEast1,
        "eusc_de_east_1",
        "eusc-de-east-1",
        "edee1.eusc-pure.cloud",
    ),
    (
        Region::MeCentral1,
        "me_central_1",
        "me-central-1",
        "mec1.pure.cloud",
    ),
    (
        Region::ApSouth1,
        "ap_south_1",
        "ap-south-1",
        "aps1.pure.cloud",
    ),
    (
        Region::ApSoutheast1,
        "ap_southeast_1",
        "ap-southeast-1",
        "apse1.pure.cloud",
    ),
    (
        Region::ApSoutheast2,
        "ap_southeast_2",
        "ap-southeast-2",
        "mypurecloud.com.au",
    ),
    (
        Region::ApNortheast1,
        "ap_northeast_1",
        "ap-northeast-1",
        "mypurecloud.jp",
    ),
    (
        Region::ApNortheast2,
        "ap_northeast_2",
        "ap-northeast-2",
        "apne2.pure.cloud",
    ),
    (
        Region::ApNortheast3,
        "ap_northeast_3",
        "ap-northeast-3",
        "apne3.pure.cloud",
    ),
];

impl Region {
    /// Every known region.
    pub fn all() -> impl Iterator<Item = Region> {
        REGIONS.iter().map(|r| r.0)
    }

    fn row(self) -> &'static (Region, &'static str, &'static str, &'static str) {
        // The table holds every variant; the fallback is never reached.
        REGIONS.iter().find(|r| r.0 == self).unwrap_or(&REGIONS[0])
    }

    /// SDK region id, e.g. `eu_west_1`.
    pub fn sdk_id(self) -> &'static str {
        self.row().1
    }

    /// AWS-style id, e.g. `eu-west-1`.
    pub fn aws_id(self) -> &'static str {
        self.row().2
    }

    /// Domain, e.g. `mypurecloud.ie`.
    pub fn domain(self) -> &'static str {
        self.row().3
    }

    /// `https://api.{domain}`
    pub fn api_base(self) -> Url {
        // The table only holds valid host names.
        Url::parse(&format!("https://api.{}", self.domain())).unwrap_or_else(|_| default_url())
    }

    /// `https://login.{domain}`
    pub fn login_base(self) -> Url {
        Url::parse(&format!("https://login.{}", self.domain())).unwrap_or_else(|_| default_url())
    }
}

fn default_url() -> Url {
    // A constant that always parses.
    Url::parse("https://api.mypurecloud.com").unwrap_or_else(|_| unreachable!())
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdk_id())
    }
}

impl FromStr for Region {
    type Err = ConfigError;

    /// Accepts the SDK id (`us_east_1`), the AWS-style id (`us-east-1`), the domain
    /// (`mypurecloud.com`) or an API/login host (`api.mypurecloud.com`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_end_matches('/').to_ascii_lowercase();
        let t = t
            .strip_prefix("https://")
            .or_else(|| t.strip_prefix("http://"))
            .unwrap_or(&t);
        let t = t
            .strip_prefix("api.")
            .or_else(|| t.strip_prefix("login."))
            .unwrap_or(t);
        REGIONS
            .iter()
            .find(|(_, sdk, aws, domain)| t == *sdk || t == *aws || t == *domain)
            .map(|r| r.0)
            .ok_or_else(|| ConfigError::UnknownRegion(s.to_string()))
    }
}

/// Retry policy for transient failures (429, 502/503/504, timeouts, connection resets).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request including the first (>= 1).
    pub max_attempts: u32,
    /// First backoff delay; doubles each attempt.
    pub base_delay: Duration,
    /// Largest single backoff delay.
    pub max_delay: Duration,
    /// Give up when the next wait would end after this much time since the first attempt.
    pub max_elapsed: Duration,
    /// Wait used for a 429 without a usable `Retry-After`.
    pub default_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(120),
            default_retry_after: Duration::from_secs(1),
        }
    }
}

/// Everything the client needs. Construct with [`ClientConfig::new`], [`ClientConfig::for_region`]
/// or [`ClientConfig::from_env`]; fields are public for tuning.
#[derive(Clone)]
pub struct ClientConfig {
    /// API base, e.g. `https://api.mypurecloud.com` (paths `/api/v2/...` are appended).
    pub api_base: Url,
    /// Login base, e.g. `https://login.mypurecloud.com` (`/oauth/token` is appended).
    pub login_base: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Requests per access token per window; `None` disables pacing (429s are still honoured).
    pub rate_limit_per_minute: Option<u32>,
    /// Length of the server's rate window (60 s in Genesys Cloud; shorter only for tests
    /// against an emulator with a compressed clock).
    pub rate_window: Duration,
    /// Extra spacing added to the window so latency jitter cannot push more than the limit into
    /// one server-side window.
    pub rate_margin: Duration,
    /// Refresh the token this long before `expires_in` runs out.
    pub token_refresh_margin: Duration,
    /// Per-attempt timeout of one HTTP request (covers connect, send and body).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Log request and response bodies at `debug` level (may contain personal data; off by default).
    pub log_bodies: bool,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("api_base", &self.api_base.as_str())
            .field("login_base", &self.login_base.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_window", &self.rate_window)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("log_bodies", &self.log_bodies)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Explicit base URLs and credentials.
    pub fn new(
        api_base: Url,
        login_base: Url,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        Self {
            api_base,
            login_base,
            client_id: client_id.into(),
            client_secret,
            rate_limit_per_minute: Some(300),
            rate_window: Duration::from_secs(60),
            rate_margin: Duration::from_millis(500),
            token_refresh_margin: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            log_bodies: false,
            user_agent: format!("gcprov/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Hosts of a region.
    pub fn for_region(
        region: Region,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        Self::new(
            region.api_base(),
            region.login_base(),
            client_id,
            client_secret,
        )
    }

    /// Explicit API base; the login base is derived by replacing a leading `api.` host label
    /// with `login.` (what the official SDKs do); a host without `api.` (the emulator) is used
    /// for both.
    pub fn with_api_base(
        api_base: Url,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        let login = derive_login_base(&api_base);
        Self::new(api_base, login, client_id, client_secret)
    }

    /// Reads `GENESYS_CLIENT_ID`, `GENESYS_CLIENT_SECRET`, `GENESYS_REGION`, `GENESYS_API_URL`
    /// and `GENESYS_LOGIN_URL` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`ClientConfig::from_env`] with a custom lookup (testable without touching the
    /// process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let client_id = get(ENV_CLIENT_ID).ok_or(ConfigError::Missing(ENV_CLIENT_ID))?;
        let secret = get(ENV_CLIENT_SECRET).ok_or(ConfigError::Missing(ENV_CLIENT_SECRET))?;
        let secret = SecretString::from(secret);
        let region = get(ENV_REGION).map(|r| r.parse::<Region>()).transpose()?;
        let api = get(ENV_API_URL)
            .map(|u| parse_base(ENV_API_URL, &u))
            .transpose()?;
        let login = get(ENV_LOGIN_URL)
            .map(|u| parse_base(ENV_LOGIN_URL, &u))
            .transpose()?;
        let (api_base, login_base) = match (api, login, region) {
            (Some(a), Some(l), _) => (a, l),
            (Some(a), None, _) => {
                let l = derive_login_base(&a);
                (a, l)
            }
            (None, Some(l), Some(r)) => (r.api_base(), l),
            (None, Some(_), None) => return Err(ConfigError::Missing(ENV_API_URL)),
            (None, None, Some(r)) => (r.api_base(), r.login_base()),
            (None, None, None) => return Err(ConfigError::Missing(ENV_REGION)),
        };
        Ok(Self::new(api_base, login_base, client_id, secret))
    }

    /// The token endpoint: `{login_base}/oauth/token`.
    pub fn token_url(&self) -> Result<Url, ConfigError> {
        join(&self.login_base, "oauth/token")
    }
}

/// Parses a base URL, rejecting anything that is not http(s) or carries credentials.
pub fn parse_base(name: &'static str, s: &str) -> Result<Url, ConfigError> {
    let u = Url::parse(s.trim()).map_err(|e| ConfigError::InvalidUrl {
        name,
        reason: e.to_string(),
    })?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(ConfigError::InvalidUrl {
            name,
            reason: format!("unsupported scheme {}", u.scheme()),
        });
    }
    if u.host_str().is_none() {
        return Err(ConfigError::InvalidUrl {
            name,
            reason: "no host".into(),
        });
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(ConfigError::InvalidUrl {
            name,
            reason: "credentials are not allowed in the URL".into(),
        });
    }
    Ok(u)
}

/// `https://api.x` → `https://login.x`; other hosts unchanged.
pub fn derive_login_base(api: &Url) -> Url {
    let mut login = api.clone();
    if let Some(host) = api.host_str()
        && let Some(rest) = host.strip_prefix("api.")
    {
        let _ = login.set_host(Some(&format!("login.{rest}")));
    }
    login.set_path("/");
    login
}

/// Joins a relative path to a base, keeping any path prefix of the base.
pub(crate) fn join(base: &Url, rel: &str) -> Result<Url, ConfigError> {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    b.join(rel.trim_start_matches('/'))
        .map_err(|e| ConfigError::InvalidUrl {
            name: "path",
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_region_parses_by_all_names() {
        assert_eq!(Region::all().count(), 18);
        for r in Region::all() {
            assert_eq!(r.sdk_id().parse::<Region>().unwrap(), r);
            assert_eq!(r.aws_id().parse::<Region>().unwrap(), r);
            assert_eq!(r.domain().parse::<Region>().unwrap(), r);
            assert_eq!(
                format!("https://api.{}/", r.domain())
                    .parse::<Region>()
                    .unwrap(),
                r
            );
            assert_eq!(
                r.api_base().host_str().unwrap(),
                format!("api.{}", r.domain())
            );
            assert_eq!(
                r.login_base().host_str().unwrap(),
                format!("login.{}", r.domain())
            );
        }
        assert_eq!("EU_WEST_1".parse::<Region>().unwrap(), Region::EuWest1);
        assert_eq!("mypurecloud.ie".parse::<Region>().unwrap(), Region::EuWest1);
        assert_eq!(
            "eusc_de_east_1".parse::<Region>().unwrap().domain(),
            "edee1.eusc-pure.cloud"
        );
        assert_eq!(
            "mx-central-1".parse::<Region>().unwrap().domain(),
            "mxc1.pure.cloud"
        );
        assert_eq!(
            "ap_northeast_3".parse::<Region>().unwrap().domain(),
            "apne3.pure.cloud"
        );
        assert_eq!(
            "me_central_1".parse::<Region>().unwrap().domain(),
            "mec1.pure.cloud"
        );
        assert!(matches!(
            "mars-1".parse::<Region>(),
            Err(ConfigError::UnknownRegion(_))
        ));
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn env_region() {
        let c = ClientConfig::from_lookup(env(&[
            (ENV_CLIENT_ID, "cid"),
            (ENV_CLIENT_SECRET, "s3cr3t-value"),
            (ENV_REGION, "eu-central-1"),
        ]))
        .unwrap();
        assert_eq!(c.api_base.as_str(), "https://api.mypurecloud.de/");
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "https://login.mypurecloud.de/oauth/token"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-value"), "{dbg}");
        assert!(dbg.contains("cid"));
    }

    #[test]
    fn env_overrides_hosts() {
        let c = ClientConfig::from_lookup(env(&[
            (ENV_CLIENT_ID, "cid"),
            (ENV_CLIENT_SECRET, "x"),
            (ENV_REGION, "us_east_1"),
            (ENV_API_URL, "http://127.0.0.1:8080"),
        ]))
        .unwrap();
        assert_eq!(c.api_base.as_str(), "http://127.0.0.1:8080/");
        // No `api.` label: the emulator serves both.
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "http://127.0.0.1:8080/oauth/token"
        );
        let c = ClientConfig::from_lookup(env(&[
            (ENV_CLIENT_ID, "cid"),
            (ENV_CLIENT_SECRET, "x"),
            (ENV_API_URL, "https://api.example.test/prefix"),
            (ENV_LOGIN_URL, "https://auth.example.test/base/"),
        ]))
        .unwrap();
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "https://auth.example.test/base/oauth/token"
        );
        assert_eq!(
            join(&c.api_base, "api/v2/").unwrap().as_str(),
            "https://api.example.test/prefix/api/v2/"
        );
        let c = ClientConfig::with_api_base(
            Url::parse("https://api.usw2.pure.cloud").unwrap(),
            "id",
            SecretString::from("s"),
        );
        assert_eq!(c.login_base.as_str(), "https://login.usw2.pure.cloud/");
    }

    #[test]
    fn env_errors() {
        assert_eq!(
            ClientConfig::from_lookup(env(&[])).unwrap_err(),
            ConfigError::Missing(ENV_CLIENT_ID)
        );
        assert_eq!(
            ClientConfig::from_lookup(env(&[(ENV_CLIENT_ID, "a")])).unwrap_err(),
            ConfigError::Missing(ENV_CLIENT_SECRET)
        );
        assert_eq!(
            ClientConfig::from_lookup(env(&[(ENV_CLIENT_ID, "a"), (ENV_CLIENT_SECRET, "b")]))
                .unwrap_err(),
            ConfigError::Missing(ENV_REGION)
        );
        let e = ClientConfig::from_lookup(env(&[
            (ENV_CLIENT_ID, "a"),
            (ENV_CLIENT_SECRET, "b"),
            (ENV_API_URL, "ftp://x"),
        ]))
        .unwrap_err();
        assert!(matches!(e, ConfigError::InvalidUrl { .. }));
        let e = ClientConfig::from_lookup(env(&[
            (ENV_CLIENT_ID, "a"),
            (ENV_CLIENT_SECRET, "b"),
            (ENV_API_URL, "https://user:pw@api.example.test"),
        ]))
        .unwrap_err();
        assert!(!e.to_string().contains("pw"));
    }
}
