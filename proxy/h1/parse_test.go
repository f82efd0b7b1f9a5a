package h1

import (
	"bufio"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// oracle parses a request head as net/http's server does: http.ReadRequest
// plus the server's own refusals (readRequest in net/http/server.go).
func oracle(block string) (*http.Request, bool) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(block)))
	if err != nil {
		return nil, false
	}
	// ReadRequest refuses two Hosts and moves the one to req.Host; the
	// server refuses an HTTP/1.1 request without one.
	if req.Host == "" {
		return nil, false
	}
	for k, vv := range req.Header {
		if !validFieldName(k) {
			return nil, false
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
					return nil, false
				}
			}
		}
	}
	return req, true
}

// checkAgainstOracle fails when h1 accepts a head that net/http would
// refuse or read differently. h1 may decline anything (net/http then
// serves it).
func checkAgainstOracle(t *testing.T, raw string) (accepted bool) {
	t.Helper()
	end := headEnd([]byte(raw))
	if end <= 0 {
		return false
	}
	block := raw[:end]
	h := http.Header{}
	hd, _, ok := parseHead(block, h, nil)
	var got url.URL
	if !ok || !buildURL(&got, &hd) {
		return false // declined, as the server does
	}
	want, ok := oracle(block)
	if !ok {
		t.Fatalf("h1 accepts a head net/http refuses: %q", block)
	}
	if want.Host == "" && hd.host != "" || want.Host != hd.host {
		t.Fatalf("Host %q, net/http %q: %q", hd.host, want.Host, block)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"method", hd.method, want.Method},
		{"request URI", hd.target, want.RequestURI},
		{"URL", got, *want.URL},
		{"header", h, want.Header},
		{"content length", hd.length, want.ContentLength},
		{"close", hd.close, want.Close},
		{"expect 100-continue", hd.expect, want.Header.Get("Expect") != ""},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Fatalf("%s: h1 %#v, net/http %#v, for %q", c.what, c.got, c.want, block)
		}
	}
	if want.ContentLength < 0 || len(want.TransferEncoding) > 0 {
		t.Fatalf("h1 accepts a body net/http frames otherwise: %q", block)
	}
	return true
}

var parseSeeds = []string{
	"GET / HTTP/1.1\r\nHost: localhost:9200\r\n\r\n",
	"POST /_bulk HTTP/1.1\r\nHost: 127.0.0.1:9200\r\nContent-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\nContent-Length: 16737\r\nUser-Agent: Manticore 0.9.1\r\nAccept-Encoding: gzip,deflate\r\nConnection: Keep-Alive\r\nX-Elastic-Event-Count: 125\r\n\r\n",
	"GET /logs-*/_search?q=user:bob;x&size=1 HTTP/1.1\r\nHost: es\r\n\r\n",
	"GET /a%2Fb/_doc/%E2%82%AC?x HTTP/1.1\r\nHost: es\r\n\r\n",
	"GET /? HTTP/1.1\r\nHost: es\r\n\r\n",
	"HEAD / HTTP/1.1\r\nhost: es\r\nconnection: close\r\n\r\n",
	"PUT /_ilm/policy/p HTTP/1.1\r\nHost: [::1]:9200\r\ncontent-length: 0\r\nexpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nX-A: 1\r\nx-a: 2\r\nX-B:\r\nX-C: \t v \t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nConnection: keep-alive, Close\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: es\r\n\r\n",
	"GET / HTTP/1.1\nHost: es\n\n",
	"GET / HTTP/1.1\r\nHost: es\r\n folded\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nHost: other\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: es\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: es\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: es\r\nContent-Length: +3\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nBad Name: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nX: a\x00b\r\n\r\n",
	"GET http://es/ HTTP/1.1\r\nHost: es\r\n\r\n",
	"CONNECT es:443 HTTP/1.1\r\nHost: es:443\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: es\r\n\r\n",
	"GET //x/../y HTTP/1.1\r\nHost: es\r\n\r\n",
	"GET /a#b?c#d HTTP/1.1\r\nHost: es\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nExpect: 100-continue, foo\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: es\r\nX: \xff\r\n\r\n",
	"GET /?  HTTP/1.1\r\nHost: es\r\n\r\n",
}

func TestParseSeedsAgainstNetHTTP(t *testing.T) {
	accepted := 0
	for _, s := range parseSeeds {
		if checkAgainstOracle(t, s) {
			accepted++
		}
	}
	// The plain forms must be h1's own, or the fast path is never taken.
	for _, s := range parseSeeds[:10] {
		if !checkAgainstOracle(t, s) {
			t.Errorf("h1 declines a plain head: %q", s)
		}
	}
	t.Logf("%d of %d seeds parsed by h1", accepted, len(parseSeeds))
}

// FuzzParse holds h1's parser to net/http's on arbitrary heads: whatever
// h1 accepts, net/http accepts and reads the same way.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkAgainstOracle(t, raw)
	})
}

// TestScanHeadResumes: a head scanned as it grows a byte at a time ends
// where one scan of the whole finds it, and each scan starts at the last
// incomplete line (so a trickled head costs linear time, not quadratic).
func TestScanHeadResumes(t *testing.T) {
	for _, raw := range parseSeeds {
		whole := headEnd([]byte(raw))
		from, got := 0, 0
		for n := 1; n <= len(raw); n++ {
			var end int
			end, from = ScanHead([]byte(raw[:n]), from)
			if from > n {
				t.Fatalf("resume %d beyond the %d bytes scanned", from, n)
			}
			if end != 0 {
				got = end
				break
			}
			if i := strings.LastIndexByte(raw[:n], '\n'); from != i+1 {
				t.Fatalf("after %d bytes of %q: resume at %d, want the last line's start %d", n, raw, from, i+1)
			}
		}
		if got != whole {
			t.Fatalf("%q: trickled scan ends at %d, whole scan at %d", raw, got, whole)
		}
	}
}
