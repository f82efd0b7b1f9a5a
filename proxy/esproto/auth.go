package esproto

import (
	"bytes"
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

// Forbidden is what a 403's reason says: the action refused, the indices
// it was refused on ("" for a cluster action), and the privileges that
// would grant it.
type Forbidden struct {
	Action, Indices, GrantedBy string
}

// ParseForbidden reads Elasticsearch's 403 reason, "action [A] is
// unauthorized for … [on indices [I]], this action is granted by the
// cluster|index privileges [P]"; ok is false for another body.
func ParseForbidden(body []byte) (f Forbidden, ok bool) {
	e, ok := ParseError(body)
	if !ok {
		return f, false
	}
	return parseForbiddenReason(e.Reason)
}

// ForbiddenItem reads the first 403 item of a bulk response, whose error
// reason has a 403's words; ok is false when there is none.
func ForbiddenItem(body []byte) (Forbidden, bool) {
	i := bytes.Index(body, []byte(`"reason":"action [`))
	if i < 0 {
		return Forbidden{}, false
	}
	rest := body[i+len(`"reason":`):]
	end := 1
	for end < len(rest) && rest[end] != '"' {
		if rest[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(rest) {
		return Forbidden{}, false
	}
	var r string
	if json.Unmarshal(rest[:end+1], &r) != nil {
		return Forbidden{}, false
	}
	return parseForbiddenReason(r)
}

func parseForbiddenReason(r string) (f Forbidden, ok bool) {
	rest, found := strings.CutPrefix(r, "action [")
	if !found {
		return f, false
	}
	f.Action, rest, found = strings.Cut(rest, "]")
	if !found {
		return Forbidden{}, false
	}
	if _, after, ok := strings.Cut(rest, " on indices ["); ok {
		f.Indices, _, _ = strings.Cut(after, "]")
	}
	if i := strings.LastIndex(rest, "privileges ["); i >= 0 {
		f.GrantedBy, _, _ = strings.Cut(rest[i+len("privileges ["):], "]")
	}
	return f, true
}

// Hint explains a refused action in Logstash's terms and names the fix
// when bootstrap's narrowed modes are the likely cause ("" when there is
// nothing to add to Elasticsearch's own words).
func (f Forbidden) Hint() string {
	a := f.Action
	switch {
	case strings.HasPrefix(a, "cluster:admin/ilm/") || strings.HasPrefix(a, "indices:admin/ilm/"):
		return "this credential cannot manage ILM (ilm_enabled, or auto with data_stream => false): provision with esgate bootstrap without --logstash-output, or with --logstash-output ilm"
	case strings.HasPrefix(a, "indices:admin/index_template/") || strings.HasPrefix(a, "indices:admin/template/"):
		return "this credential cannot manage index templates (manage_template): provision with esgate bootstrap without --logstash-output, or with index or ilm"
	case strings.HasPrefix(a, "indices:admin/auto_create") || strings.HasPrefix(a, "indices:admin/create") ||
		strings.HasPrefix(a, "indices:data/write/"):
		return "this credential cannot write to " + f.Indices + ": provision with esgate bootstrap without --logstash-output (it covers data streams, logstash-*, ecs-logstash-* and ILM), or --index-pattern for a custom index"
	}
	return ""
}
