package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OAuth2Config is an OAuth2 client of the client credentials grant.
type OAuth2Config struct {
	// TokenURL is the token endpoint.
	TokenURL string
	// ClientID is the client identifier.
	ClientID string
	// ClientSecret returns the client secret; it is called for every
	// request, so that a secret file's new content is used.
	ClientSecret func() (string, error)
	// Scopes are sent space-separated as scope (default none).
	Scopes []string
	// Params are added to the form (audience, resource, …) (default none).
	Params map[string]string
	// AuthStyle is AuthBasic (the default) or AuthParams.
	AuthStyle AuthStyle
	// Client makes the requests; its transport holds the trust for the
	// endpoint (default: a client with the system roots).
	Client *http.Client
}

// AuthStyle is how the client authenticates to the token endpoint.
type AuthStyle int

const (
	// AuthBasic sends Authorization: Basic with the url-encoded id and
	// secret (RFC 6749 §2.3.1 client_secret_basic).
	AuthBasic AuthStyle = iota
	// AuthParams sends client_id and client_secret in the form
	// (client_secret_post).
	AuthParams
)

// DefaultLifetime is assumed for a token that states no expiry: no
// expires_in and not a JWT with exp.
const DefaultLifetime = 5 * time.Minute

// maxResponse bounds the token endpoint's answer.
const maxResponse = 1 << 20

// EndpointError is a token endpoint's refusal: an RFC 6749 §5.2 error
// (Code set) or an HTTP status without one. It names the endpoint and
// never holds the secret.
type EndpointError struct {
	Endpoint    string
	Status      int    // HTTP status (200 for an error in a 200 answer; 0 when there was no answer)
	Code        string // RFC 6749 error code, e.g. invalid_client
	Description string
	Err         error // transport error when there was no answer
}

func (e *EndpointError) Error() string {
	var b strings.Builder
	b.WriteString("token endpoint ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	switch {
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Code != "":
		b.WriteString(e.Code)
		if e.Description != "" {
			b.WriteString(" (" + e.Description + ")")
		}
	default:
		b.WriteString(strconv.Itoa(e.Status) + " " + http.StatusText(e.Status))
		if e.Description != "" {
			b.WriteString(": " + e.Description)
		}
	}
	return b.String()
}

func (e *EndpointError) Unwrap() error { return e.Err }

// Reason is a short, bounded word for logs and metrics: the RFC 6749
// error code, "http_<status>", "bad_response" or "unreachable".
func (e *EndpointError) Reason() string {
	switch {
	case e.Err != nil:
		return "unreachable"
	case e.Code != "":
		return e.Code
	case e.Status == http.StatusOK:
		return "bad_response"
	}
	return "http_" + strconv.Itoa(e.Status)
}

// oauth2Source fetches tokens from a token endpoint.
type oauth2Source struct {
	cfg OAuth2Config
	now func() time.Time
}

func (s *oauth2Source) describe() string { return "token endpoint " + s.cfg.TokenURL }

