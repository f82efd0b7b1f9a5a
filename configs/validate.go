package configs

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/certs"
)

// Validate fills defaults, checks every route and loads (once) every file it
// names, so that a config that starts is a config that works. Errors name
// the key and, with several routes, the route.
func (c *Config) Validate() error {
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if c.StatusListen == "" {
		c.StatusListen = "127.0.0.1:9201"
	}
	if c.StatusListen != "off" {
		if _, _, err := net.SplitHostPort(c.StatusListen); err != nil {
			return fmt.Errorf("status_listen: want host:port or off, got %q", c.StatusListen)
		}
	}
	if err := choice("access_log", &c.AccessLog, "on", "on", "off"); err != nil {
		return err
	}
	if err := choice("bulk_metrics", &c.BulkMetrics, "on", "on", "off"); err != nil {
		return err
	}
	if c.ExpiryWarning == 0 {
		c.ExpiryWarning = Duration(30 * 24 * time.Hour)
	}
	if !c.explicit["reload_interval"] {
		c.ReloadInterval = Duration(DefaultReloadInterval)
	}
	if err := choice("log_level", &c.LogLevel, "info", "debug", "info", "warn", "error"); err != nil {
		return err
	}
	if err := choice("log_format", &c.LogFormat, "text", "text", "json"); err != nil {
		return err
	}
	listens := map[string]int{}
	names := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		if err := r.validate(); err != nil {
			if len(c.Routes) > 1 {
				return fmt.Errorf("route %q: %w", r.label(i), err)
			}
			return err
		}
		if j, dup := listens[r.Listen]; dup {
			return fmt.Errorf("route %q: listen: %s is already used by route %q", r.Name, r.Listen, c.Routes[j].Name)
		}
		listens[r.Listen] = i
		if j, dup := names[r.Name]; dup {
			return fmt.Errorf("route %q: name: already used by route %d", r.Name, j)
		}
		names[r.Name] = i
	}
	return nil
}

// choice sets *v to def when it is empty and checks that it is one of
// allowed; the error names key and the values it takes.
func choice(key string, v *string, def string, allowed ...string) error {
	if *v == "" {
		*v = def
	}
	if slices.Contains(allowed, *v) {
		return nil
	}
	return fmt.Errorf("%s: want %s or %s, got %q", key, strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1], *v)
}

func (r *Route) label(i int) string {
	if r.Name != "" {
		return r.Name
	}
	if r.Listen != "" {
		return r.Listen
	}
	return fmt.Sprint(i)
}

// Compression returns the gzip level for plain client bodies (0: off).
func (r *Route) Compression() int {
	if r.CompressionLevel == nil {
		return 0
	}
	return *r.CompressionLevel
}

