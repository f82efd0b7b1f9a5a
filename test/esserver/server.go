package esserver

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esgate/esgate/test/pki"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Addr to listen on (default 127.0.0.1:0).
	Addr string
	// Version reported by GET / (default 8.15.3). Its major selects the
	// behaviour, not just the number: 8.x accepts compatible-with 7 and 8
	// (7 routes typed URLs and _type in bulk lines, as REST API
	// compatibility does); 9.x accepts 8 and 9, answers GET / with the
	// 9.x shape (Lucene 10, minimum wire compatibility 8.18.0 for 9.0 and
	// 8.19.0 for 9.1 and later, minimum index compatibility 8.0.0) and
	// marks legacy _template writes deprecated. Below 8.15 the Basic
	// WWW-Authenticate challenge has no comma.
	Version string
	// ClusterName (default "esgate-test").
	ClusterName string
	// NodeName (default "es01").
	NodeName string
	// ElasticPassword is the password of the built-in superuser "elastic"
	// (default "changeme").
	ElasticPassword string
	// CA signs the node certificate; generated when nil, as ES 8 does.
	CA *pki.CA
	// Names on the node certificate (default localhost, 127.0.0.1, ::1).
	Names []string
	// ProductHeaderOn401 also sends X-elastic-product on 401 answers,
	// which ES does not do for unauthenticated requests (default false).
	ProductHeaderOn401 bool
	// RequireClientCert refuses TLS clients without a certificate from the
	// CA, as xpack.security.http.ssl.client_authentication: required does
	// (default false: optional, which is ES's default when PKI is set up).
	RequireClientCert bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// JWTRealms are xpack.security.authc.realms.jwt.* realms (jwtrealm.go;
	// default none). A bad setting or a JWKS that does not load fails Start.
	JWTRealms []JWTRealm
	// PasswordHashing is xpack.security.authc.password_hashing.algorithm:
	// "bcrypt" (ES's default, cost 10) or "bcrypt4" to "bcrypt14". ES also
	// takes the pbkdf2 family; this server does not (a choice: nothing a
	// client sees depends on the hash). Default "bcrypt"; StartT's
	// default is "bcrypt4".
	PasswordHashing string
}

// bcryptCost parses a bcrypt password_hashing.algorithm.
func bcryptCost(algorithm string) (int, error) {
	if algorithm == "" || algorithm == "bcrypt" {
		return 10, nil
	}
	for n := 4; n <= 14; n++ {
		if algorithm == "bcrypt"+strconv.Itoa(n) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("password hashing %q: this test server takes bcrypt or bcrypt4 to bcrypt14", algorithm)
}

// Server is an in-memory, Elasticsearch 8-compatible HTTPS server.
type Server struct {
	// URL is https://127.0.0.1:port.
	URL string
	// CA signed the node certificate and is trusted for PKI client certs.
	CA *pki.CA

	opts     Options
	ln       net.Listener
	srv      *http.Server
	tlsCfg   *tls.Config
	clusterU string

	mu        sync.Mutex
	users     map[string]*user
	roles     map[string]Role
	pkiRoles  map[string][]string
	apiKeys   map[string]*apiKey
	tokens    map[string]*serviceToken
	authCache map[[32]byte]string
	indices   map[string]*index
	aliases   map[string]*alias
	templates map[string]json.RawMessage
	// legacyTemplates are /_template's.
	legacyTemplates map[string]json.RawMessage
	policies        map[string]json.RawMessage
	faults          []*Fault
	hook            func(*http.Request)
	// monitoringDocs counts what _monitoring/bulk received.
	monitoringDocs int

	cert atomic.Pointer[tls.Certificate] // presented to new connections

	stats struct {
		requests, bulkRequests, docs, unauthorized, forbidden, conns atomic.Int64
	}

	jwt jwtState // JWT realms and role mappings (jwtrealm.go)

	bcryptCost int // of Options.PasswordHashing
}

// Start generates the PKI (unless given) and serves on opts.Addr.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Version == "" {
		opts.Version = "8.15.3"
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "esgate-test"
	}
	if opts.NodeName == "" {
		opts.NodeName = "es01"
	}
	if opts.ElasticPassword == "" {
		opts.ElasticPassword = "changeme"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, CA: opts.CA,
		users: map[string]*user{}, roles: map[string]Role{}, pkiRoles: map[string][]string{},
		apiKeys: map[string]*apiKey{}, tokens: map[string]*serviceToken{}, authCache: map[[32]byte]string{},
		indices: map[string]*index{}, aliases: map[string]*alias{}, templates: map[string]json.RawMessage{}, legacyTemplates: map[string]json.RawMessage{}, policies: map[string]json.RawMessage{},
		clusterU: randomID(22),
	}
	cost, err := bcryptCost(opts.PasswordHashing)
	if err != nil {
		return nil, err
	}
	s.bcryptCost = cost
	if err := s.startJWT(); err != nil {
		return nil, err
	}
	if s.CA == nil {
		ca, err := pki.NewCA("Elasticsearch security auto-configuration HTTP CA")
		if err != nil {
			return nil, err
		}
		s.CA = ca
	}
	var names []pki.Option
	if len(opts.Names) > 0 {
		names = append(names, pki.WithNames(opts.Names...))
	}
	leaf, err := s.CA.Issue(opts.NodeName, "ec", names...)
	if err != nil {
		return nil, err
	}
	s.AddUser("elastic", opts.ElasticPassword, "superuser")
	s.users["elastic"].reserved = true
	s.users["logstash_system"] = &user{name: "logstash_system", roles: []string{"logstash_system"}, enabled: true, reserved: true}

	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(s.CA.Cert)
	tc := leaf.TLSCertificate()
	s.cert.Store(&tc)
	clientAuth := tls.VerifyClientCertIfGiven
	if opts.RequireClientCert {
		clientAuth = tls.RequireAndVerifyClientCert
	}
	s.tlsCfg = &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
		ClientAuth:     clientAuth,
		ClientCAs:      clientCAs,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.URL = "https://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         s.tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          nullLogger(),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.stats.conns.Add(1)
			}
		},
	}
	go s.srv.ServeTLS(ln, "", "")
	return s, nil
}

