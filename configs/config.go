package configs

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/auth/token"
	"github.com/esgate/esgate/certs"
)

// Route is one listener with its own upstream hosts, credentials and trust.
// Keys carry the names of Logstash's elasticsearch output; the field comment
// is the flag's help text and states the default.
type Route struct {
	Name         string `yaml:"name" help:"route name for logs, metrics and check's report (default: the listen address)" group:"route"`
	Listen       string `yaml:"listen" help:"plain-HTTP address to serve: host:port or unix:/path (default 127.0.0.1:9200)" group:"listener"`
	UnsafeListen bool   `yaml:"unsafe_listen" help:"allow a non-loopback listen address: anyone who can connect uses the cluster credentials (default false)" group:"listener"`

	Hosts                  []string `yaml:"hosts" help:"Elasticsearch https URLs, with or without a path prefix (default port 9200)" group:"cluster"`
	Proxy                  string   `yaml:"proxy" help:"forward proxy for the connections to Elasticsearch, http://[user:password@]host:port (HTTP CONNECT; TLS stays end to end) (default: HTTPS_PROXY and NO_PROXY from the environment)" group:"cluster" secret:"1"`
	Path                   string   `yaml:"path" help:"path prefix added to every host's URL, as Logstash's path (default none)" group:"cluster"`
	SSLEnabled             *bool    `yaml:"ssl_enabled" help:"TLS to Elasticsearch: esgate always uses it; false is refused (default true)" group:"cluster"`
	LegacySSL              *bool    `yaml:"ssl" help:"deprecated: use ssl_enabled" group:"cluster" noflag:"1"`
	LegacyCertVerification *bool    `yaml:"ssl_certificate_verification" help:"deprecated: use ssl_verification_mode (false is none)" group:"trust" noflag:"1"`
	CloudID                string   `yaml:"cloud_id" help:"Elastic Cloud ID; replaces hosts (default none)" group:"cluster"`

	User            string `yaml:"user" help:"Basic auth user (default none)" group:"credential"`
	Password        string `yaml:"password" help:"Basic auth password (prefer password_file or ${ENV}) (default none)" group:"credential" secret:"1"`
	PasswordFile    string `yaml:"password_file" help:"file holding the Basic auth password (default none)" group:"credential"`
	CloudAuth       string `yaml:"cloud_auth" help:"Elastic Cloud user:password (default none)" group:"credential" secret:"1"`
	APIKey          string `yaml:"api_key" help:"API key: id:api_key, its base64 encoded form, or an essu_ key (default none)" group:"credential" secret:"1"`
	APIKeyFile      string `yaml:"api_key_file" help:"file holding the API key (default none)" group:"credential"`
	BearerToken     string `yaml:"bearer_token" help:"Bearer token (service-account token) (default none)" group:"credential" secret:"1"`
	BearerTokenFile string `yaml:"bearer_token_file" help:"file holding the Bearer token; a JWT there (a Kubernetes projected token, a token agent's file) is re-read at 80% of its lifetime and every second after until it holds a newer one, and never sent once expired (default none)" group:"credential"`

	OAuth2TokenURL                  string            `yaml:"oauth2_token_url" help:"OAuth2 token endpoint: esgate gets a token with the client credentials grant, sends it as Bearer and refreshes it before it expires; https, or http on loopback only (default none)" group:"credential"`
	OAuth2ClientID                  string            `yaml:"oauth2_client_id" help:"OAuth2 client id (default none)" group:"credential"`
	OAuth2ClientSecret              string            `yaml:"oauth2_client_secret" help:"OAuth2 client secret (prefer oauth2_client_secret_file, the keystore or ${ENV}) (default none)" group:"credential" secret:"1"`
	OAuth2ClientSecretFile          string            `yaml:"oauth2_client_secret_file" help:"file holding the OAuth2 client secret, read for every token request (default none)" group:"credential"`
	OAuth2Scopes                    []string          `yaml:"oauth2_scopes" help:"scopes asked for, sent space-separated as scope (default none)" group:"credential"`
	OAuth2EndpointParams            map[string]string `yaml:"oauth2_endpoint_params" help:"extra form parameters of the token request, e.g. audience=elasticsearch or resource=… (default none)" group:"credential"`
	OAuth2AuthStyle                 string            `yaml:"oauth2_auth_style" help:"how the client authenticates to the token endpoint: basic (HTTP Basic with the url-encoded id and secret, RFC 6749 client_secret_basic) or params (client_id and client_secret in the form) (default basic)" group:"credential"`
	OAuth2SSLCertificateAuthorities []string          `yaml:"oauth2_ssl_certificate_authorities" help:"PEM CA files to trust for the token endpoint (default: system roots)" group:"credential"`
	JWTSharedSecret                 string            `yaml:"jwt_shared_secret" help:"client shared secret of Elasticsearch's JWT realm (client_authentication.type shared_secret), sent as ES-Client-Authentication: SharedSecret beside the Bearer token (default none)" group:"credential" secret:"1"`
	JWTSharedSecretFile             string            `yaml:"jwt_shared_secret_file" help:"file holding jwt_shared_secret (default none)" group:"credential"`

	SSLCertificate   string `yaml:"ssl_certificate" help:"PEM client certificate: PKI authentication on its own, or mutual TLS beside a header credential (default none)" group:"credential"`
	SSLKey           string `yaml:"ssl_key" help:"PEM private key of ssl_certificate (PKCS#1, PKCS#8, SEC1 or encrypted PKCS#8) (default none)" group:"credential"`
	SSLKeyPassphrase string `yaml:"ssl_key_passphrase" help:"passphrase of an encrypted ssl_key (default none: the key is not encrypted)" group:"credential" secret:"1"`

	SSLKeystorePath     string `yaml:"ssl_keystore_path" help:"JKS or PKCS#12 keystore with the PKI client certificate (instead of ssl_certificate/ssl_key) (default none)" group:"credential"`
	SSLKeystorePassword string `yaml:"ssl_keystore_password" help:"password of ssl_keystore_path (default none)" group:"credential" secret:"1"`
	SSLKeystoreType     string `yaml:"ssl_keystore_type" help:"jks or pkcs12 (default: from the extension .jks, .p12, .pfx)" group:"credential"`

	// Logstash's pre-12 names, accepted in files with a deprecation warning
	// (not as flags: --keystore names esgate's own keystore).
	LegacyKeystore           string   `yaml:"keystore" help:"deprecated: use ssl_keystore_path" group:"credential" noflag:"1"`
	LegacyKeystorePassword   string   `yaml:"keystore_password" help:"deprecated: use ssl_keystore_password" group:"credential" noflag:"1" secret:"1"`
	LegacyTruststore         string   `yaml:"truststore" help:"deprecated: use ssl_truststore_path" group:"trust" noflag:"1"`
	LegacyTruststorePassword string   `yaml:"truststore_password" help:"deprecated: use ssl_truststore_password" group:"trust" noflag:"1" secret:"1"`
	LegacyCACert             []string `yaml:"cacert" help:"deprecated: use ssl_certificate_authorities" group:"trust" noflag:"1"`

	SSLCertificateAuthorities []string `yaml:"ssl_certificate_authorities" help:"PEM CA files or bundles to trust (default: system roots)" group:"trust"`
	CATrustedFingerprint      []string `yaml:"ca_trusted_fingerprint" help:"SHA-256 (64 hex) of the cluster's CA certificate, as ES 8 prints it; several during a CA change (default none)" group:"trust"`
	SSLVerificationMode       string   `yaml:"ssl_verification_mode" help:"full, certificate (no host name check) or none (default full)" group:"trust"`
	SSLSupportedProtocols     []string `yaml:"ssl_supported_protocols" help:"TLS versions: TLSv1.1, TLSv1.2, TLSv1.3 (default TLSv1.2,TLSv1.3)" group:"trust"`
	SSLCipherSuites           []string `yaml:"ssl_cipher_suites" help:"TLS 1.2 cipher suites by IANA name (default: Go's secure list)" group:"trust"`
	SSLServerName             string   `yaml:"ssl_server_name" help:"server name for SNI and host name verification (default: each host's name)" group:"trust"`
	SSLTruststorePath         string   `yaml:"ssl_truststore_path" help:"JKS or PKCS#12 truststore of CAs to trust (instead of ssl_certificate_authorities) (default none)" group:"trust"`
	SSLTruststorePassword     string   `yaml:"ssl_truststore_password" help:"password of ssl_truststore_path (default none)" group:"trust" secret:"1"`
	SSLTruststoreType         string   `yaml:"ssl_truststore_type" help:"jks or pkcs12 (default: from the extension)" group:"trust"`

	APIKeyManagement      bool     `yaml:"api_key_management" help:"mint this route's own API key with its credentials, renew it before it expires, and re-mint when ES refuses it (default false)" group:"managed_key"`
	APIKeyName            string   `yaml:"api_key_name" help:"name of managed API keys (default esgate-<route>-<hostname>)" group:"managed_key"`
	APIKeyExpiration      string   `yaml:"api_key_expiration" help:"lifetime of managed API keys in ES units, e.g. 1d, 12h (default 1d)" group:"managed_key"`
	APIKeyRenewAfter      float64  `yaml:"api_key_renew_after" help:"renew a managed key after this fraction of its lifetime (default 0.5)" group:"managed_key"`
	APIKeyInvalidateDelay Duration `yaml:"api_key_invalidate_delay" help:"how long the previous managed key stays valid after the switch (default 60s)" group:"managed_key"`

	CustomHeaders map[string]string `yaml:"custom_headers" help:"extra headers on every upstream request, as Name=value (default none)" group:"cluster"`

	ListenSSLCertificate string   `yaml:"listen_ssl_certificate" help:"PEM certificate for TLS on the listener (with listen_ssl_key); clients then connect with https (default none: plain HTTP)" group:"listener"`
	ListenSSLKey         string   `yaml:"listen_ssl_key" help:"PEM private key of listen_ssl_certificate (default none)" group:"listener"`
	ListenSSLDomains     []string `yaml:"listen_ssl_domains" help:"names for a listener certificate that esgate obtains and renews itself (certmagic), instead of listen_ssl_certificate (default none)" group:"listener"`
	ListenSSLIssuer      string   `yaml:"listen_ssl_issuer" help:"who issues the managed certificate: acme (an ACME CA) or internal (esgate's own CA, whose root is written to listen_ssl_storage for clients to trust) (default acme)" group:"listener"`
	ListenSSLACMEDir     string   `yaml:"listen_ssl_acme_directory" help:"ACME directory URL, e.g. an internal smallstep CA (default Let's Encrypt)" group:"listener"`
	ListenSSLACMEEmail   string   `yaml:"listen_ssl_acme_email" help:"ACME account contact address (default none)" group:"listener"`
	ListenSSLACMECARoot  []string `yaml:"listen_ssl_acme_ca_root" help:"PEM CA files to trust for the ACME server itself (default: system roots)" group:"listener"`
	ListenSSLStorage     string   `yaml:"listen_ssl_storage" help:"directory of managed certificates, keys and the internal CA (default esgate-certs)" group:"listener"`
	ListenSSLClientCA    []string `yaml:"listen_ssl_client_ca" help:"PEM CA files whose client certificates authenticate clients (mutual TLS) (default none)" group:"listener"`
	ClientAllowedNames   []string `yaml:"client_allowed_names" help:"client certificate subject CNs, DNS or URI SANs accepted (default: any certificate from listen_ssl_client_ca)" group:"listener"`
	ClientBasicUsers     []string `yaml:"client_basic_users" help:"clients authenticating with HTTP Basic, as name:bcrypt-hash from esgate hash-password (default none)" group:"listener"`
	ClientBearerTokens   []string `yaml:"client_bearer_tokens" help:"clients authenticating with a bearer token, as name:sha256:hex from esgate hash-password --token (default none)" group:"listener"`

	AllowedHosts        []string `yaml:"allowed_hosts" help:"Host names accepted besides loopback names and the listener's address, e.g. the service name clients use (default none: other names are refused, against DNS rebinding)" group:"policy"`
	AllowedOrigins      []string `yaml:"allowed_origins" help:"browser Origins whose requests are forwarded, * for any (default none: requests with Origin or a cross-site Sec-Fetch-Site are refused)" group:"policy"`
	ForwardHeaders      []string `yaml:"forward_headers" help:"identity headers passed to Elasticsearch: es-security-runas-user, es-secondary-authorization (default none: stripped)" group:"policy"`
	PolicyProfile       string   `yaml:"policy" help:"what the route is for: full (everything but credential self-service), ingest (Logstash's elasticsearch output), read (search, scroll, PIT), monitoring, management (default full)" group:"policy"`
	PolicyRules         []string `yaml:"policy_rules" help:"allow/deny rules before the policy, first match wins: \"allow|deny METHODS /path\" with * for one name segment and a final ** for the rest (default none)" group:"policy"`
	AllowCredentialAPIs bool     `yaml:"allow_credential_apis" help:"lend the credential to change passwords and create, grant, update or invalidate credentials (API keys, tokens, users, roles) (default false)" group:"policy"`

	ConnectTimeout        Duration `yaml:"connect_timeout" help:"TCP connect timeout (default 5s)" group:"cluster"`
	HandshakeTimeout      Duration `yaml:"ssl_handshake_timeout" help:"TLS handshake timeout (default 10s)" group:"cluster"`
	Timeout               Duration `yaml:"timeout" help:"time to wait for Elasticsearch's response headers, or for it to take more of a request body, as Logstash's timeout (default 60s)" group:"cluster"`
	PoolMax               int      `yaml:"pool_max" help:"most connections to all of the route's hosts; requests beyond wait up to timeout (default 1000)" group:"forwarding"`
	PoolMaxPerRoute       int      `yaml:"pool_max_per_route" help:"most connections to one host, also the most kept idle; requests beyond wait up to timeout (default 100)" group:"forwarding"`
	PoolIdleTimeout       Duration `yaml:"pool_idle_timeout" help:"close pooled connections idle this long (default 60s)" group:"forwarding"`
	ResurrectDelay        Duration `yaml:"resurrect_delay" help:"how often dead hosts are health-checked (default 5s)" group:"upstream"`
	HealthcheckPath       string   `yaml:"healthcheck_path" help:"path of the HEAD health check of dead hosts (default /)" group:"upstream"`
	NodesHTTP             string   `yaml:"nodes_http" help:"GET /_nodes/http (sniffing): rewrite puts esgate's listen address in place of every node's, so clients with sniffing on keep using esgate; pass leaves Elasticsearch's answer unchanged (default rewrite)" group:"upstream"`
	HTTPCompression       *bool    `yaml:"http_compression" help:"Logstash's older switch: true means compression_level 1 (default false)" group:"upstream"`
	CompressionLevel      *int     `yaml:"compression_level" help:"gzip request bodies that clients send plain at this level, 1 (fast) to 9, as Logstash's compression_level; 0 passes them as sent (default 0)" group:"upstream"`
	RESTAPICompatibility  int      `yaml:"rest_api_compatibility" help:"7: for 7.x-era clients, ask Elasticsearch 8 for REST API compatibility with 7 (typed URLs, _type in bulk lines) on every request that asks for no version; 0 sends requests as the client does (default 0)" group:"upstream"`
	MaxBodySize           ByteSize `yaml:"max_body_size" help:"largest request body accepted, e.g. 100mb; larger ones get 413 (default 0: unlimited)" group:"forwarding"`
	MaxResponseHeaderSize ByteSize `yaml:"max_response_header_size" help:"largest response header block accepted from Elasticsearch (1xx answers included); larger ones get 502 (default 1mb)" group:"forwarding"`
	ClientIdleTimeout     Duration `yaml:"client_idle_timeout" help:"close idle client keep-alive connections after this (default 120s)" group:"forwarding"`

	// Filled by Validate.
	upstreams    []*url.URL
	deprecations []string
	clientSide   []string // Logstash client settings found in the file
	tls          certs.Options
	cred         func() (auth.Credential, error)
	rules        []policy.Rule
	proxyURL     *url.URL
	authKind     string
	oauth2       *token.OAuth2Config
}

