package esproto

import (
	"encoding/json"
	"net/http"
	"strings"
)

// ErrorCause is the top of Elasticsearch's error answer:
// {"error":{"type":…,"reason":…,"additional_unsuccessful_credentials":…},"status":N}.
type ErrorCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	// Additional is set on 401s when a credential was tried and refused
	// (ES 8: "API key: api key is expired", "token: …").
	Additional string `json:"additional_unsuccessful_credentials"`
}

// ParseError reads the error of an Elasticsearch answer; ok is false when
// body is not one.
func ParseError(body []byte) (e ErrorCause, ok bool) {
	var doc struct {
		Error *ErrorCause `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Error == nil {
		return ErrorCause{}, false
	}
	return *doc.Error, true
}

// AuthReason classifies a 401 or 403 answer into a bounded label:
// unauthorized_action (any 403), api_key_expired, api_key_invalidated,
// api_key_not_found, api_key_invalid, missing_credentials,
// bad_user_password or other.
func AuthReason(code int, body []byte) string {
	if code == http.StatusForbidden {
		return "unauthorized_action"
	}
	e, _ := ParseError(body)
	a, r := e.Additional, e.Reason
	switch {
	case strings.Contains(a, "expired"):
		return "api_key_expired"
	case strings.Contains(a, "invalidated"):
		return "api_key_invalidated"
	case strings.Contains(a, "unable to find apikey"):
		return "api_key_not_found"
	case strings.HasPrefix(a, "API key:"):
		return "api_key_invalid"
	case strings.HasPrefix(r, "missing authentication"):
		return "missing_credentials"
	case strings.HasPrefix(r, "unable to authenticate user"):
		return "bad_user_password"
	}
	return "other"
}

// KeyRefused reports whether a 401 body says the API key sent is expired,
// invalidated or unknown: what a new key fixes. reason is
// Elasticsearch's words, for logs.
func KeyRefused(body []byte) (reason string, refused bool) {
	e, ok := ParseError(body)
	if !ok {
		return "", false
	}
	switch AuthReason(http.StatusUnauthorized, body) {
	case "api_key_expired", "api_key_invalidated", "api_key_not_found":
		return e.Additional, strings.HasPrefix(e.Additional, "API key:")
	}
	return "", false
}