// validate fills the route's defaults and checks it, concern by concern;
// each step names the key at fault.
func (r *Route) validate() error {
	// Derived state is computed anew, so that Validate can run twice.
	r.upstreams, r.deprecations = nil, nil
	for _, step := range []func() error{
		r.validateListener,   // listen, name, the front door
		r.validateLimits,     // timeouts, pools, sizes, compression
		r.validatePolicy,     // what the credential is lent to
		r.validateCluster,    // hosts, cloud_id, proxy, path, protocol
		r.validateLegacyTLS,  // Logstash's old names of TLS settings
		r.validateCredential, // validate_credential.go
		r.validateTrust,      // CAs, client certificate, verification
		r.validateManagedKey, // api_key_management's settings
		r.validateCustomHeaders,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// validateListener checks listen (loopback unless unsafe_listen, or TLS
// with client authentication), names the route, and loads the front
// door: the listener's TLS and the clients it lets in.
func (r *Route) validateListener() error {
	if r.Listen == "" {
		r.Listen = DefaultListen
	}
	ca := r.ClientAuth()
	if err := checkListen(r.Listen, r.UnsafeListen || (ca.TLS() && ca.Required())); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if r.Name == "" {
		r.Name = r.Listen
	}
	if err := r.ManagedCert().Validate(); err != nil {
		return err
	}
	_, err := frontdoor.New(r.ClientAuth(), nil)
	return err
}

// validateLimits fills the timeouts, pool and size limits and checks
// them, with the compression of plain bodies.
func (r *Route) validateLimits() error {
	setDur := func(d *Duration, def Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDur(&r.ConnectTimeout, Duration(DefaultConnectTimeout))
	setDur(&r.HandshakeTimeout, Duration(DefaultHandshakeTimeout))
	setDur(&r.Timeout, Duration(DefaultTimeout))
	setDur(&r.PoolIdleTimeout, Duration(DefaultPoolIdleTimeout))
	setDur(&r.ResurrectDelay, Duration(DefaultResurrectDelay))
	setDur(&r.ClientIdleTimeout, Duration(DefaultClientIdleTimeout))
	if r.PoolMaxPerRoute == 0 {
		r.PoolMaxPerRoute = DefaultPoolMaxPerRoute
	}
	if r.PoolMaxPerRoute < 0 {
		return errors.New("pool_max_per_route: must be positive")
	}
	if r.PoolMax == 0 {
		r.PoolMax = DefaultPoolMax
	}
	if r.PoolMax < 0 {
		return errors.New("pool_max: must be positive")
	}
	if r.CompressionLevel == nil && r.HTTPCompression != nil && *r.HTTPCompression {
		one := 1
		r.CompressionLevel = &one
	}
	if r.CompressionLevel != nil && (*r.CompressionLevel < 0 || *r.CompressionLevel > 9) {
		return fmt.Errorf("compression_level: want 0 (off) to 9, got %d", *r.CompressionLevel)
	}
	if r.MaxResponseHeaderSize == 0 {
		r.MaxResponseHeaderSize = DefaultMaxResponseHeader
	}
	return nil
}

// validatePolicy checks what the route lends its credential to: the
// identity headers it forwards, the policy and its rules, the origins.
func (r *Route) validatePolicy() error {
	for _, h := range r.ForwardHeaders {
		known := false
		for _, k := range policy.IdentityHeaders {
			known = known || strings.EqualFold(h, k)
		}
		if !known {
			return fmt.Errorf("forward_headers: %q is not an identity header esgate strips (es-security-runas-user, es-secondary-authorization); other headers are forwarded anyway", h)
		}
	}
	if r.PolicyProfile == "" {
		r.PolicyProfile = "full"
	}
	if _, ok := policy.Profiles[r.PolicyProfile]; !ok {
		return fmt.Errorf("policy: %q is not a policy: want %s", r.PolicyProfile, strings.Join(policy.ProfileNames, ", "))
	}
	r.rules = nil
	for _, s := range r.PolicyRules {
		rule, err := policy.ParseRule(s)
		if err != nil {
			return fmt.Errorf("policy_rules: %w", err)
		}
		r.rules = append(r.rules, rule)
	}
	for _, o := range r.AllowedOrigins {
		if o != "*" && !strings.Contains(o, "://") {
			return fmt.Errorf("allowed_origins: %q is not an origin: want scheme://host[:port] as browsers send it, or *", o)
		}
	}
	return nil
}

// validateCluster parses the Elasticsearch hosts (hosts or cloud_id, a
// path prefix, a forward proxy) and how esgate speaks with them: health
// check path, nodes_http, rest_api_compatibility.
func (r *Route) validateCluster() error {
	if r.RESTAPICompatibility != 0 && r.RESTAPICompatibility != 7 {
		return fmt.Errorf("rest_api_compatibility: want 7 (REST API compatibility with 7.x, which Elasticsearch 8 offers) or 0 (off), got %d; clients of 8.x and 9.x ask for their own version", r.RESTAPICompatibility)
	}
	if err := choice("nodes_http", &r.NodesHTTP, "rewrite", "rewrite", "pass"); err != nil {
		return err
	}
	if !strings.HasPrefix(r.HealthcheckPath, "/") {
		// Default "/"; as Logstash, "_cluster/health" is taken too.
		r.HealthcheckPath = "/" + r.HealthcheckPath
	}

	// Upstream hosts.
	switch {
	case r.CloudID != "" && len(r.Hosts) > 0:
		return errors.New("cloud_id and hosts are mutually exclusive: cloud_id already names the cluster")
	case r.CloudID != "":
		u, err := ParseCloudID(r.CloudID)
		if err != nil {
			return fmt.Errorf("cloud_id: %w", err)
		}
		pu, _ := url.Parse(u)
		r.upstreams = []*url.URL{pu}
	case len(r.Hosts) == 0:
		return errors.New("hosts: required (or cloud_id): the Elasticsearch URLs to forward to, e.g. https://es01:9200")
	default:
		for _, h := range r.Hosts {
			u, err := ParseHost(h)
			if err != nil {
				return fmt.Errorf("hosts: %w", err)
			}
			r.upstreams = append(r.upstreams, u)
		}
	}
	r.proxyURL = nil
	if r.Proxy != "" {
		u, err := url.Parse(r.Proxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "") {
			return fmt.Errorf("proxy: want http://[user:password@]host:port (a forward proxy that takes CONNECT), got %q", redactHost(r.Proxy))
		}
		r.proxyURL = u
	}
	if p := strings.Trim(r.Path, "/"); p != "" {
		for _, u := range r.upstreams {
			if u.Path != "" {
				return fmt.Errorf("path: %s already has the path %q: set the prefix in hosts or in path, not both", u.Host, u.Path)
			}
			u.Path = "/" + p
		}
	}
	return nil
}

// validateLegacyTLS maps Logstash's old names of TLS settings to the
// current ones, with a deprecation, and refuses ssl_enabled: false.
func (r *Route) validateLegacyTLS() error {
	// Logstash's old names.
	for _, d := range []struct {
		old, new string
		from     string
		to       *string
	}{
		{"keystore", "ssl_keystore_path", r.LegacyKeystore, &r.SSLKeystorePath},
		{"keystore_password", "ssl_keystore_password", r.LegacyKeystorePassword, &r.SSLKeystorePassword},
		{"truststore", "ssl_truststore_path", r.LegacyTruststore, &r.SSLTruststorePath},
		{"truststore_password", "ssl_truststore_password", r.LegacyTruststorePassword, &r.SSLTruststorePassword},
	} {
		if d.from == "" {
			continue
		}
		if *d.to != "" && *d.to != d.from {
			return fmt.Errorf("%s and %s are the same setting: keep only %s", d.old, d.new, d.new)
		}
		*d.to = d.from
		r.deprecations = append(r.deprecations, d.old+" is deprecated: use "+d.new)
	}
	if r.LegacySSL != nil {
		if r.SSLEnabled != nil && *r.SSLEnabled != *r.LegacySSL {
			return errors.New("ssl and ssl_enabled are the same setting: keep only ssl_enabled")
		}
		r.SSLEnabled = r.LegacySSL
		r.deprecations = append(r.deprecations, "ssl is deprecated: use ssl_enabled")
	}
	if r.SSLEnabled != nil && !*r.SSLEnabled {
		return errors.New("ssl_enabled: false: esgate forwards over TLS only (a cluster without TLS needs no esgate); remove it or set it to true")
	}
	if r.LegacyCertVerification != nil {
		mode := "full"
		if !*r.LegacyCertVerification {
			mode = "none"
		}
		if r.SSLVerificationMode != "" && r.SSLVerificationMode != mode {
			return errors.New("ssl_certificate_verification and ssl_verification_mode are the same setting: keep only ssl_verification_mode")
		}
		r.SSLVerificationMode = mode
		r.deprecations = append(r.deprecations, "ssl_certificate_verification is deprecated: use ssl_verification_mode")
	}
	if len(r.LegacyCACert) > 0 {
		if len(r.SSLCertificateAuthorities) > 0 && !slices.Equal(r.SSLCertificateAuthorities, r.LegacyCACert) {
			return errors.New("cacert and ssl_certificate_authorities are the same setting: keep only ssl_certificate_authorities")
		}
		r.SSLCertificateAuthorities = r.LegacyCACert
		r.deprecations = append(r.deprecations, "cacert is deprecated: use ssl_certificate_authorities")
	}
	return nil
}

// validateTrust builds and loads (once) the route's TLS material: CAs,
// truststore, pinned fingerprints, client certificate or keystore,
// verification mode, protocols and cipher suites.
func (r *Route) validateTrust() error {
	if r.SSLKeystorePath != "" && (r.SSLCertificate != "" || r.SSLKey != "") {
		return errors.New("ssl_keystore_path cannot be combined with ssl_certificate/ssl_key: use one of them")
	}
	if r.SSLTruststorePath != "" && len(r.SSLCertificateAuthorities) > 0 {
		return errors.New("ssl_truststore_path cannot be combined with ssl_certificate_authorities: use one of them")
	}
	opts := certs.Options{CAFiles: r.SSLCertificateAuthorities, ServerName: r.SSLServerName,
		CertFile: r.SSLCertificate, KeyFile: r.SSLKey, KeyPassphrase: r.SSLKeyPassphrase,
		KeystorePath: r.SSLKeystorePath, KeystorePassword: r.SSLKeystorePassword,
		TruststorePath: r.SSLTruststorePath, TruststorePassword: r.SSLTruststorePassword}
	if r.SSLKeystorePath != "" {
		t, err := certs.StoreType(r.SSLKeystorePath, r.SSLKeystoreType)
		if err != nil {
			return fmt.Errorf("ssl_keystore_type: %w", err)
		}
		opts.KeystoreType = t
	}
	if r.SSLTruststorePath != "" {
		t, err := certs.StoreType(r.SSLTruststorePath, r.SSLTruststoreType)
		if err != nil {
			return fmt.Errorf("ssl_truststore_type: %w", err)
		}
		opts.TruststoreType = t
	}
	if r.SSLKeyPassphrase != "" && r.SSLKey == "" {
		return errors.New("ssl_key_passphrase: set only with ssl_key")
	}
	for _, f := range r.CATrustedFingerprint {
		for _, s := range splitList(f) {
			fp, err := certs.ParseFingerprint(s)
			if err != nil {
				return fmt.Errorf("ca_trusted_fingerprint: %w", err)
			}
			opts.Fingerprints = append(opts.Fingerprints, fp)
		}
	}
	switch strings.ToLower(r.SSLVerificationMode) {
	case "", "full":
		opts.Mode = certs.VerifyFull
	case "certificate":
		opts.Mode = certs.VerifyCertificate
	case "none":
		opts.Mode = certs.VerifyNone
	default:
		return fmt.Errorf("ssl_verification_mode: want full, certificate or none, got %q", r.SSLVerificationMode)
	}
	if len(r.SSLSupportedProtocols) > 0 {
		min, max, err := certs.ParseProtocols(r.SSLSupportedProtocols)
		if err != nil {
			return fmt.Errorf("ssl_supported_protocols: %w", err)
		}
		opts.MinVersion, opts.MaxVersion = min, max
	}
	if len(r.SSLCipherSuites) > 0 {
		cs, err := certs.ParseCipherSuites(r.SSLCipherSuites)
		if err != nil {
			return fmt.Errorf("ssl_cipher_suites: %w", err)
		}
		opts.CipherSuites = cs
	}
	if _, err := certs.Load(opts); err != nil {
		key := "ssl_certificate_authorities"
		switch {
		case strings.Contains(err.Error(), "truststore"):
			key = "ssl_truststore_path"
		case r.SSLKeystorePath != "" && strings.Contains(err.Error(), "client certificate"):
			key = "ssl_keystore_path"
		case strings.Contains(err.Error(), "client certificate"):
			key = "ssl_certificate/ssl_key"
		}
		return fmt.Errorf("%s: %w", key, err)
	}
	r.tls = opts
	return nil
}

// validateManagedKey checks api_key_management's settings.
func (r *Route) validateManagedKey() error {
	if !r.APIKeyManagement && (r.APIKeyName != "" || r.APIKeyExpiration != "" || r.APIKeyRenewAfter != 0 || r.APIKeyInvalidateDelay != 0) {
		return errors.New("api_key_name, api_key_expiration, api_key_renew_after and api_key_invalidate_delay need api_key_management: true")
	}
	if r.APIKeyRenewAfter < 0 || r.APIKeyRenewAfter >= 1 {
		return fmt.Errorf("api_key_renew_after: want a fraction between 0 and 1, got %g", r.APIKeyRenewAfter)
	}
	return nil
}

// validateCustomHeaders refuses custom_headers esgate must set itself,
// and names or values that would break the request.
func (r *Route) validateCustomHeaders() error {
	for k, v := range r.CustomHeaders {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return fmt.Errorf("custom_headers: %s cannot be set here", k)
		}
		if !validHeaderName(k) {
			return fmt.Errorf("custom_headers: %q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)", k)
		}
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return fmt.Errorf("custom_headers: the value of %s holds a control character (such as a line break)", k)
			}
		}
	}
	return nil
}