// RotateCertificate makes new connections see a node certificate signed by
// ca (with the same names), as when a cluster's CA is replaced. Client
// certificates from the original CA stay trusted.
func (s *Server) RotateCertificate(ca *pki.CA) error {
	var names []pki.Option
	if len(s.opts.Names) > 0 {
		names = append(names, pki.WithNames(s.opts.Names...))
	}
	leaf, err := ca.Issue(s.opts.NodeName, "ec", names...)
	if err != nil {
		return err
	}
	tc := leaf.TLSCertificate()
	s.cert.Store(&tc)
	return nil
}

// Close stops the server at once.
func (s *Server) Close() { s.srv.Close() }

// Addr is the host:port served.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CAFingerprint is the hex SHA-256 of the CA certificate, as ES 8 prints it.
func (s *Server) CAFingerprint() string { return s.CA.Fingerprint() }

// WriteCA writes the CA certificate PEM to path.
func (s *Server) WriteCA(path string) error { return os.WriteFile(path, s.CA.CertPEM(), 0o644) }

// OnRequest sets a hook called with every request before it is handled.
func (s *Server) OnRequest(f func(*http.Request)) {
	s.mu.Lock()
	s.hook = f
	s.mu.Unlock()
}

// Stats are the server's counters.
type Stats struct {
	Requests, BulkRequests, Docs, Unauthorized, Forbidden, Connections int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{s.stats.requests.Load(), s.stats.bulkRequests.Load(), s.stats.docs.Load(),
		s.stats.unauthorized.Load(), s.stats.forbidden.Load(), s.stats.conns.Load()}
}

func (s *Server) now() time.Time { return s.opts.Now() }

// major is the reported version's major: 8 or 9 select behaviour.
func (s *Server) major() int {
	ma, _ := strconv.Atoi(strings.SplitN(s.opts.Version, ".", 2)[0])
	return ma
}

// compatRange is the REST API versions the server accepts: its major and
// the one before (RestApiVersion current and minimumSupported).
func (s *Server) compatRange() (current, previous int) {
	if s.major() >= 9 {
		return 9, 8
	}
	return 8, 7
}

