package proxy_test

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/test/esserver"
)

// connectProxy is a forward proxy that takes CONNECT with the given Basic
// credentials and counts its tunnels.
func connectProxy(t *testing.T, user, pass string) (*url.URL, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var tunnels atomic.Int64
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.Method != http.MethodConnect || req.Header.Get("Proxy-Authorization") != want {
					io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
					return
				}
				defer up.Close()
				tunnels.Add(1)
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go io.Copy(up, br)
				io.Copy(c, up)
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String(), User: url.UserPassword(user, pass)}, &tunnels
}

// TestForwardProxy: with Logstash's proxy setting, esgate reaches
// Elasticsearch through a CONNECT tunnel (TLS end to end, the proxy's
// credentials as Proxy-Authorization); a proxy that refuses is a 502
// naming it.
func TestForwardProxy(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	pu, tunnels := connectProxy(t, "px", "px-secret")
	front, _ := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"), func(o *proxy.Options) {
		o.Proxy = proxy.FixedProxy(pu)
		o.ResurrectDelay = time.Hour
	}, es.URL)
	if res, body := do(t, "GET", front+"/_security/_authenticate", ""); res.StatusCode != 200 || tunnels.Load() != 1 {
		t.Fatalf("through the proxy: %d %s, %d tunnels", res.StatusCode, body, tunnels.Load())
	}

	bad := *pu
	bad.User = url.UserPassword("px", "wrong")
	front, _ = sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.Basic("elastic", "changeme"), func(o *proxy.Options) {
		o.Proxy = proxy.FixedProxy(&bad)
		o.ResurrectDelay = time.Hour
	}, es.URL)
	res, body := do(t, "GET", front+"/", "")
	if e := parseErr(t, body); res.StatusCode != 502 || e.Error.Type != "esgate_connect_exception" || !contains(e.Error.Reason, "407") || contains(e.Error.Reason, "wrong") {
		t.Errorf("refusing proxy: %d %s; expected a 502 naming the 407, without the proxy password", res.StatusCode, body)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
