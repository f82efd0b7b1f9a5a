package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

func TestReadHead(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		drop       bool
		want       string
		n          int
		err        bool
	}{
		{name: "length", head: "Host: a\r\nContent-Length: 12\r\n\r\n", want: "Host: a\r\nContent-Length: 12\r\n", n: 12},
		{name: "no body", head: "Host: a\r\n\r\n", want: "Host: a\r\n"},
		{name: "case", head: "content-LENGTH:7 \r\n\r\n", want: "content-LENGTH:7 \r\n", n: 7},
		{name: "drop auth", head: "Authorization: Basic x\r\nHost: a\r\n\r\n", drop: true, want: "Host: a\r\n"},
		{name: "keep auth", head: "authorization: Basic x\r\n\r\n", want: "authorization: Basic x\r\n"},
		{name: "chunked", head: "Transfer-Encoding: chunked\r\n\r\n", err: true},
		{name: "bad length", head: "Content-Length: x\r\n\r\n", err: true},
		{name: "negative length", head: "Content-Length: -1\r\n\r\n", err: true},
		{name: "two lengths", head: "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", err: true},
		{name: "same length twice", head: "Content-Length: 1\r\nContent-Length: 1\r\n\r\n", err: true},
		{name: "cut", head: "Host: a\r\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, n, err := readHead(bufio.NewReader(strings.NewReader(tc.head)), nil, tc.drop)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if !tc.err && (string(out) != tc.want || n != tc.n) {
				t.Errorf("got %q, %d; want %q, %d", out, n, tc.want, tc.n)
			}
		})
	}
}

// TestForwards: client -> floor -> the TLS test server. A bulk with the
// client's own (wrong) Authorization is indexed under floor's, and a
// second request reuses the client's connection; a chunked request is
// not forwarded: the connection closes without an answer.
func TestForwards(t *testing.T) {
	es, caFile := esserver.StartT(t, esserver.Options{})
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &proxy{upstream: es.Addr(), tls: &tls.Config{RootCAs: roots, ServerName: "localhost"},
		auth: "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="} // elastic:changeme
	go p.serve(l)

	client := &http.Client{Timeout: time.Minute} // a hang catcher only
	base := "http://" + l.Addr().String()
	body := `{"index":{"_index":"floor-test"}}` + "\n" + `{"n":1}` + "\n" +
		`{"index":{"_index":"floor-test"}}` + "\n" + `{"n":2}` + "\n"
	req, _ := http.NewRequest("POST", base+"/_bulk", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Basic d3Jvbmc6d3Jvbmc=") // wrong:wrong, dropped by floor
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var bulk struct {
		Errors bool              `json:"errors"`
		Items  []json.RawMessage `json:"items"`
	}
	err = json.NewDecoder(res.Body).Decode(&bulk)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || bulk.Errors || len(bulk.Items) != 2 {
		t.Fatalf("bulk: %d, %+v, %v", res.StatusCode, bulk, err)
	}
	if n := es.Count("floor-test"); n != 2 {
		t.Errorf("floor-test holds %d documents, want 2", n)
	}

	reused := false
	req, _ = http.NewRequest("GET", base+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(),
		&httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !reused {
		t.Errorf("GET /: %d, connection reused %v", res.StatusCode, reused)
	}

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute)) // a hang catcher only
	io.WriteString(c, "POST /_bulk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("chunked request: read %q, %v; want a close without an answer", b, err)
	}
}

// TestNoAllocation: reading a head and copying a body allocate nothing
// once the buffers exist.
func TestNoAllocation(t *testing.T) {
	msg := "Host: a\r\nAuthorization: x\r\nContent-Length: 16737\r\n\r\n" + strings.Repeat("x", 16737)
	sr := strings.NewReader(msg)
	br := bufio.NewReaderSize(sr, 32<<10)
	buf := make([]byte, 0, 40<<10)
	allocs := testing.AllocsPerRun(100, func() {
		sr.Reset(msg)
		br.Reset(sr)
		out, n, err := readHead(br, buf[:0], true)
		if err != nil || n != 16737 {
			t.Fatalf("readHead: %d, %v", n, err)
		}
		if err := copyBody(io.Discard, br, out, n); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.0f allocations a request, want 0", allocs)
	}
}
