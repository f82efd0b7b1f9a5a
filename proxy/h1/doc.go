// Package h1 owns the HTTP/1.1 framing esgate does itself: serving its
// clients on plain and TLS listeners, and reading the heads of the common
// answers from Elasticsearch (ParseAnswer, for package proxy's client).
// Both parse only a strict plain form, and leave everything else to
// net/http, which reads it as before.
//
// The server (plain TCP and unix sockets, and TLS over them): one goroutine per connection
// reads each request head straight from its buffer into a Request and a
// header map reused from request to request, calls the handler in that
// goroutine, and writes the answer. net/http's server starts a second
// goroutine and a fresh context for every request and builds every
// request from scratch; on Logstash-sized bulks that was a third of
// esgate's CPU.
//
// A kept-alive connection waiting for its next request holds no buffers,
// no request state and, on Linux, no goroutine. When its buffer and its
// socket have nothing to read (a non-blocking MSG_PEEK), its read and
// write buffers and its request state (the Request, URL, header maps and
// answer writer, reqState) go back to the server's pools. It first waits
// in its goroutine through the runtime's poller for Server.ParkAfter
// (default 50 ms), so a client sending back to back never pays a park
// and a wake per request, while 2000 clients that connect at once and go
// quiet hold 2000 goroutine stacks only that long (with one second, the
// peak was 38 MiB against 25 in make bench-conns); then it is parked: its
// socket goes into an epoll set of the server's own (the parker) and its
// goroutine ends. One goroutine per server waits on that
// set; when a parked socket has bytes or an end to read, it starts a
// goroutine that takes buffers and a request state from the pools and
// serves the same connection on (a client's FIN or reset is read there
// and closes it). The parker closes connections parked longer than
// IdleTimeout (a sweep once a second), Shutdown and Close close them at
// once; whoever moves a connection out of the parked state (an atomic
// compare-and-swap) owns it, so a wake cannot race a close. Events carry
// a registration id, not the descriptor, and a socket leaves the set
// before it is closed, so a reused descriptor number never wakes the
// wrong connection. An idle connection so costs its socket and about
// 1 KiB of heap, no stack (TestIdleConnectionsPark,
// TestIdleConnectionHoldsNoBuffers). Elsewhere, or where a socket cannot
// be peeked at, it waits in its goroutine through the runtime's poller,
// without its buffers.
//
// It serves only the plain, strict form that clients such as Logstash,
// Beats, go-elasticsearch, elasticsearch-py, rsyslog and curl send: an
// HTTP/1.1 request with an origin-form target, one Host, a
// Content-Length body or none, and header lines of visible ASCII. A
// connection whose next request is anything else (chunked bodies,
// HTTP/1.0, obs-fold, duplicate lengths, bare LF, an Expect other than
// 100-continue, any malformed head) is handed, with the bytes already
// read, to the net/http server the caller gives (Server.Fallback), which
// serves it from then on: everything h1 does not parse itself is parsed
// and refused by net/http exactly as before. FuzzParse holds h1's parse
// to net/http's (http.ReadRequest and the server's own checks), and
// FuzzServe holds the whole server to net/http's: the same bytes on a
// connection get the same answers.
//
// Requests whose framing RFC 9112 says a server must refuse and close
// (both Content-Length and Transfer-Encoding, Transfer-Encoding on
// HTTP/1.0 or not ending in chunked, a Content-Length that is not one
// number) never reach net/http: GuardFraming, in front of net/http on
// handed-off connections, answers them
// with a 400 in Elasticsearch's error shape and closes, so nothing
// smuggled behind them is read. This is where h1 differs from net/http on
// purpose; TestSameAsNetHTTP lists each case and FuzzFramingGuard holds
// the guard to net/http on everything else. The guard reads into
// net/http's own buffer and keeps bytes of its own only while a head is
// incomplete, so it adds no buffer to an idle connection.
//
// On a TLS listener (one whose Accept returns *tls.Conn) h1 runs the
// handshake as net/http's server does (bounded by the least of
// ReadHeaderTimeout and Fallback's ReadTimeout and WriteTimeout; a plain
// HTTP request gets net/http's 400; a connection whose client chose
// another ALPN protocol, acme-tls/1, is closed after it), and fills every
// Request.TLS with the state taken once after it. Requests are read and
// answers written through the *tls.Conn; its socket serves only to wait
// and peek. Before a TLS connection parks, a read with a deadline already
// past makes sure crypto/tls holds no decrypted or whole record (see
// conn.tlsHolds); crypto/tls's own record buffers stay with the
// connection. A handed-off TLS connection carries its state to net/http,
// which fills Request.TLS from it.
//
// The handler must not keep the Request, its Header, its Body or its
// context after it returns: they are reused for the next request, of
// this connection or another. The request's context is the connection's:
// canceled when its client goes away or it closes.
//
// ParseAnswer reads an answer head of one Content-Length and plain header
// lines into an http.Response with one map, one value slab and no string
// per field; FuzzAnswer holds it to http.ReadResponse.
//
// A client that goes away while its request is served is noticed within
// a second (a non-blocking peek at the socket), and the request's
// context is canceled, as net/http does.
package h1