// Config is esgate's whole configuration: global settings plus routes. The
// top-level route keys describe a single route; with routes: they are the
// defaults each route inherits.
type Config struct {
	Route           `yaml:",inline"`
	Routes          []Route  `yaml:"-"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout" help:"how long SIGTERM waits for in-flight requests (default 30s)" group:"forwarding"`
	StatusListen    string   `yaml:"status_listen" help:"address of the status listener: /metrics, /healthz, /readyz; off disables (default 127.0.0.1:9201)" group:"observability"`
	ReadyFile       string   `yaml:"ready_file" help:"once every route listens, write this JSON file (atomically) with the pid and the bound addresses of each route and of the status listener, so that port 0 is usable; removed at exit (default none)" group:"observability"`
	StatusPprof     bool     `yaml:"status_pprof" help:"also serve /debug/pprof/ on the status listener (default false)" group:"observability"`
	AccessLog       string   `yaml:"access_log" help:"one log line per request: on or off (default on)" group:"observability"`
	BulkMetrics     string   `yaml:"bulk_metrics" help:"count bulk item outcomes by reading bulk responses as they stream: on or off (default on)" group:"observability"`
	ExpiryWarning   Duration `yaml:"expiry_warning" help:"warn when a certificate expires within this (default 720h)" group:"observability"`
	ReloadInterval  Duration `yaml:"reload_interval" help:"how often the config file, the keystore and the CA, certificate, key and secret files they name are checked for changes and reloaded; 0s disables (default 5s)" group:"files"`
	LogLevel        string   `yaml:"log_level" help:"debug, info, warn or error (default info)" group:"observability"`
	LogFormat       string   `yaml:"log_format" help:"text or json (default text)" group:"observability"`

	explicit map[string]bool // global keys given in the file or as flags
}