// validHeaderName reports whether k is an RFC 9110 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

// ParseHost parses one hosts entry: an https URL, or host[:port] meaning
// https. The default port is 9200, as in Logstash. A path prefix is kept.
func ParseHost(h string) (*url.URL, error) {
	s := strings.TrimSpace(h)
	if s == "" {
		return nil, errors.New("empty host")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + strings.TrimPrefix(s, "//")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole input, which may hold credentials.
		return nil, fmt.Errorf("%q is not a URL", redactHost(h))
	}
	// Every message below quotes the host with any user:password hidden.
	shown := u.Redacted()
	if u.User != nil {
		return nil, fmt.Errorf("host %q: credentials in the URL are not allowed; use user/password or api_key", shown)
	}
	switch u.Scheme {
	case "https":
	case "http":
		return nil, fmt.Errorf("%q: esgate forwards over HTTPS only; use https://", shown)
	default:
		return nil, fmt.Errorf("%q: unsupported scheme %q; use https://", shown, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: missing host name", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: a query or fragment is not allowed in hosts", shown)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "9200")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}

// redactHost hides what lies between "://" and the last "@" of an
// unparseable host string.
func redactHost(h string) string {
	start := strings.Index(h, "://")
	at := strings.LastIndex(h, "@")
	if start < 0 || at < start {
		return h
	}
	return h[:start+3] + "xxxxx" + h[at:]
}

// checkListen refuses addresses reachable from other machines unless unsafe.
func checkListen(addr string, unsafe bool) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return errors.New("unix: needs a socket path")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port or unix:/path, got %q", addr)
	}
	if port == "" {
		return fmt.Errorf("missing port in %q", addr)
	}
	if unsafe {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address and whoever connects gets the cluster credentials: listen on 127.0.0.1 or unix:/path; or serve TLS (listen_ssl_certificate, listen_ssl_key) and authenticate clients (listen_ssl_client_ca, client_basic_users or client_bearer_tokens); or, knowing the risk, set unsafe_listen: true", addr)
}
