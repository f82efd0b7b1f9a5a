package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/proxy/esproto"
)

// Metrics holds every esgate metric. Labels are bounded: route and host come
// from the configuration, endpoint from a fixed list, code from HTTP.
type Metrics struct {
	requests      *prometheus.CounterVec
	requestBytes  *prometheus.CounterVec
	responseBytes *prometheus.CounterVec
	inFlight      *prometheus.GaugeVec
	duration      *prometheus.HistogramVec
	ttfb          *prometheus.HistogramVec
	conns         *prometheus.CounterVec
	hostUp        *prometheus.GaugeVec
	tlsFailures   *prometheus.CounterVec
	poolWaits     *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	bulkEvents    *prometheus.CounterVec
	bulkItems     *prometheus.CounterVec
	esgateErrors  *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	clientReqs    *prometheus.CounterVec
	clientFails   *prometheus.CounterVec
	certExpiry    *prometheus.GaugeVec
	keyExpiry     *prometheus.GaugeVec
	keyMints      *prometheus.CounterVec
	keyInvalids   *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	lastReload    *prometheus.GaugeVec
	lastReloadOK  *prometheus.GaugeVec
	acceptErrors  *prometheus.CounterVec
	fdExhausted   *prometheus.CounterVec
	tokenExpiry   *prometheus.GaugeVec
	tokenRefresh  *prometheus.CounterVec
}

// New registers esgate's metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_requests_total",
			Help: "Requests answered, by route, method, endpoint class and status code."}, []string{"route", "method", "endpoint", "code"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_request_bytes_total",
			Help: "Request body bytes received from clients (as sent: gzip stays compressed)."}, []string{"route"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_response_bytes_total",
			Help: "Response body bytes sent to clients."}, []string{"route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_requests_in_flight",
			Help: "Requests being served."}, []string{"route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "esgate_request_duration_seconds",
			Help: "Time from the request's arrival to the end of the response.", Buckets: buckets}, []string{"route", "endpoint"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "esgate_upstream_response_seconds",
			Help: "Time from sending the request upstream to Elasticsearch's response headers.", Buckets: buckets}, []string{"route", "endpoint"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_upstream_connections_total",
			Help: "Upstream connections used, by whether they were new or reused from the keep-alive pool."}, []string{"route", "host", "state"}),
		hostUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_upstream_up",
			Help: "1 if the host is in rotation, 0 if marked dead."}, []string{"route", "host"}),
		poolWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_upstream_pool_waits_total",
			Help: "Requests that found every connection allowed (pool_max_per_route, pool_max) busy and had to wait."}, []string{"route", "host"}),
		tlsFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_upstream_tls_failures_total",
			Help: "TLS handshakes with Elasticsearch that failed, by reason."}, []string{"route", "host", "reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_upstream_auth_failures_total",
			Help: "401 and 403 answers from Elasticsearch, by status and reason."}, []string{"route", "code", "reason"}),
		bulkEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_bulk_events_total",
			Help: "Events sent in bulk requests, from Logstash's X-Elastic-Event-Count header."}, []string{"route"}),
		bulkItems: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_bulk_items_total",
			Help: "Bulk item outcomes read from responses, by status and error type (empty on success)."}, []string{"route", "status", "error_type"}),
		esgateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_errors_total",
			Help: "Requests esgate answered itself because it got no answer, by error type."}, []string{"route", "type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_policy_refusals_total",
			Help: "Requests the route's policy refused (403 esgate_policy_exception), by rule: method, upgrade, host, browser, credential_api."}, []string{"route", "rule"}),
		clientReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_client_requests_total",
			Help: "Requests of authenticated clients, by client identity (names from the configuration: bounded)."}, []string{"route", "client"}),
		clientFails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_client_auth_failures_total",
			Help: "Requests refused because the client did not authenticate: code 401, or 429 after too many failures from its address."}, []string{"route", "code"}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_cert_expiry_timestamp_seconds",
			Help: "NotAfter of the loaded certificates (kind ca or client), as a Unix time."}, []string{"route", "kind", "subject"}),
		keyMints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_api_key_mints_total",
			Help: "Managed API keys minted, by trigger: start, scheduled (renewal), refused key (Elasticsearch refused the key in force)."}, []string{"route", "trigger"}),
		keyInvalids: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_api_key_invalidations_total",
			Help: "Replaced managed API keys invalidated."}, []string{"route"}),
		keyExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_api_key_expiry_timestamp_seconds",
			Help: "Expiration of the managed API key in use, as a Unix time."}, []string{"route"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_reloads_total",
			Help: "Reloads of configuration and credential files, by result."}, []string{"route", "result"}),
		lastReload: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_last_reload_timestamp_seconds",
			Help: "Time of the last reload attempt, as a Unix time."}, []string{"route"}),
		lastReloadOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_last_reload_successful",
			Help: "1 if the last reload succeeded."}, []string{"route"}),
		acceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_accept_errors_total",
			Help: "Failed accepts on a route's listener, by reason (fd_limit: out of file descriptors)."}, []string{"route", "reason"}),
		fdExhausted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_listener_fd_exhaustions_total",
			Help: "Times a route's listener ran out of file descriptors (one per episode, each logged once)."}, []string{"route"}),
		tokenExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "esgate_token_expiry_timestamp_seconds",
			Help: "Expiry of the short-lived token in force (oauth2_token_url, a JWT in bearer_token_file), as a Unix time."}, []string{"route"}),
		tokenRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esgate_token_refreshes_total",
			Help: "Short-lived tokens obtained (result ok, the first one included) and failed attempts (result error)."}, []string{"route", "result"}),
	}
	reg.MustRegister(m.requests, m.requestBytes, m.responseBytes, m.inFlight, m.duration, m.ttfb, m.conns, m.hostUp,
		m.tlsFailures, m.poolWaits, m.authFailures, m.bulkEvents, m.bulkItems, m.esgateErrors, m.refusals, m.clientReqs, m.clientFails, m.certExpiry, m.keyExpiry, m.keyMints, m.keyInvalids,
		m.reloads, m.lastReload, m.lastReloadOK, m.acceptErrors, m.fdExhausted, m.tokenExpiry, m.tokenRefresh)
	return m
}

