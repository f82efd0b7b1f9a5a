package h1

import (
	"net/http"
	"strings"
)

// ParseAnswer parses block, a whole response head (ScanHead's bytes), the
// answer to a request of method, when it is of the plain form h1 reads
// itself: HTTP/1.1, a final status other than 204 and 304, framed by one
// Content-Length, plain header lines; and not the answer to a HEAD. The
// Response is what http.ReadResponse returns for the same bytes, without
// Body and Request (FuzzAnswer holds it to that). ok is false for any
// other answer: http.ReadResponse is then the one to read it.
func ParseAnswer(block, method string) (res *http.Response, ok bool) {
	if method == http.MethodHead {
		return nil, false
	}
	line, rest, _ := strings.Cut(block, "\r\n")
	if len(line) < 12 || line[:9] != "HTTP/1.1 " {
		return nil, false
	}
	code := 0
	for i := 9; i < 12; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return nil, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, false
	}
	if len(line) > 12 {
		if line[12] != ' ' {
			return nil, false
		}
		for i := 13; i < len(line); i++ {
			if c := line[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
				return nil, false
			}
		}
	}
	h := make(http.Header, 8)
	if _, ok := parseFields(rest, h, make([]string, 0, 8)); !ok {
		return nil, false
	}
	if _, ok := h["Transfer-Encoding"]; ok {
		return nil, false
	}
	cl := h["Content-Length"]
	if len(cl) != 1 {
		return nil, false
	}
	n, ok := parseLength(cl[0])
	if !ok {
		return nil, false
	}
	res = &http.Response{Status: line[9:], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: n}
	if hasToken(h["Connection"], "close") {
		res.Close = true
		delete(h, "Connection")
	}
	return res, true
}