// Defaults.
const (
	DefaultListen            = "127.0.0.1:9200"
	DefaultConnectTimeout    = 5 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultTimeout           = 60 * time.Second
	DefaultPoolMax           = 1000
	DefaultPoolMaxPerRoute   = 100
	DefaultPoolIdleTimeout   = 60 * time.Second
	DefaultResurrectDelay    = 5 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultClientIdleTimeout = 120 * time.Second
	DefaultReloadInterval    = 5 * time.Second
	DefaultMaxResponseHeader = 1 << 20
)

// Upstreams returns the validated upstream base URLs.
func (r *Route) Upstreams() []*url.URL { return r.upstreams }

// TLSOptions returns the validated TLS options.
func (r *Route) TLSOptions() certs.Options { return r.tls }

// CredentialLoader returns the function that (re)loads the credential.
func (r *Route) CredentialLoader() func() (auth.Credential, error) { return r.cred }

// ClientSettings lists the Logstash output settings found in the file that
// belong to the client (index, ilm_*, sniffing, retries, …): Logstash
// keeps handling them, esgate accepts and ignores them.
func (r *Route) ClientSettings() []string { return r.clientSide }

// Deprecations lists the deprecated keys used, with their replacements.
func (r *Route) Deprecations() []string { return r.deprecations }

