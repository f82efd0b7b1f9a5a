package h1

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
)

// head is a request head h1 parsed itself.
type head struct {
	method string
	target string // the request-target as sent
	// path and rawQuery split target when plainPath (its path needs no
	// decoding); otherwise url.ParseRequestURI(target) decides.
	path       string
	rawQuery   string
	forceQuery bool
	plainPath  bool
	host       string
	length     int64 // Content-Length; 0 when absent
	close      bool  // Connection: close
	expect     bool  // Expect: 100-continue
}

// headEnd returns the length of the request head at the start of b, up to
// and including its empty line. It returns 0 when b holds no whole head
// yet, and -1 when a line ends in a bare LF (net/http's to parse).
func headEnd(b []byte) int {
	end, _ := ScanHead(b, 0)
	return end
}

// ScanHead finds the end of the HTTP/1.1 message head at the start of b,
// looking from from on (0, or the resume of an earlier call on a prefix
// of b: the lines before it are not scanned again, so a head that
// arrives a byte at a time costs linear time). end is the head's length
// up to and including its empty line, 0 when b holds no whole head yet
// (resume is then where to look from next time), and -1 when a line ends
// in a bare LF.
func ScanHead(b []byte, from int) (end, resume int) {
	start := from
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return 0, start
		}
		j := start + i
		if j == 0 || b[j-1] != '\r' {
			return -1, start
		}
		if j-start == 1 {
			return j + 1, start
		}
		start = j + 1
	}
}

// parseHead parses block, a whole request head (headEnd's bytes), adding
// its header fields to h (canonical keys, values in order; Host is not
// added, as net/http promotes it to Request.Host). vals is a slab the
// value slices are cut from, returned grown. ok is false when block is
// not of the plain form h1 serves: nothing is then decided, and the
// caller hands the connection to net/http.
func parseHead(block string, h http.Header, vals []string) (hd head, _ []string, ok bool) {
	line, rest, _ := strings.Cut(block, "\r\n")
	if !parseRequestLine(line, &hd) {
		return hd, vals, false
	}
	if vals, ok = parseFields(rest, h, vals); !ok {
		return hd, vals, false
	}
	hosts := h["Host"]
	if len(hosts) != 1 || !plainHost(hosts[0]) {
		return hd, vals, false
	}
	hd.host = hosts[0]
	delete(h, "Host")
	if _, ok := h["Transfer-Encoding"]; ok {
		return hd, vals, false
	}
	if cl, ok := h["Content-Length"]; ok {
		if hd.length, ok = parseLength(cl[0]); !ok || len(cl) != 1 {
			return hd, vals, false
		}
	}
	if ex, ok := h["Expect"]; ok {
		if len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") {
			return hd, vals, false
		}
		hd.expect = true
	}
	hd.close = hasToken(h["Connection"], "close")
	// net/http's one header rewrite (fixPragmaCacheControl).
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	return hd, vals, true
}

// parseFields parses header lines ("Name: value\r\n" up to the empty
// line) into h, as textproto.ReadMIMEHeader would; false for anything
// outside the plain form: obs-fold, a name that is not a token, a control
// or non-ASCII byte in a value.
func parseFields(rest string, h http.Header, vals []string) ([]string, bool) {
	for {
		var line string
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			return vals, true
		}
		colon := 0
		for colon < len(line) && isTokenChar(line[colon]) {
			colon++
		}
		if colon == 0 || colon == len(line) || line[colon] != ':' {
			return vals, false
		}
		v := trimSpace(line[colon+1:])
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
				return vals, false
			}
		}
		k := canonicalKey(line[:colon])
		if old, ok := h[k]; ok {
			h[k] = append(old, v)
			continue
		}
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey without an allocation
// for the names Elasticsearch sends in lower case.
func canonicalKey(k string) string {
	for _, c := range knownKeys {
		if len(c) == len(k) && strings.EqualFold(c, k) {
			return c
		}
	}
	return textproto.CanonicalMIMEHeaderKey(k)
}

var knownKeys = [...]string{"Content-Type", "Content-Length", "X-Elastic-Product", "Content-Encoding", "Warning", "X-Opaque-Id"}

// ownMethods are the methods h1 serves itself.
var ownMethods = [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodHead,
	http.MethodDelete, http.MethodOptions, http.MethodPatch}

// parseRequestLine parses "METHOD SP origin-form SP HTTP/1.1".
func parseRequestLine(line string, hd *head) bool {
	m, rest, ok := strings.Cut(line, " ")
	if !ok {
		return false
	}
	hd.method = ""
	for _, k := range ownMethods {
		if m == k {
			hd.method = k // the constant, not a slice of the read buffer
			break
		}
	}
	if hd.method == "" {
		return false
	}
	target, proto, ok := strings.Cut(rest, " ")
	if !ok || proto != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return false
	}
	hd.target = target
	hd.plainPath = true
	q := len(target)
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c == '?' {
			q = i
			break
		}
		if c <= 0x20 || c >= 0x7f {
			return false
		}
		if !isPlainPathChar(c) {
			hd.plainPath = false
		}
	}
	for i := q + 1; i < len(target); i++ {
		if c := target[i]; c <= 0x20 || c >= 0x7f {
			return false
		}
	}
	hd.path = target[:q]
	if q < len(target) {
		hd.rawQuery = target[q+1:]
		hd.forceQuery = hd.rawQuery == ""
	}
	return true
}

// isPlainPathChar: bytes that url.ParseRequestURI leaves as they are in
// URL.Path with an empty RawPath (no decoding, nothing it would escape).
func isPlainPathChar(c byte) bool { return plainPathChars[c] }

// isTokenChar reports whether c may appear in a header field name.
func isTokenChar(c byte) bool { return tokenChars[c] }

var plainPathChars, tokenChars = charSet("-_.~$&+,/:;=@"), charSet("!#$%&'*+-.^_`|~")

// charSet is the ASCII letters and digits and extra.
func charSet(extra string) (set [256]bool) {
	for c := '0'; c <= 'z'; c++ {
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			set[c] = true
		}
	}
	for i := 0; i < len(extra); i++ {
		set[extra[i]] = true
	}
	return set
}

// plainHost: a host name, IPv4 or [IPv6] address, with an optional port.
func plainHost(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// parseLength parses a Content-Length of 1 to 18 digits.
func parseLength(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hasToken reports whether a comma-separated header value holds token
// (ASCII case-insensitive).
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for len(v) > 0 {
			var el string
			el, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(trimSpace(el), token) {
				return true
			}
		}
	}
	return false
}