// deprecation adds a Warning header as ES's deprecation logger does:
// 299, the product and version with the build hash, the quoted text.
func (s *Server) deprecation(w http.ResponseWriter, text string) {
	w.Header().Add("Warning", fmt.Sprintf("299 Elasticsearch-%s-%s \"%s\"", s.opts.Version, s.buildHash()[:7], text))
}

func (s *Server) versionBefore(major, minor int) bool {
	parts := strings.SplitN(s.opts.Version, ".", 3)
	ma, _ := strconv.Atoi(parts[0])
	mi := 0
	if len(parts) > 1 {
		mi, _ = strconv.Atoi(parts[1])
	}
	return ma < major || (ma == major && mi < minor)
}

// writeJSON writes v with the ES headers, applying filter_path.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any, product bool) {
	if fp := r.URL.Query().Get("filter_path"); fp != "" {
		v = filterPath(v, fp)
	}
	var body []byte
	if r.URL.Query().Has("pretty") {
		body, _ = json.MarshalIndent(v, "", "  ")
		body = append(body, '\n')
	} else {
		body, _ = json.Marshal(v)
	}
	h := w.Header()
	if product {
		h.Set("X-elastic-product", "Elasticsearch")
	}
	h.Set("content-type", responseType(r))
	h.Set("content-length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// responseType echoes a compatible-with vendor type in Accept, else JSON.
func responseType(r *http.Request) string {
	if a := r.Header.Get("Accept"); strings.Contains(a, "vnd.elasticsearch+json") {
		if v := compatVersion(a); v != "" {
			return "application/vnd.elasticsearch+json;compatible-with=" + v
		}
	}
	return "application/json"
}

// writeSimpleError is RestResponse.createSimpleErrorResponse: {"error":"…","status":N}.
func (s *Server) writeSimpleError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.writeJSON(w, r, status, obj{{"error", msg}, {"status", status}}, true)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, typ, reason string, extra ...kv) {
	s.writeJSON(w, r, status, errorBody(status, typ, reason, extra...), true)
}