// Files lists every file the route reads (CA files, client certificate and
// key, secret files), for change detection.
func (r *Route) Files() []string {
	var out []string
	out = append(out, r.SSLCertificateAuthorities...)
	out = append(out, r.ListenSSLClientCA...)
	out = append(out, r.OAuth2SSLCertificateAuthorities...)
	for _, f := range []string{r.SSLCertificate, r.SSLKey, r.PasswordFile, r.APIKeyFile, r.BearerTokenFile, r.OAuth2ClientSecretFile, r.JWTSharedSecretFile, r.SSLKeystorePath, r.SSLTruststorePath, r.ListenSSLCertificate, r.ListenSSLKey} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ForwardProxy returns the validated proxy setting (nil: use the
// environment's HTTPS_PROXY/NO_PROXY).
func (r *Route) ForwardProxy() *url.URL { return r.proxyURL }

// ClientAuth returns the route's listener TLS and client authentication.
func (r *Route) ClientAuth() frontdoor.Config {
	return frontdoor.Config{CertFile: r.ListenSSLCertificate, KeyFile: r.ListenSSLKey, ClientCAs: r.ListenSSLClientCA,
		AllowedNames: r.ClientAllowedNames, BasicUsers: r.ClientBasicUsers, BearerTokens: r.ClientBearerTokens,
		Managed: r.ManagedCert().Enabled()}
}

// ManagedCert returns the route's managed listener certificate settings
// (listen_ssl_domains and friends).
func (r *Route) ManagedCert() certs.ManagedConfig {
	return certs.ManagedConfig{Domains: r.ListenSSLDomains, Issuer: r.ListenSSLIssuer, ACMEDirectory: r.ListenSSLACMEDir,
		ACMEEmail: r.ListenSSLACMEEmail, ACMERoots: r.ListenSSLACMECARoot, Storage: r.ListenSSLStorage}
}

// Policy returns the route's request policy settings.
func (r *Route) Policy() policy.Config {
	return policy.Config{AllowedHosts: r.AllowedHosts, AllowedOrigins: r.AllowedOrigins,
		ForwardHeaders: r.ForwardHeaders, AllowCredentialAPIs: r.AllowCredentialAPIs,
		Profile: r.PolicyProfile, Rules: r.rules}
}

// AuthKind names the authentication method: basic, api_key, bearer,
// oauth2 or pki.
func (r *Route) AuthKind() string { return r.authKind }

// Duration is a time.Duration that also accepts a bare number of seconds,
// as Logstash's timeout does.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses "90s", "1m30s" or a bare number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration like 30s or a number of seconds, got %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return Duration(d), nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a size in bytes written as 1048576, 512kb, 100mb or 1gb.
type ByteSize int64

// ParseByteSize parses a size with an optional b, kb, mb or gb suffix (powers of 1024).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size like 100mb, got %q", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n * mult), nil
}
