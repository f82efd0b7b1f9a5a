package h1

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// selfSigned is a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "h1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestIdleTLSConnectionsPark: on a TLS listener h1 serves the requests
// (Request.TLS filled) and parks idle connections too: the goroutine
// count does not grow with them. Each costs crypto/tls's state on both
// ends (its record buffers) besides h1's: under 48 KiB measured with
// both ends counted (net/http held a goroutine and 8 KiB of buffers
// more per connection on the server's end alone).
func TestIdleTLSConnectionsPark(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 connections")
	}
	const n = 200
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			http.Error(w, "no TLS state", 500)
			return
		}
		echo(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t)
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, ReadHeaderTimeout: 30 * time.Second, ParkAfter: time.Nanosecond}
	go s.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}))
	t.Cleanup(func() { s.Close() })
	dial := func(i int) idleClient {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		ic := idleClient{c, bufio.NewReaderSize(c, 512)}
		roundTrip(t, c, ic.br, fmt.Sprintf("/first/%d", i), "x")
		return ic
	}
	dial(0).c.Close()
	waitFor(t, "the warm-up connection to go", s.conns0)

	mem0, g0 := memInUse()
	cs := make([]idleClient, 0, n)
	t.Cleanup(func() {
		for _, c := range cs {
			c.c.Close()
		}
	})
	for i := range n {
		cs = append(cs, dial(i))
	}
	waitFor(t, "the TLS connections to park", func() bool { return s.park.count() == n })
	mem1, g1 := memInUse()
	per := (float64(mem1) - float64(mem0)) / n
	t.Logf("%d idle TLS connections: %+d goroutines, %.0f bytes of heap and stack each, both ends", n, g1-g0, per)
	if g1-g0 > 10 {
		t.Errorf("%d idle TLS connections added %d goroutines, want none", n, g1-g0)
	}
	limit := 48.0 * 1024
	if raceEnabled {
		limit *= 2
	}
	if per > limit {
		t.Errorf("%.0f bytes per idle TLS connection, want under %.0f", per, limit)
	}
	for i, c := range cs {
		roundTrip(t, c.c, c.br, fmt.Sprintf("/next/%d", i), "yy")
	}
	// A chunked request is handed to net/http, which must still see TLS.
	c := cs[0]
	fmt.Fprintf(c.c, "POST /chunked HTTP/1.1\r\nHost: es\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n")
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "/chunked zz" {
		t.Fatalf("handed-off TLS request: %d %q", res.StatusCode, b)
	}
}

// TestTLSClientGoneCancels: a TLS client that leaves while its request is
// served (close_notify, then its FIN) cancels the request's context, as
// a plain client's FIN does: the record in front of the FIN does not
// hide it.
func TestTLSClientGoneCancels(t *testing.T) {
	canceled, started := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(catchHang):
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t)
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, WatchInterval: 20 * time.Millisecond}
	go s.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}}))
	defer s.Close()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: es\r\n\r\n")
	<-started
	c.Close()
	select {
	case <-canceled:
	case <-time.After(catchHang):
		t.Fatal("the request's context was not canceled after its TLS client left")
	}
}