func compatVersion(v string) string {
	i := strings.Index(v, "compatible-with=")
	if i < 0 {
		return ""
	}
	rest := v[i+len("compatible-with="):]
	end := strings.IndexAny(rest, ";, ")
	if end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// checkHeaders applies RestController's Content-Type and compatibility
// rules (facts A2). It returns the requested compatible version ("" for
// none) and false when it has answered.
// checkCompat applies RestCompatibleVersionHelper's rules to Accept and,
// with a body, Content-Type. It returns the Accept's compatible version
// and false when it has answered.
func (s *Server) checkCompat(w http.ResponseWriter, r *http.Request, hasBody bool) (string, bool) {
	accept := r.Header.Get("Accept")
	ct := r.Header.Get("Content-Type")
	av := compatVersion(accept)
	cv := ""
	if hasBody {
		cv = compatVersion(ct)
	}
	cur, prev := s.compatRange()
	inRange := func(v string) bool { return v == "" || v == strconv.Itoa(cur) || v == strconv.Itoa(prev) }
	if !inRange(av) {
		s.writeError(w, r, 400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
			kv{"caused_by", causeObj("status_exception", fmt.Sprintf("Accept version must be either version %d or %d, but found %s. Accept=%s", cur, prev, av, accept))})
		return "", false
	}
	if !inRange(cv) {
		s.writeError(w, r, 400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
			kv{"caused_by", causeObj("status_exception", fmt.Sprintf("Content-Type version must be either version %d or %d, but found %s. Content-Type=%s", cur, prev, cv, ct))})
		return "", false
	}
	if hasBody && (av != "") != (cv != "") && accept != "" && !strings.Contains(accept, "*/*") {
		s.writeError(w, r, 400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
			kv{"caused_by", causeObj("status_exception", fmt.Sprintf("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version. Accept=%s, Content-Type=%s", accept, ct))})
		return "", false
	}
	if hasBody && av != "" && cv != "" && av != cv {
		s.writeError(w, r, 400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
			kv{"caused_by", causeObj("status_exception", fmt.Sprintf("Content-Type and Accept headers have to match when content is present. Accept=%s Content-Type=%s", accept, ct))})
		return "", false
	}
	return av, true
}

func (s *Server) checkHeaders(w http.ResponseWriter, r *http.Request, hasBody, bulk bool) (string, bool) {
	av, ok := s.checkCompat(w, r, hasBody)
	if !ok {
		return "", false
	}
	ct := r.Header.Get("Content-Type")
	cv := ""
	if hasBody {
		cv = compatVersion(ct)
	}
	if !hasBody {
		return av, true
	}
	if ct == "" {
		s.writeSimpleError(w, r, 406, "Content-Type header is missing")
		return "", false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		s.writeSimpleError(w, r, 406, "Content-Type header ["+ct+"] is not supported")
		return "", false
	}
	switch mt {
	case "application/json", "application/x-ndjson", "application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson":
	case "application/smile", "application/cbor", "application/yaml":
		if bulk && mt != "application/smile" {
			s.writeSimpleError(w, r, 406, "Content-Type ["+mt+"] does not support stream parsing. Use JSON or SMILE instead")
			return "", false
		}
	default:
		s.writeSimpleError(w, r, 406, "Content-Type header ["+ct+"] is not supported")
		return "", false
	}
	if cv != "" {
		return cv, true
	}
	return av, true
}

// readBody returns the request body, gunzipped when Content-Encoding says so.
func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	switch strings.ToLower(r.Header.Get("Content-Encoding")) {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
	return io.ReadAll(rd)
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

// ServeHTTP authenticates, applies faults, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	// RestController reads the media types before any handler or the
	// security filter: a bad compatible-with is a 400 on every path.
	if _, ok := s.checkCompat(w, r, hasBody(r)); !ok {
		io.Copy(io.Discard, r.Body)
		return
	}
	p, fail := s.authenticate(r)
	if fail != nil {
		io.Copy(io.Discard, r.Body) // keep the connection usable, as ES does
		s.write401(w, r, fail)
		return
	}
	if s.applyFault(w, r) {
		return
	}
	s.route(w, r, p)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, p *principal) {
	// Split the escaped path so that %2F stays inside a segment (Logstash's
	// date-math index names are CGI-escaped).
	path := strings.Trim(r.URL.EscapedPath(), "/")
	seg := []string{}
	if path != "" {
		for _, p := range strings.Split(path, "/") {
			if u, err := url.PathUnescape(p); err == nil {
				p = u
			}
			seg = append(seg, p)
		}
	}
	if s.routeJWT(w, r, p, seg) {
		return
	}
	m := r.Method
	is := func(methods ...string) bool {
		for _, x := range methods {
			if m == x {
				return true
			}
		}
		return false
	}
	bad := func(allowed ...string) {
		s.writeSimpleError(w, r, 405, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", r.URL.RequestURI(), m, strings.Join(allowed, ", ")))
	}
	if s.routeShippers(w, r, p, seg) {
		return
	}
	switch {
	case len(seg) == 0:
		if !is("GET", "HEAD") {
			bad("GET", "HEAD")
			return
		}
		if s.requireCluster(w, r, p, "cluster:monitor/main") {
			s.root(w, r)
		}
	case seg[0] == "_xpack" && len(seg) == 1:
		if s.requireCluster(w, r, p, "cluster:monitor/xpack/info") {
			s.xpackInfo(w, r)
		}
	case seg[0] == "_monitoring" && len(seg) == 2 && seg[1] == "bulk":
		if !is("POST", "PUT") {
			bad("POST", "PUT")
			return
		}
		if s.requireCluster(w, r, p, "cluster:admin/xpack/monitoring/bulk") {
			s.monitoringBulk(w, r)
		}
	case seg[0] == "_logstash" && len(seg) >= 2 && seg[1] == "pipeline":
		if !is("GET") {
			bad("GET")
			return
		}
		if s.requireCluster(w, r, p, "cluster:admin/logstash/pipeline/get") {
			// No pipeline is stored: {} (404 when ids were asked for, as
			// ES answers an unknown id).
			status := 200
			if len(seg) == 3 || r.URL.Query().Get("id") != "" {
				status = 404
			}
			s.writeJSON(w, r, status, obj{}, true)
		}
	case seg[0] == "_license" && len(seg) == 1:
		if s.requireCluster(w, r, p, "cluster:monitor/xpack/license/get") {
			s.license(w, r)
		}
	case seg[0] == "_bulk" && len(seg) == 1, len(seg) == 2 && seg[1] == "_bulk":
		if !is("POST", "PUT") {
			bad("POST", "PUT")
			return
		}
		idx := ""
		if len(seg) == 2 {
			idx = seg[0]
		}
		s.bulk(w, r, p, idx, false)
	case len(seg) == 3 && seg[2] == "_bulk" && compatVersion(r.Header.Get("Accept")) == "7" && s.major() == 8:
		// /{index}/{type}/_bulk: routed only under REST API compatibility
		// with 7 (RestBulkAction's compat routes), with a deprecation.
		if !is("POST", "PUT") {
			bad("POST", "PUT")
			return
		}
		s.bulk(w, r, p, seg[0], true)
	case seg[len(seg)-1] == "_count" || seg[len(seg)-1] == "_search":
		if !is("GET", "POST") {
			bad("GET", "POST")
			return
		}
		target := "_all"
		if len(seg) == 2 {
			target = seg[0]
		}
		s.search(w, r, p, target, seg[len(seg)-1] == "_count")
	case len(seg) == 2 && seg[1] == "_refresh":
		s.writeJSON(w, r, 200, obj{{"_shards", obj{{"total", 2}, {"successful", 1}, {"failed", 0}}}}, true)
	case seg[0] == "_template" && len(seg) == 2:
		s.legacyTemplate(w, r, p, seg[1])
	case seg[0] == "_index_template" && len(seg) == 2:
		s.indexTemplate(w, r, p, seg[1])
	case seg[0] == "_ilm" && len(seg) == 3 && seg[1] == "policy":
		s.ilmPolicy(w, r, p, seg[2])
	case seg[0] == "_cluster" && len(seg) == 2 && seg[1] == "health":
		if s.requireCluster(w, r, p, "cluster:monitor/health") {
			s.clusterHealth(w, r)
		}
	case seg[0] == "_cat" && len(seg) == 2 && seg[1] == "health":
		if s.requireCluster(w, r, p, "cluster:monitor/health") {
			w.Header().Set("X-elastic-product", "Elasticsearch")
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			fmt.Fprintf(w, "%d %s %s green 1 1 0 0 0 0 0 0 - 100.0%%\n", s.now().Unix(), s.now().UTC().Format("15:04:05"), s.opts.ClusterName)
		}
	case seg[0] == "_nodes" && (len(seg) == 2 && seg[1] == "http" || len(seg) == 3 && seg[1] == "_all" && seg[2] == "http"):
		if s.requireCluster(w, r, p, "cluster:monitor/nodes/info") {
			s.nodesHTTP(w, r)
		}
	case seg[0] == "_security":
		s.security(w, r, p, seg[1:])
	case len(seg) == 1 && !strings.HasPrefix(seg[0], "_") && is("HEAD", "GET"):
		s.indexExists(w, r, p, seg[0])
	case len(seg) == 1 && !strings.HasPrefix(seg[0], "_") && is("PUT"):
		s.createIndex(w, r, p, seg[0])
	default:
		s.writeSimpleError(w, r, 400, fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.RequestURI(), m))
	}
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	lucene, wire, index := "9.11.1", "7.17.0", "7.0.0"
	if s.major() >= 9 {
		// Real 9.x answers (shared/docs/elasticsearch9-logstash9.md §2.2).
		lucene, wire, index = "10.3.1", "8.19.0", "8.0.0"
		switch {
		case s.versionBefore(9, 1):
			lucene, wire = "10.1.0", "8.18.0"
		case s.versionBefore(9, 2):
			lucene = "10.2.2"
		}
	}
	s.writeJSON(w, r, 200, obj{
		{"name", s.opts.NodeName},
		{"cluster_name", s.opts.ClusterName},
		{"cluster_uuid", s.clusterU},
		{"version", obj{
			{"number", s.opts.Version},
			{"build_flavor", "default"},
			{"build_type", "docker"},
			{"build_hash", s.buildHash()},
			{"build_date", "2024-10-09T22:08:00.328917561Z"},
			{"build_snapshot", false},
			{"lucene_version", lucene},
			{"minimum_wire_compatibility_version", wire},
			{"minimum_index_compatibility_version", index},
		}},
		{"tagline", "You Know, for Search"},
	}, true)
}

// buildHash is the test server's own (not a real build's).
func (s *Server) buildHash() string { return "2b5fb8b3d2d5a3a7e2d2c0ef8a8a1e3f1f0e9d8c" }

func (s *Server) license(w http.ResponseWriter, r *http.Request) {
	issued := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	s.writeJSON(w, r, 200, obj{{"license", obj{
		{"status", "active"},
		{"uid", "6a1e4c2f-0b5e-4c8e-9f3a-2d7b8c9e0f11"},
		{"type", "basic"},
		{"issue_date", issued.Format("2006-01-02T15:04:05.000Z")},
		{"issue_date_in_millis", issued.UnixMilli()},
		{"max_nodes", 1000},
		{"max_resource_units", nil},
		{"issued_to", s.opts.ClusterName},
		{"issuer", "elasticsearch"},
		{"start_date_in_millis", -1},
	}}}, true)
}

// xpackInfo answers GET /_xpack (XPackInfoResponse: build, license,
// features), as Logstash's license reader asks it every 30 s.
func (s *Server) xpackInfo(w http.ResponseWriter, r *http.Request) {
	feature := obj{{"available", true}, {"enabled", true}}
	s.writeJSON(w, r, 200, obj{
		{"build", obj{{"hash", "5b8b981647acdf1ba1d88751646b49d1b461b4cc"}, {"date", "2024-11-06T14:57:41.512735055Z"}}},
		{"license", obj{{"uid", "6a1e4c2f-0b5e-4c8e-9f3a-2d7b8c9e0f11"}, {"type", "basic"}, {"mode", "basic"}, {"status", "active"}}},
		{"features", obj{{"monitoring", feature}, {"logstash", feature}, {"security", feature}, {"ilm", feature}}},
		{"tagline", "You know, for X"},
	}, true)
}

// monitoringBulk takes POST /_monitoring/bulk (Logstash's monitoring) and
// answers as MonitoringBulkResponse does: took, ignored, errors.
func (s *Server) monitoringBulk(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeSimpleError(w, r, 400, err.Error())
		return
	}
	s.mu.Lock()
	s.monitoringDocs += bytes.Count(body, []byte("\n")) / 2
	s.mu.Unlock()
	s.writeJSON(w, r, 200, obj{{"took", 1}, {"ignored", false}, {"errors", false}}, true)
}

