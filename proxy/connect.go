package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ForwardProxy chooses the forward proxy for a host address: nil for a
// direct connection. Logstash's proxy setting is a fixed URL; without it
// esgate follows HTTPS_PROXY and NO_PROXY, as Go programs and Logstash's
// JVM users expect.
type ForwardProxy func(addr string) (*url.URL, error)

// FixedProxy always uses u (nil: never a proxy).
func FixedProxy(u *url.URL) ForwardProxy { return func(string) (*url.URL, error) { return u, nil } }

// EnvironmentProxy follows HTTPS_PROXY (https_proxy) and NO_PROXY.
func EnvironmentProxy() ForwardProxy {
	return func(addr string) (*url.URL, error) {
		return http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: addr}})
	}
}

// dialVia opens a tunnel to addr through the forward proxy at pu with
// HTTP CONNECT (credentials in the proxy URL go as Proxy-Authorization).
// The tunnel then carries esgate's TLS to Elasticsearch end to end: the
// proxy sees neither the credential nor the traffic.
func dialVia(ctx context.Context, d *net.Dialer, pu *url.URL, addr string) (net.Conn, error) {
	if pu.Scheme != "http" && pu.Scheme != "" {
		return nil, fmt.Errorf("proxy %s: only http:// forward proxies (CONNECT) are supported", pu.Redacted())
	}
	host := pu.Host
	if pu.Port() == "" {
		host = net.JoinHostPort(pu.Hostname(), "80")
	}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("connecting to the proxy %s: %w", pu.Redacted(), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(d.Timeout))
	}
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if u := pu.User; u != nil {
		pw, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: %w", pu.Redacted(), err)
	}
	br := bufio.NewReaderSize(c, 4096)
	res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: reading its CONNECT answer: %w", pu.Redacted(), err)
	}
	if res.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("proxy %s refused CONNECT %s: %s", pu.Redacted(), addr, res.Status)
	}
	if br.Buffered() > 0 { // the host cannot have spoken before our TLS hello
		c.Close()
		return nil, fmt.Errorf("proxy %s sent data after its CONNECT answer", pu.Redacted())
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