func (s *oauth2Source) fetch(ctx context.Context) (Token, error) {
	c := s.cfg
	secret, err := c.ClientSecret()
	if err != nil {
		return Token{}, err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	for k, v := range c.Params {
		form.Set(k, v)
	}
	if c.AuthStyle == AuthParams {
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, &EndpointError{Endpoint: c.TokenURL, Err: errors.New("invalid URL")}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.AuthStyle == AuthBasic {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
	}
	hc := c.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	sent := s.now()
	res, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return Token{}, &EndpointError{Endpoint: c.TokenURL, Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return Token{}, &EndpointError{Endpoint: c.TokenURL, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	tr, err := ParseTokenResponse(res.StatusCode, res.Header.Get("Content-Type"), body)
	if err != nil {
		var ee *EndpointError
		if errors.As(err, &ee) {
			ee.Endpoint = c.TokenURL
			ee.Description = scrub(ee.Description, secret)
		}
		return Token{}, err
	}
	return tr.token(sent), nil
}

// TokenResponse is a parsed RFC 6749 §5.1 answer.
type TokenResponse struct {
	AccessToken string
	TokenType   string
	// ExpiresIn is zero when the answer has none.
	ExpiresIn time.Duration
	// Claims are the access token's, when it is a JWT.
	Claims Claims
	JWT    bool
}

// token turns the answer into a Token obtained at sent (when the request
// left: the lifetime is counted from then, which errs on the safe side).
// The earlier of expires_in and the JWT's exp wins.
func (tr TokenResponse) token(sent time.Time) Token {
	t := Token{Value: tr.AccessToken, Issued: sent, Subject: tr.Claims.Subject}
	if tr.ExpiresIn > 0 {
		t.Expiry = sent.Add(tr.ExpiresIn)
	}
	if tr.JWT && !tr.Claims.Expiry.IsZero() && (t.Expiry.IsZero() || tr.Claims.Expiry.Before(t.Expiry)) {
		t.Expiry = tr.Claims.Expiry
	}
	if t.Expiry.IsZero() {
		t.Expiry = sent.Add(DefaultLifetime)
	}
	return t
}

// ParseTokenResponse reads a token endpoint's answer: a token (RFC 6749
// §5.1) or an error (§5.2, also when it comes with status 200). Errors
// are *EndpointError without Endpoint set, and never quote the token.
func ParseTokenResponse(status int, contentType string, body []byte) (TokenResponse, error) {
	var raw struct {
		AccessToken any             `json:"access_token"`
		TokenType   any             `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       any             `json:"error"`
		Description any             `json:"error_description"`
	}
	jsonErr := json.Unmarshal(body, &raw)
	code, _ := raw.Error.(string)
	desc, _ := raw.Description.(string)
	if jsonErr == nil && code != "" {
		return TokenResponse{}, &EndpointError{Status: status, Code: clean(code, 64), Description: clean(desc, 200)}
	}
	if status != http.StatusOK {
		return TokenResponse{}, &EndpointError{Status: status}
	}
	bad := func(why string) error { return &EndpointError{Status: status, Description: why} }
	if jsonErr != nil {
		mt, _, _ := mime.ParseMediaType(contentType)
		if mt != "" && mt != "application/json" {
			return TokenResponse{}, bad("the answer is " + clean(mt, 64) + ", not JSON")
		}
		return TokenResponse{}, bad("the answer is not a JSON object")
	}
	at, _ := raw.AccessToken.(string)
	if at == "" {
		return TokenResponse{}, bad("the answer has no access_token")
	}
	for i := 0; i < len(at); i++ {
		if at[i] <= ' ' || at[i] >= 0x7f {
			return TokenResponse{}, bad("the access_token holds characters a header cannot carry")
		}
	}
	tt, _ := raw.TokenType.(string)
	if tt != "" && !strings.EqualFold(tt, "bearer") {
		return TokenResponse{}, bad("token_type is " + clean(tt, 32) + ", not Bearer")
	}
	tr := TokenResponse{AccessToken: at, TokenType: tt}
	if len(raw.ExpiresIn) > 0 && string(raw.ExpiresIn) != "null" {
		s := strings.Trim(string(raw.ExpiresIn), `"`) // some issuers quote it
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n < 0 || n > 10*365*24*3600 {
			return TokenResponse{}, bad("expires_in is not a number of seconds")
		}
		tr.ExpiresIn = time.Duration(n * float64(time.Second))
	}
	if c, err := ParseClaims(at); err == nil {
		tr.Claims, tr.JWT = c, true
	}
	return tr, nil
}

// clean bounds s and drops control characters, for text from the
// endpoint that goes into errors and logs.
func clean(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if r < ' ' || r == 0x7f {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scrub hides the secret should an endpoint echo it in its description.
func scrub(s, secret string) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}
