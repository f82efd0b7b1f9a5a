package configs

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/pki"
)

// fixture writes a CA file and returns its path.
func fixture(t *testing.T) string {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// loadArgs parses flags like the command does, then loads and validates.
func loadArgs(args []string, lookup func(string) (string, bool)) (*Config, error) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg, err := Load(fl, lookup)
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func TestValidRoutesFile(t *testing.T) {
	ca := fixture(t)
	cfg, err := loadArgs([]string{"--config", "testdata/valid-routes.yaml", "--timeout", "30s"},
		env(map[string]string{"CA_FILE": ca, "PUBLISH_KEY": "myid:mysecret"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 {
		t.Fatalf("%d routes", len(cfg.Routes))
	}
	prod, mon := cfg.Routes[0], cfg.Routes[1]
	if g, e := prod.Upstreams()[1].String(), "https://es02:9243/prefix"; g != e {
		t.Errorf("host %q; expected %q", g, e)
	}
	if g, e := prod.Upstreams()[0].String(), "https://es01:9200"; g != e {
		t.Errorf("host %q; expected %q", g, e)
	}
	if g, e := mon.Upstreams()[0].String(), "https://cec36f.eu-west-1.aws.found.io:443"; g != e {
		t.Errorf("cloud host %q; expected %q", g, e)
	}
	if prod.AuthKind() != "api_key" || mon.AuthKind() != "basic" || mon.Password != "changeme" {
		t.Errorf("auth %s %s %q", prod.AuthKind(), mon.AuthKind(), mon.Password)
	}
	// The flag overrides the file's timeout: 90 (seconds) for every route.
	if prod.Timeout.D() != 30*time.Second || mon.Timeout.D() != 30*time.Second {
		t.Errorf("timeouts %s %s", prod.Timeout, mon.Timeout)
	}
	// Inherited from the top level.
	if len(mon.SSLCertificateAuthorities) != 1 || mon.SSLCertificateAuthorities[0] != ca {
		t.Errorf("inherited CAs %v", mon.SSLCertificateAuthorities)
	}
	if mon.CustomHeaders["X-Opaque-Id"] != "logstash-monitoring" || prod.CustomHeaders != nil {
		t.Errorf("custom headers %v %v", mon.CustomHeaders, prod.CustomHeaders)
	}
	if prod.ConnectTimeout.D() != DefaultConnectTimeout || prod.PoolMaxPerRoute != 100 {
		t.Errorf("defaults not applied: %v %d", prod.ConnectTimeout, prod.PoolMaxPerRoute)
	}
}

func TestFlagsOnly(t *testing.T) {
	ca := fixture(t)
	cfg, err := loadArgs([]string{"--hosts", "https://a:9200,https://b:9200", "--hosts", "c", "--api-key", "id:key",
		"--ssl-certificate-authorities", ca, "--ssl-verification-mode", "certificate", "--unsafe-listen", "--listen", "0.0.0.0:9200"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if g, e := upstreams(&r), "https://a:9200 https://b:9200 https://c:9200"; g != e {
		t.Errorf("hosts %q; expected %q", g, e)
	}
	if r.Name != "0.0.0.0:9200" || r.TLSOptions().Mode != "certificate" {
		t.Errorf("name %q mode %q", r.Name, r.TLSOptions().Mode)
	}
}

// badConfigs pairs a config (file text, or flags after "--") with the exact error.
var badConfigs = []struct {
	name string
	yaml string
	args []string
	want string
}{
	{"no hosts", "api_key: a:b\n", nil, "hosts: required (or cloud_id): the Elasticsearch URLs to forward to, e.g. https://es01:9200"},
	{"unknown key", "hosts: https://x\napi-key: a:b\n", nil, `config file CFG: line 2: unknown key "api-key" (did you mean "api_key"?)`},
	{"typo", "hosts: https://x\nssl_certificate_authority: /x\n", nil, `config file CFG: line 2: unknown key "ssl_certificate_authority" (did you mean "ssl_certificate_authorities"?)`},
	{"two auth methods", "hosts: https://x\napi_key: a:b\nuser: u\npassword: p\n", nil, "multiple authentication options are specified (user/password, api_key): set exactly one (a client certificate may be added to any of them)"},
	{"pki and two header methods", "", []string{"--hosts", "https://x", "--api-key", "a:b", "--bearer-token", "t", "--ssl-certificate", "c", "--ssl-key", "k"}, "multiple authentication options are specified (api_key, bearer_token): set exactly one (a client certificate may be added to any of them)"},
	{"no credentials", "hosts: https://x\n", nil, "no credentials: set one of user+password, cloud_auth, api_key, bearer_token, oauth2_token_url, ssl_certificate+ssl_key, or ssl_keystore_path"},
	{"cloud_id with hosts", "hosts: https://x\ncloud_id: a:Yg==\napi_key: a:b\n", nil, "cloud_id and hosts are mutually exclusive: cloud_id already names the cluster"},
	{"bad cloud_id", "cloud_id: 'x:!!!'\napi_key: a:b\n", nil, "cloud_id: the part after the label is not valid base64"},
	{"user without password", "hosts: https://x\nuser: u\n", nil, "password: required with user (or password_file)"},
	{"password without user", "hosts: https://x\npassword: p\n", nil, "user: required with password"},
	{"bad api key", "hosts: https://x\napi_key: 'not a key'\n", nil, `api_key: must be id:api_key, the base64 "encoded" value of the create API key response, or an essu_ Cloud key`},
	{"api key file missing", "hosts: https://x\napi_key_file: /nonexistent/key\n", nil, "api_key_file: open /nonexistent/key: no such file or directory"},
	{"http host", "hosts: http://x:9200\napi_key: a:b\n", nil, `hosts: "http://x:9200": esgate forwards over HTTPS only; use https://`},
	{"credentials in URL", "hosts: https://u:p@x:9200\napi_key: a:b\n", nil, `hosts: host "https://u:xxxxx@x:9200": credentials in the URL are not allowed; use user/password or api_key`},
	{"credentials in an http URL", "hosts: http://u:S3CRET@x:9200\napi_key: a:b\n", nil, `hosts: host "http://u:xxxxx@x:9200": credentials in the URL are not allowed; use user/password or api_key`},
	{"credentials in a bad URL", "hosts: 'https://u:S3CRET@x:%zz'\napi_key: a:b\n", nil, `hosts: "https://xxxxx@x:%zz" is not a URL`},
	{"non-loopback listen", "hosts: https://x\napi_key: a:b\nlisten: 0.0.0.0:9200\n", nil, "listen: 0.0.0.0:9200 is not a loopback address and whoever connects gets the cluster credentials: listen on 127.0.0.1 or unix:/path; or serve TLS (listen_ssl_certificate, listen_ssl_key) and authenticate clients (listen_ssl_client_ca, client_basic_users or client_bearer_tokens); or, knowing the risk, set unsafe_listen: true"},
	{"bad listen", "hosts: https://x\napi_key: a:b\nlisten: 9200\n", nil, `listen: want host:port or unix:/path, got "9200"`},
	{"bad verification mode", "hosts: https://x\napi_key: a:b\nssl_verification_mode: strict\n", nil, `ssl_verification_mode: want full, certificate or none, got "strict"`},
	{"bad fingerprint", "hosts: https://x\napi_key: a:b\nca_trusted_fingerprint: abc\n", nil, "ca_trusted_fingerprint: want 64 hex digits (SHA-256 of the CA certificate), got 3 characters"},
	{"missing CA file", "hosts: https://x\napi_key: a:b\nssl_certificate_authorities: /nonexistent/ca.pem\n", nil, "ssl_certificate_authorities: reading CA file: open /nonexistent/ca.pem: no such file or directory"},
	{"bad protocol", "hosts: https://x\napi_key: a:b\nssl_supported_protocols: [TLSv1.2, SSLv3]\n", nil, `ssl_supported_protocols: unknown protocol "SSLv3" (want TLSv1.1, TLSv1.2 or TLSv1.3)`},
	{"bad cipher", "hosts: https://x\napi_key: a:b\nssl_cipher_suites: [TLS_FOO]\n", nil, `ssl_cipher_suites: unknown cipher suite "TLS_FOO"`},
	{"bad duration", "hosts: https://x\napi_key: a:b\ntimeout: soon\n", nil, `config file CFG: line 3: timeout: want a duration like 30s or a number of seconds, got "soon"`},
	{"unset env", "hosts: https://x\napi_key: ${NOPE}\n", nil, "config file CFG: line 2: api_key: NOPE is neither in the keystore nor in the environment (write ${NOPE:default} to give a default)"},
	{"list for scalar", "hosts: https://x\napi_key: [a, b]\n", nil, "config file CFG: line 2: api_key: want a single value, not a list"},
	{"key only without cert", "hosts: https://x\nssl_key: k.pem\n", nil, "ssl_certificate and ssl_key: each needs the other"},
	{"authorization header", "hosts: https://x\napi_key: a:b\ncustom_headers:\n  Authorization: x\n", nil, "custom_headers: Authorization cannot be set here"},
	{"bad header name", "hosts: https://x\napi_key: a:b\ncustom_headers:\n  \"X Opaque\": x\n", nil, "custom_headers: \"X Opaque\" is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
	{"header value with a line break", "hosts: https://x\napi_key: a:b\ncustom_headers:\n  X-Opaque-Id: \"a\\r\\nHost: evil\"\n", nil, "custom_headers: the value of X-Opaque-Id holds a control character (such as a line break)"},
	{"routes: duplicate listen", "api_key: a:b\nhosts: https://x\nroutes:\n  - name: a\n  - name: b\n", nil, `route "b": listen: 127.0.0.1:9200 is already used by route "a"`},
	{"routes: error names route", "api_key: a:b\nroutes:\n  - name: prod\n    hosts: https://x\n    listen: 127.0.0.1:1\n  - name: mon\n    listen: 127.0.0.1:2\n", nil, `route "mon": hosts: required (or cloud_id): the Elasticsearch URLs to forward to, e.g. https://es01:9200`},
	{"routes: nested routes", "routes:\n  - routes: []\n", nil, `config file CFG: routes[0]: line 2: unknown key "routes" (routes is only allowed at the top level)`},
	{"routes and --listen", "routes:\n  - name: a\n", []string{"--listen", "127.0.0.1:1"}, "--listen: cannot be used when the config file defines routes; set listen in each route"},
	{"bad log level", "hosts: https://x\napi_key: a:b\nlog_level: loud\n", nil, `log_level: want debug, info, warn or error, got "loud"`},
	{"bad bool flag", "", []string{"--hosts", "https://x", "--api-key", "a:b", "--unsafe-listen=maybe"}, `--unsafe-listen: want true or false, got "maybe"`},
}

// TestClientCertWithHeader: a client certificate may accompany a header
// credential (mutual TLS required by the cluster, an API key to
// authenticate), as Logstash allows ssl_certificate beside api_key.
func TestClientCertWithHeader(t *testing.T) {
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("logstash", "ec", pki.Client())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := leaf.WriteFiles(crt, key, "pkcs8", ""); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadArgs([]string{"--hosts", "https://es:9200", "--api-key", "id:key",
		"--ssl-certificate", crt, "--ssl-key", key}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if o := r.TLSOptions(); r.AuthKind() != "api_key" || o.CertFile != crt || o.KeyFile != key {
		t.Errorf("auth %q, client cert %q %q", r.AuthKind(), o.CertFile, o.KeyFile)
	}
}

func TestLoadBadConfigs(t *testing.T) {
	for _, tt := range badConfigs {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			cfgPath := ""
			if tt.yaml != "" {
				cfgPath = filepath.Join(t.TempDir(), "esgate.yml")
				os.WriteFile(cfgPath, []byte(tt.yaml), 0o600)
				args = append(args, "--config", cfgPath)
			}
			args = append(args, tt.args...)
			_, err := loadArgs(args, env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			want := strings.ReplaceAll(tt.want, "CFG", cfgPath)
			if g := err.Error(); g != want {
				t.Errorf("got %q\n expected %q", g, want)
			}
		})
	}
}

// TestSecretsNotInErrors: a bad value that may be a secret is never echoed.
func TestSecretsNotInErrors(t *testing.T) {
	for _, yaml := range []string{
		"hosts: https://x\napi_key: 'SECRET-VALUE with space'\n",
		"hosts: https://x\ncloud_auth: SECRET-VALUE\n",
		"hosts: https://x\nbearer_token: 'SECRET-VALUE x'\n",
	} {
		p := filepath.Join(t.TempDir(), "c.yml")
		os.WriteFile(p, []byte(yaml), 0o600)
		_, err := loadArgs([]string{"--config", p}, env(nil))
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error %v", err)
		}
	}
}

var cloudIDs = []struct{ in, want, err string }{
	{"my-deployment:dXMtY2VudHJhbDEuZ2NwLmNsb3VkLmVzLmlvJGFiYzEyMyRkZWY0NTY=", "https://abc123.us-central1.gcp.cloud.es.io:443", ""},
	{"dXMtY2VudHJhbDEuZ2NwLmNsb3VkLmVzLmlvJGFiYzEyMyRkZWY0NTY=", "https://abc123.us-central1.gcp.cloud.es.io:443", ""},
	// host:port
	{"x:dXMtZWFzdC0xLmF3cy5mb3VuZC5pbzo5MjQzJGFiYyRkZWY=", "https://abc.us-east-1.aws.found.io:9243", ""},
	// es_id:port wins
	{"x:dXMtZWFzdC0xLmF3cy5mb3VuZC5pbzo5MjQzJGFiYzo5NDQzJGRlZg==", "https://abc.us-east-1.aws.found.io:9443", ""},
	// URL-safe alphabet, no padding
	{"x:" + "aG9zdC5leGFtcGxlLmNvbSRlc19pZCRrYl9pZA", "https://es_id.host.example.com:443", ""},
	{"x:aG9zdA==", "", "after decoding it must have the form <host>$<elasticsearch id>$<kibana id>"},
	{"x:aG9zdDp4JGVz", "", `invalid port "x"`},
}

func TestParseCloudID(t *testing.T) {
	for _, tt := range cloudIDs {
		got, err := ParseCloudID(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: err %v; expected %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q %v; expected %q", tt.in, got, err, tt.want)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	lookup := env(map[string]string{"A": "x", "EMPTY": ""})
	for _, tt := range []struct{ in, want, err string }{
		{"${A}", "x", ""},
		{"pre-${A}-post ${A}", "pre-x-post x", ""},
		{"${B:def}", "def", ""},
		{"${B:}", "", ""},
		{"${EMPTY:def}", "", ""},
		{"${B:a:b}", "a:b", ""},
		{"$A ${A", "", "unterminated ${ in value"},
		{"${}", "", `invalid variable name "" in ${...}`},
		{"${1A}", "", `invalid variable name "1A" in ${...}`},
		{"no refs $HOME", "no refs $HOME", ""},
	} {
		got, err := ExpandEnv(tt.in, lookup)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: err %v; expected %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q %v; expected %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizesAndDurations(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "1024": 1024, "100mb": 100 << 20, "1gb": 1 << 30, "512 kb": 512 << 10} {
		if g, err := ParseByteSize(in); err != nil || g != want {
			t.Errorf("%q: %d %v", in, g, err)
		}
	}
	for in, want := range map[string]time.Duration{"60": time.Minute, "1.5": 1500 * time.Millisecond, "2m": 2 * time.Minute} {
		if g, err := ParseDuration(in); err != nil || g.D() != want {
			t.Errorf("%q: %v %v", in, g, err)
		}
	}
	if _, err := ParseDuration("-1"); err == nil {
		t.Error("negative accepted")
	}
	// Sizes that overflow int64 are refused, not wrapped around.
	for _, in := range []string{"9223372036854775807kb", "8589934592gb", "-1mb"} {
		if g, err := ParseByteSize(in); err == nil {
			t.Errorf("%q accepted as %d", in, g)
		}
	}
	if g, err := ParseByteSize("9223372036854775807"); err != nil || g != ByteSize(math.MaxInt64) {
		t.Errorf("largest size: %d %v", g, err)
	}
}

// Every key has a flag and help text, and the flag is the key with dashes.
func TestEveryKeyIsAFlag(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterFlags(fs)
	for _, k := range Keys() {
		if strings.HasPrefix(k[1], "deprecated:") {
			continue // Logstash's old names are file-only
		}
		f := fs.Lookup(strings.ReplaceAll(k[0], "_", "-"))
		if f == nil {
			t.Errorf("key %s has no flag", k[0])
		} else if f.Usage == "" {
			t.Errorf("flag %s has no help", f.Name)
		}
	}
}

func FuzzParseCloudID(f *testing.F) {
	for _, c := range cloudIDs {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseCloudID(s)
		if err != nil {
			return
		}
		hu, err := ParseHost(u)
		if err != nil {
			t.Fatalf("ParseCloudID(%q) = %q, which is not a valid host: %v", s, u, err)
		}
		if hu.Scheme != "https" || hu.Port() == "" || hu.Path != "" {
			t.Fatalf("ParseCloudID(%q) = %q", s, u)
		}
	})
}

func FuzzExpandEnv(f *testing.F) {
	for _, s := range []string{"${A}", "${A:b}", "x${", "${B:${A}}", "$${A}", "}${A}{"} {
		f.Add(s)
	}
	lookup := env(map[string]string{"A": "val"})
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ExpandEnv(s, lookup)
		if err != nil {
			return
		}
		if !strings.Contains(s, "${") && out != s {
			t.Fatalf("ExpandEnv(%q) changed a string without references to %q", s, out)
		}
		// Expansion is a single pass: expanding the output of a value
		// without references is the identity.
		if !strings.Contains(out, "${") {
			again, err := ExpandEnv(out, lookup)
			if err != nil || again != out {
				t.Fatalf("second pass changed %q to %q (%v)", out, again, err)
			}
		}
	})
}

// TestFlagReferencesStayReferences: a ${VAR} in a flag is expanded anew on
// every Load, so a reload after a keystore or environment change uses the
// new secret (it used to be expanded once and written back).
func TestFlagReferencesStayReferences(t *testing.T) {
	ca := fixture(t)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	if err := fs.Parse([]string{"--hosts", "https://a:9200", "--api-key", "${KEY}", "--ssl-certificate-authorities", ca}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id:first", "id:second"} {
		cfg, err := Load(fl, env(map[string]string{"KEY": key}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Routes[0].APIKey != key {
			t.Errorf("api_key %q after the secret became %q", cfg.Routes[0].APIKey, key)
		}
	}
}

// TestLogstashOutputBlock: an elasticsearch { … } block copied from a
// Logstash pipeline loads: connection settings are honoured under their
// Logstash names (old ones with a deprecation), settings that belong to
// the client are accepted and listed, never a startup error.
func TestLogstashOutputBlock(t *testing.T) {
	ca := fixture(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "esgate.yml")
	os.WriteFile(file, []byte(`hosts: ["es01:9200", "https://es02"]
ssl_certificate_authorities: [`+ca+`]
ssl: true
ssl_certificate_verification: false
path: /es/
healthcheck_path: _cluster/health
api_key: id:key
index: "logstash-%{+YYYY.MM.dd}"
ilm_enabled: false
manage_template: false
sniffing: true
retry_max_interval: 64
data_stream: "false"
pipeline: "%{[@metadata][pipeline]}"
document_id: "%{[@metadata][id]}"
action: create
compression_level: 1
`), 0o600)
	cfg, err := loadArgs([]string{"--config", file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if g, e := upstreams(&r), "https://es01:9200/es https://es02:9200/es"; g != e {
		t.Errorf("hosts %q; expected %q", g, e)
	}
	if r.SSLVerificationMode != "none" || r.HealthcheckPath != "/_cluster/health" {
		t.Errorf("ssl_verification_mode %q, healthcheck_path %q", r.SSLVerificationMode, r.HealthcheckPath)
	}
	if g, e := strings.Join(r.Deprecations(), "; "), "ssl is deprecated: use ssl_enabled; ssl_certificate_verification is deprecated: use ssl_verification_mode"; g != e {
		t.Errorf("deprecations %q", g)
	}
	if g, e := strings.Join(r.ClientSettings(), " "), "index ilm_enabled manage_template sniffing retry_max_interval data_stream pipeline document_id action"; g != e {
		t.Errorf("client settings %q; expected %q", g, e)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"ssl_enabled: false", "ssl_enabled: false: esgate forwards over TLS only"},
		{"path: /x\nroutes:\n  - hosts: [https://es03:9200/y]", "path: es03:9200 already has the path"},
		{"indexx: foo", `unknown key "indexx" (did you mean "index"?)`},
	} {
		os.WriteFile(file, []byte("hosts: [https://es01:9200]\napi_key: id:key\nssl_certificate_authorities: ["+ca+"]\n"+bad.yaml+"\n"), 0o600)
		if _, err := loadArgs([]string{"--config", file}, env(nil)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v; expected %q", bad.yaml, err, bad.want)
		}
	}
}

// TestFrontDoorListen: a non-loopback listener is allowed without
// unsafe_listen once it serves TLS and authenticates its clients.
func TestFrontDoorListen(t *testing.T) {
	ca := fixture(t)
	base := []string{"--hosts", "https://a:9200", "--api-key", "id:key", "--ssl-certificate-authorities", ca, "--listen", "0.0.0.0:9200"}
	if _, err := loadArgs(append(base, "--listen-ssl-certificate", ca), env(nil)); err == nil {
		t.Error("TLS without client authentication was accepted on 0.0.0.0")
	}
	// The fixture is a certificate without its key: loading it fails,
	// naming the key; the listen check itself passed.
	_, err := loadArgs(append(base, "--listen-ssl-certificate", ca, "--listen-ssl-key", ca, "--client-bearer-tokens", "bob:"+strings.Repeat("ab", 32)), env(nil))
	if err == nil || !strings.HasPrefix(err.Error(), "listen_ssl_certificate:") {
		t.Errorf("%v; expected the listen check to pass and the key pair to be loaded", err)
	}
}

// TestValidateIdempotent: validating a validated config changes nothing
// and succeeds (derived state is recomputed, not appended to), also with
// Logstash's old names.
func TestValidateIdempotent(t *testing.T) {
	ca := fixture(t)
	file := filepath.Join(t.TempDir(), "esgate.yml")
	os.WriteFile(file, []byte(`hosts: ["es01:9200", "https://es02"]
cacert: [`+ca+`]
ssl: true
ssl_certificate_verification: false
path: /es
api_key: id:key
policy_rules: ["deny DELETE /**"]
`), 0o600)
	cfg, err := loadArgs([]string{"--config", file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func(r Route) string {
		u := r.upstreams
		r.upstreams = nil
		s := fmt.Sprintf("%+v", r)
		for _, x := range u {
			s += " " + x.String()
		}
		return s
	}
	before := snapshot(cfg.Routes[0])
	if err := cfg.Validate(); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
	if after := snapshot(cfg.Routes[0]); after != before {
		t.Errorf("a second Validate changed the route:\n%s\n%s", before, after)
	}
}

// TestFingerprintList: ca_trusted_fingerprint takes a list (old and new CA
// during a change), as YAML, comma-separated, or repeated flags.
func TestFingerprintList(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	file := filepath.Join(t.TempDir(), "esgate.yml")
	os.WriteFile(file, []byte("hosts: [https://es:9200]\napi_key: id:key\nca_trusted_fingerprint: ["+a+", \""+b+"\"]\n"), 0o600)
	for _, args := range [][]string{{"--config", file}, {"--hosts", "https://es:9200", "--api-key", "id:key", "--ca-trusted-fingerprint", a + "," + b}} {
		cfg, err := loadArgs(args, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(cfg.Routes[0].TLSOptions().Fingerprints); n != 2 {
			t.Errorf("%v: %d fingerprints", args, n)
		}
	}
}

// upstreams lists a route's validated hosts, space-separated.
func upstreams(r *Route) string {
	var hosts []string
	for _, u := range r.Upstreams() {
		hosts = append(hosts, u.String())
	}
	return strings.Join(hosts, " ")
}
