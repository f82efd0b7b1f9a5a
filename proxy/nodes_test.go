package proxy_test

import (
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/test/esserver"
)

type nodesDoc struct {
	ClusterName string `json:"cluster_name"`
	Nodes       map[string]struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
		HTTP  struct {
			Publish string   `json:"publish_address"`
			Bound   []string `json:"bound_address"`
			MaxLen  int64    `json:"max_content_length_in_bytes"`
		} `json:"http"`
	} `json:"nodes"`
}

// TestNodesHTTPRewrite: a sniffing client asking the test server's
// /_nodes/http through esgate is told esgate's address for every node,
// with the rest of the answer kept; in pass mode it gets ES's answer.
func TestNodesHTTPRewrite(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "sniffer", 0, nil)
	enc, _ := auth.ParseAPIKey(key)
	front, p := sandwich(t, certs.Options{CAFiles: []string{ca}}, auth.APIKey(enc), nil, es.URL)
	self := strings.TrimPrefix(front, "http://")
	esAddr := strings.TrimPrefix(es.URL, "https://")
	for _, tt := range []struct {
		rewrite bool
		path    string
		want    string
	}{
		{true, "/_nodes/http", self},
		{true, "/_nodes/_all/http", self},
		{false, "/_nodes/http", esAddr},
	} {
		publish(p, func(s *proxy.State) { s.RewriteNodesHTTP = tt.rewrite })
		res, body := do(t, "GET", front+tt.path, "")
		var d nodesDoc
		if err := json.Unmarshal([]byte(body), &d); err != nil || res.StatusCode != 200 || len(d.Nodes) != 1 {
			t.Fatalf("%s: %d %s (%v)", tt.path, res.StatusCode, body, err)
		}
		for id, n := range d.Nodes {
			if n.HTTP.Publish != tt.want || len(n.HTTP.Bound) != 1 || n.HTTP.Bound[0] != tt.want {
				t.Errorf("rewrite %v %s: node %s http %+v; expected %s", tt.rewrite, tt.path, id, n.HTTP, tt.want)
			}
			if n.Name == "" || n.HTTP.MaxLen != 104857600 || len(n.Roles) == 0 || d.ClusterName == "" {
				t.Errorf("fields lost: %s", body)
			}
		}
	}
}

// TestNodesHTTPRewriteGzip: a compressed answer with several nodes (one
// without HTTP) is rewritten and sent uncompressed.
func TestNodesHTTPRewriteGzip(t *testing.T) {
	up := startConnUpstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(`{"_nodes":{"total":3},"cluster_name":"prod","nodes":{` +
			`"a":{"name":"es-1","roles":["data"],"http":{"bound_address":["10.0.0.1:9200"],"publish_address":"es-1/10.0.0.1:9200","max_content_length_in_bytes":104857600}},` +
			`"b":{"name":"es-2","roles":["master"],"http":{"publish_address":"10.0.0.2:9200"}},` +
			`"c":{"name":"es-3","roles":["ml"]}}}`))
		zw.Close()
	})
	front, p := sandwich(t, certs.Options{CAFiles: []string{up.ca}}, auth.APIKey("aWQ6a2V5"),
		func(o *proxy.Options) { o.ResurrectDelay = time.Hour }, up.URL)
	publish(p, func(s *proxy.State) { s.RewriteNodesHTTP = true })
	res, body := do(t, "GET", front+"/_nodes/http", "")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	var d nodesDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	u, _ := url.Parse(front)
	if d.Nodes["a"].HTTP.Publish != u.Host || d.Nodes["b"].HTTP.Publish != u.Host || d.Nodes["c"].HTTP.Publish != "" || d.Nodes["a"].Name != "es-1" {
		t.Errorf("rewritten answer: %s", body)
	}
}
