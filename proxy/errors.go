package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
)

// statusFor maps a forwarding error to the status and error type esgate
// answers with. It is the only place that decides this.
//
//	client body over max_body_size  413 esgate_content_too_long_exception
//	client body stalled             408 esgate_client_timeout_exception
//	client body broken (bad chunk)  400 esgate_bad_request_exception
//	no live host                    503 esgate_no_living_hosts_exception
//	no valid credential (expired)   503 esgate_credential_unavailable_exception
//	any timeout                     504 esgate_timeout_exception
//	certificate refused             502 esgate_tls_verification_exception
//	other TLS handshake failure     502 esgate_tls_exception
//	connect failure                 502 esgate_connect_exception
//	answer breaks HTTP or limits    502 esgate_protocol_exception
//	anything else                   502 esgate_upstream_exception
func statusFor(err error) (int, string) {
	var (
		de *DialError
		ve *certs.VerificationError
		pe *ProtocolError
		ce *clientBodyError
	)
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "esgate_content_too_long_exception"
	case errors.As(err, &ce) && isTimeout(err):
		return http.StatusRequestTimeout, "esgate_client_timeout_exception"
	case errors.As(err, &ce):
		return http.StatusBadRequest, "esgate_bad_request_exception"
	case errors.Is(err, ErrNoLiveHosts):
		return http.StatusServiceUnavailable, "esgate_no_living_hosts_exception"
	case errors.Is(err, auth.ErrNoValidCredential):
		return http.StatusServiceUnavailable, "esgate_credential_unavailable_exception"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return http.StatusGatewayTimeout, "esgate_timeout_exception"
	case errors.As(err, &ve):
		return http.StatusBadGateway, "esgate_tls_verification_exception"
	case errors.As(err, &de) && de.TLS:
		return http.StatusBadGateway, "esgate_tls_exception"
	case errors.As(err, &de):
		return http.StatusBadGateway, "esgate_connect_exception"
	case errors.As(err, &pe):
		return http.StatusBadGateway, "esgate_protocol_exception"
	}
	return http.StatusBadGateway, "esgate_upstream_exception"
}

// serveError answers a request that got no upstream answer. It is only
// reached before any response byte was written, so the status is still
// esgate's to choose. body is the request's, whose own failure (if any)
// decides the answer.
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, body *trackedBody, err error) {
	if lb, ok := r.Body.(*limitedBody); ok && lb.exceeded.Load() {
		err = errBodyTooLarge
	} else if body != nil && body.err() != nil {
		// The client's body failed; a stalled one also cancels the
		// request's context, but the client is still there to be told.
		err = body.err()
	} else if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away; there is nobody to answer.
		p.log.Debug("client canceled request", "route", p.name, "method", r.Method, "path", r.URL.Path)
		return
	}
	status, typ := statusFor(err)
	p.opts.Metrics.EsgateError(typ)
	p.log.Warn("forwarding failed", "route", p.name, "method", r.Method, "path", r.URL.Path, "status", status, "type", typ, "err", err)
	if status < 500 {
		// The request body is in an unknown state: do not read on.
		w.Header().Set("Connection", "close")
	}
	writeError(w, status, typ, err.Error())
}

type esCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

type esError struct {
	Error struct {
		RootCause []esCause `json:"root_cause"`
		esCause
	} `json:"error"`
	Status int `json:"status"`
}

// writeError answers in Elasticsearch's error shape:
// {"error":{"root_cause":[{"type":…,"reason":…}],"type":…,"reason":…},"status":N}.
func writeError(w http.ResponseWriter, status int, typ, reason string) {
	var e esError
	e.Error.esCause = esCause{Type: typ, Reason: reason}
	e.Error.RootCause = []esCause{e.Error.esCause}
	e.Status = status
	body, _ := json.Marshal(e)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
