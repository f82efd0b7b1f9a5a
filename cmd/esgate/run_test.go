package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/esgate/esgate/test/esserver"
)

func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"version"}, exitOK, "esgate dev"},
		{[]string{"help"}, exitOK, "esgate serve"},
		{[]string{"nope"}, exitUsage, `error: unknown command "nope"`},
		{[]string{"serve", "extra"}, exitUsage, "error: unexpected arguments: extra"},
		{[]string{"serve", "--api-key", "a:b"}, exitUsage, "error: hosts: required"},
		{[]string{"check", "--hosts", "https://127.0.0.1:1", "--api-key", "a:b", "--connect-timeout", "1s"}, exitFailed, "error: 1 host(s) failed the check"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tt.args, &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%v: code %d output %q; expected %d and %q", tt.args, code, out.String(), tt.code, tt.out)
		}
	}
}

// TestRunServeUntilCanceled runs serve in-process and stops it through its
// context, the way a supervisor embedding it would.
func TestRunServeUntilCanceled(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--status-listen", "off", "--listen", addr, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--user", "elastic", "--password", "changeme"}, io.Discard, io.Discard)
	}()
	var res *http.Response
	var err error
	for i := 0; i < 200; i++ {
		if res, err = http.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestPprofHidesCommandLine: /debug/pprof/cmdline would print an inline
// --password or --api-key; the status listener does not serve it.
func TestPprofHidesCommandLine(t *testing.T) {
	srv := httptest.NewServer(statusHandler(prometheus.NewRegistry(), nil, true))
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/cmdline": 404, "/debug/pprof/goroutine?debug=1": 200} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s: %d; expected %d", path, res.StatusCode, want)
		}
		if strings.Contains(string(b), strings.Join(os.Args, "\x00")) {
			t.Errorf("%s shows the command line", path)
		}
	}
}