// Route is the metrics of one route with its label bound.
type Route struct {
	m             *Metrics
	name          string
	RequestBytes  prometheus.Counter
	ResponseBytes prometheus.Counter
	InFlight      prometheus.Gauge
	BulkEvents    prometheus.Counter

	mu       sync.Mutex
	requests map[requestKey]prometheus.Counter
	timings  map[string][2]prometheus.Observer // endpoint -> duration, upstream
}

type requestKey struct {
	method, endpoint string
	code             int
}

// Route returns the view of route name.
func (m *Metrics) Route(name string) *Route {
	if m == nil {
		return nil
	}
	return &Route{m: m, name: name,
		RequestBytes: m.requestBytes.WithLabelValues(name), ResponseBytes: m.responseBytes.WithLabelValues(name),
		InFlight: m.inFlight.WithLabelValues(name), BulkEvents: m.bulkEvents.WithLabelValues(name),
		requests: map[requestKey]prometheus.Counter{}, timings: map[string][2]prometheus.Observer{}}
}

// Observe records one finished request. Label lookups are cached per
// route, so the request path does no label hashing or allocation.
func (r *Route) Observe(method, endpoint string, code int, total, upstream time.Duration) {
	if r == nil {
		return
	}
	switch method {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS":
	default:
		method = "other" // bounded label values whatever clients send
	}
	if code < 100 || code > 599 {
		code = 0
	}
	k := requestKey{method, endpoint, code}
	r.mu.Lock()
	c, ok := r.requests[k]
	if !ok {
		c = r.m.requests.WithLabelValues(r.name, method, endpoint, strconv.Itoa(code))
		r.requests[k] = c
	}
	t, ok := r.timings[endpoint]
	if !ok {
		t = [2]prometheus.Observer{r.m.duration.WithLabelValues(r.name, endpoint), r.m.ttfb.WithLabelValues(r.name, endpoint)}
		r.timings[endpoint] = t
	}
	r.mu.Unlock()
	c.Inc()
	t[0].Observe(total.Seconds())
	if upstream > 0 {
		t[1].Observe(upstream.Seconds())
	}
}

// Conn counts an upstream connection use.
func (r *Route) Conn(host string, reused bool) {
	if r == nil {
		return
	}
	state := "new"
	if reused {
		state = "reused"
	}
	r.m.conns.WithLabelValues(r.name, host, state).Inc()
}

// HostUp sets a host's liveness.
func (r *Route) HostUp(host string, up bool) {
	if r == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	r.m.hostUp.WithLabelValues(r.name, host).Set(v)
}

// ForgetHost drops the series of a host removed from the route.
func (r *Route) ForgetHost(host string) {
	if r == nil {
		return
	}
	l := prometheus.Labels{"route": r.name, "host": host}
	r.m.hostUp.DeletePartialMatch(l)
	r.m.conns.DeletePartialMatch(l)
	r.m.tlsFailures.DeletePartialMatch(l)
	r.m.poolWaits.DeletePartialMatch(l)
}

