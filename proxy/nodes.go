package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Clients with sniffing on (Logstash's sniffing => true, the Ruby and
// Python clients' sniffers) ask GET /_nodes/http for the cluster's nodes
// and then connect to each node's http.publish_address directly: past
// esgate, without TLS or credentials. esgate answers that request with its
// own address in place of every node's, so they keep using it.

// State.RewriteNodesHTTP turns the rewriting of GET /_nodes/http answers
// on or off. The address put in is the one the client connected to, so it
// is right for it whatever esgate listens on; clients on a unix socket get
// Elasticsearch's answer unchanged (a socket has no host:port to give).

// isNodesHTTP reports whether path asks for the nodes' HTTP info, as
// sniffers do: /_nodes/http, /_nodes/_all/http (and a trailing slash).
func isNodesHTTP(path string) bool {
	path = strings.TrimSuffix(path, "/")
	return path == "/_nodes/http" || path == "/_nodes/_all/http"
}

// nodesAddr returns the address to put into a sniffing request's answer,
// or "" when r is not one (or rewriting is off, or r came over a unix
// socket).
func nodesAddr(st *State, r *http.Request) string {
	if !st.RewriteNodesHTTP || r.Method != http.MethodGet || !isNodesHTTP(r.URL.Path) {
		return ""
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if !ok {
		return ""
	}
	return local.String()
}

// maxNodesBody bounds the nodes answer esgate reads to rewrite it (a
// thousand-node cluster's /_nodes/http is well under this).
const maxNodesBody = 16 << 20

// rewriteNodesResponse replaces res's body with the rewritten answer.
func rewriteNodesResponse(res *http.Response, addr string) error {
	body, err := rewriteNodesHTTP(res, addr)
	if err != nil {
		return err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	res.Header.Del("Content-Encoding")
	res.TransferEncoding = nil
	return nil
}

// rewriteNodesHTTP reads res's JSON body and sets every node's
// http.publish_address to addr and http.bound_address to [addr]; other
// fields (names, roles, versions) are kept.
func rewriteNodesHTTP(res *http.Response, addr string) ([]byte, error) {
	defer res.Body.Close()
	var r io.Reader = io.LimitReader(res.Body, maxNodesBody+1)
	if strings.EqualFold(res.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = io.LimitReader(zr, maxNodesBody+1)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxNodesBody {
		return nil, fmt.Errorf("answer larger than %d bytes", maxNodesBody)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var nodes map[string]map[string]json.RawMessage
	if n, ok := doc["nodes"]; ok {
		if err := json.Unmarshal(n, &nodes); err != nil {
			return nil, fmt.Errorf("nodes: %w", err)
		}
	}
	for id, node := range nodes {
		h, ok := node["http"]
		if !ok {
			continue // a node without HTTP is not reachable anyway
		}
		var httpInfo map[string]json.RawMessage
		if err := json.Unmarshal(h, &httpInfo); err != nil {
			return nil, fmt.Errorf("nodes.%s.http: %w", id, err)
		}
		a, _ := json.Marshal(addr)
		httpInfo["publish_address"] = a
		httpInfo["bound_address"] = json.RawMessage("[" + string(a) + "]")
		if node["http"], err = json.Marshal(httpInfo); err != nil {
			return nil, err
		}
	}
	if nodes != nil {
		if doc["nodes"], err = json.Marshal(nodes); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
}