// MonitoringDocs counts the documents received by _monitoring/bulk.
func (s *Server) MonitoringDocs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.monitoringDocs
}

func (s *Server) clusterHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.indices)
	s.mu.Unlock()
	s.writeJSON(w, r, 200, obj{
		{"cluster_name", s.opts.ClusterName}, {"status", "green"}, {"timed_out", false},
		{"number_of_nodes", 1}, {"number_of_data_nodes", 1},
		{"active_primary_shards", n}, {"active_shards", n}, {"relocating_shards", 0},
		{"initializing_shards", 0}, {"unassigned_shards", 0}, {"unassigned_primary_shards", 0},
		{"delayed_unassigned_shards", 0}, {"number_of_pending_tasks", 0}, {"number_of_in_flight_fetch", 0},
		{"task_max_waiting_in_queue_millis", 0}, {"active_shards_percent_as_number", 100.0},
	}, true)
}

func (s *Server) nodesHTTP(w http.ResponseWriter, r *http.Request) {
	addr := s.Addr()
	s.writeJSON(w, r, 200, obj{
		{"_nodes", obj{{"total", 1}, {"successful", 1}, {"failed", 0}}},
		{"cluster_name", s.opts.ClusterName},
		{"nodes", obj{{"n0d3Id0000000000000000", obj{
			{"name", s.opts.NodeName}, {"transport_address", "127.0.0.1:9300"}, {"host", "127.0.0.1"}, {"ip", "127.0.0.1"},
			{"version", s.opts.Version}, {"roles", []string{"data", "ingest", "master"}},
			{"http", obj{{"bound_address", []string{addr}}, {"publish_address", addr}, {"max_content_length_in_bytes", 104857600}}},
		}}}},
	}, true)
}

// decodeJSON reads a JSON body into v; on error it answers 400.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := readBody(r)
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		s.writeError(w, r, 400, "x_content_parse_exception", "[1:1] failed to parse request body: "+err.Error())
		return false
	}
	return true
}

var errBadTimeValue = errors.New("not a time value")