// PoolWait counts a request that had to wait for a connection to host.
func (r *Route) PoolWait(host string) {
	if r == nil {
		return
	}
	r.m.poolWaits.WithLabelValues(r.name, host).Inc()
}

// TLSFailure counts a failed handshake.
func (r *Route) TLSFailure(host, reason string) {
	if r != nil {
		r.m.tlsFailures.WithLabelValues(r.name, host, reason).Inc()
	}
}

// AuthFailure counts a 401/403 from Elasticsearch.
func (r *Route) AuthFailure(code int, reason string) {
	if r != nil {
		r.m.authFailures.WithLabelValues(r.name, strconv.Itoa(code), reason).Inc()
	}
}

// ClientRequest counts a request of an authenticated client.
func (r *Route) ClientRequest(id string) {
	if r != nil {
		r.m.clientReqs.WithLabelValues(r.name, id).Inc()
	}
}

// ClientAuthFailure counts a client refused for its authentication.
func (r *Route) ClientAuthFailure(code int) {
	if r != nil {
		r.m.clientFails.WithLabelValues(r.name, strconv.Itoa(code)).Inc()
	}
}

// PolicyRefusal counts a request the route's policy refused, by rule.
func (r *Route) PolicyRefusal(rule string) {
	if r != nil {
		r.m.refusals.WithLabelValues(r.name, rule).Inc()
	}
}

// EsgateError counts an answer esgate gave itself, by error type.
func (r *Route) EsgateError(typ string) {
	if r != nil {
		r.m.esgateErrors.WithLabelValues(r.name, typ).Inc()
	}
}

// BulkItems adds item outcomes.
func (r *Route) BulkItems(counts map[esproto.ItemKey]int) {
	if r == nil {
		return
	}
	for k, n := range counts {
		r.m.bulkItems.WithLabelValues(r.name, strconv.Itoa(k.Status), k.ErrorType).Add(float64(n))
	}
}

// CertExpiry records a certificate's NotAfter.
func (r *Route) CertExpiry(kind, subject string, notAfter time.Time) {
	if r != nil {
		r.m.certExpiry.WithLabelValues(r.name, kind, subject).Set(float64(notAfter.Unix()))
	}
}

// ResetCertExpiry forgets the route's certificates (before a reload sets them again).
func (r *Route) ResetCertExpiry() {
	if r != nil {
		r.m.certExpiry.DeletePartialMatch(prometheus.Labels{"route": r.name})
	}
}

// APIKeyMinted records a managed key minted: its expiration and why.
func (r *Route) APIKeyMinted(t time.Time, trigger string) {
	if r != nil {
		r.m.keyMints.WithLabelValues(r.name, trigger).Inc()
	}
	r.APIKeyExpiry(t)
}

// APIKeyInvalidated counts a replaced managed key invalidated.
func (r *Route) APIKeyInvalidated() {
	if r != nil {
		r.m.keyInvalids.WithLabelValues(r.name).Inc()
	}
}

// APIKeyExpiry records the managed key's expiration.
func (r *Route) APIKeyExpiry(t time.Time) {
	if r != nil && !t.IsZero() {
		r.m.keyExpiry.WithLabelValues(r.name).Set(float64(t.Unix()))
	}
}

// TokenRefresh records a short-lived token's refresh attempt and the
// expiry of the token in force.
func (r *Route) TokenRefresh(ok bool, expiry time.Time) {
	if r == nil {
		return
	}
	result := "error"
	if ok {
		result = "ok"
	}
	r.m.tokenRefresh.WithLabelValues(r.name, result).Inc()
	if !expiry.IsZero() {
		r.m.tokenExpiry.WithLabelValues(r.name).Set(float64(expiry.Unix()))
	}
}

// Reload records a reload attempt.
func (r *Route) Reload(ok bool) {
	if r == nil {
		return
	}
	result, v := "failure", 0.0
	if ok {
		result, v = "success", 1
	}
	r.m.reloads.WithLabelValues(r.name, result).Inc()
	r.m.lastReload.WithLabelValues(r.name).Set(float64(time.Now().Unix()))
	r.m.lastReloadOK.WithLabelValues(r.name).Set(v)
}

// AcceptError counts a failed accept; reason is fd_limit or other.
func (m *Metrics) AcceptError(route, reason string) {
	if m != nil {
		m.acceptErrors.WithLabelValues(route, reason).Inc()
	}
}

// FDExhausted counts an episode of a listener out of file descriptors.
func (m *Metrics) FDExhausted(route string) {
	if m != nil {
		m.fdExhausted.WithLabelValues(route).Inc()
	}
}
