package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/esgate/esgate/test/esserver"
)

// need skips when a third-party client is missing, or fails when CI says
// the clients must be there (ESGATE_REQUIRE_CLIENTS=1).
func need(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("ESGATE_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("%s is required (ESGATE_REQUIRE_CLIENTS=1): %v", path, err)
		}
		t.Skipf("%s not installed", path)
	}
}

// writerKey creates the Logstash publish-style API key the clients use.
func writerKey(es *esserver.Server, pattern string) string {
	_, _, enc := es.CreateAPIKey("elastic", "writer", 0, map[string]esserver.Role{"writer": {
		Cluster: []string{"monitor"},
		Indices: []esserver.IndexPrivileges{{Names: []string{pattern}, Privileges: []string{"create_doc", "index", "auto_configure", "view_index_metadata"}}},
	}})
	return enc
}

// TestGoElasticsearchClient: the official Go client (8.x, which asks for
// compatible-with=8) passes its product check through esgate, and its bulk
// indexer delivers every document, gzipped, to Elasticsearch 8 and 9.
func TestGoElasticsearchClient(t *testing.T) {
	for _, tc := range []struct {
		version  string
		compress bool
	}{{"8.15.3", false}, {"8.15.3", true}, {"9.1.5", false}, {"9.1.5", true}} {
		compress := tc.compress
		t.Run(fmt.Sprintf("ES %s gzip=%v", tc.version, compress), func(t *testing.T) {
			es, ca := esserver.StartT(t, esserver.Options{Version: tc.version})
			key := writerKey(es, "logstash-go*")
			p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key)
			client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{p.URL}, CompressRequestBody: compress})
			if err != nil {
				t.Fatal(err)
			}
			info, err := client.Info()
			if err != nil {
				t.Fatalf("Info (product check): %v", err)
			}
			info.Body.Close()
			if info.IsError() {
				t.Fatalf("Info: %s", info.Status())
			}
			index := fmt.Sprintf("logstash-go-%v", compress)
			bi, _ := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: client, Index: index, FlushBytes: 64 << 10, NumWorkers: 2})
			var failed atomic.Int64
			const n = 3000
			for i := 0; i < n; i++ {
				bi.Add(context.Background(), esutil.BulkIndexerItem{
					Action: "create",
					Body:   strings.NewReader(fmt.Sprintf(`{"@timestamp":"2026-11-27T12:00:00Z","message":"event %d","host":{"name":"web-01"}}`, i)),
					OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
						failed.Add(1)
						t.Logf("failed: %v %d %s", err, r.Status, r.Error.Reason)
					},
				})
			}
			if err := bi.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := es.Count(index); failed.Load() != 0 || got != n {
				t.Errorf("%d failed, %d documents arrived; expected %d", failed.Load(), got, n)
			}
		})
	}
}

// TestPythonElasticsearchClient drives Debian's python3-elasticsearch
// (7.17) through esgate: its GET / product check and helpers.bulk.
func TestPythonElasticsearchClient(t *testing.T) {
	need(t, "/usr/lib/python3/dist-packages/elasticsearch/__init__.py")
	es, ca := esserver.StartT(t, esserver.Options{})
	key := writerKey(es, "logstash-py*")
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key)
	script := `
import sys
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], http_compress=(sys.argv[2] == "gzip"))
print("version", es.info()["version"]["number"])
docs = ({"_index": "logstash-py-" + sys.argv[2], "_op_type": "create", "_source": {"message": "line %d" % i, "n": i}} for i in range(2000))
ok, errors = helpers.bulk(es, docs, chunk_size=250, raise_on_error=False)
print("indexed", ok, "errors", len(errors))
`
	for _, mode := range []string{"plain", "gzip"} {
		out, err := exec.Command("/usr/bin/python3", "-c", script, p.URL, mode).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		if !strings.Contains(string(out), "version 8.15.3") || !strings.Contains(string(out), "indexed 2000 errors 0") {
			t.Errorf("%s: output:\n%s", mode, out)
		}
		if n := es.Count("logstash-py-" + mode); n != 2000 {
			t.Errorf("%s: %d documents arrived", mode, n)
		}
	}
}

// TestPythonClientSniffing: python3-elasticsearch with sniff_on_start
// asks /_nodes/_all/http through esgate and, told esgate's address,
// keeps sending through it (with Elasticsearch's own addresses it would
// speak plain HTTP to the TLS port and fail).
func TestPythonClientSniffing(t *testing.T) {
	need(t, "/usr/lib/python3/dist-packages/elasticsearch/__init__.py")
	es, ca := esserver.StartT(t, esserver.Options{})
	_, _, key := es.CreateAPIKey("elastic", "sniffer", 0, nil)
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key)
	script := `
import sys
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], sniff_on_start=True)
print("pool", " ".join(c.host for c in es.transport.connection_pool.connections))
docs = ({"_index": "logstash-sniffed", "_source": {"n": i}} for i in range(100))
ok, errors = helpers.bulk(es, docs, raise_on_error=False)
print("indexed", ok, "errors", len(errors))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, p.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pool "+p.URL+"\n") || !strings.Contains(string(out), "indexed 100 errors 0") {
		t.Errorf("output:\n%s", out)
	}
	if n := es.Count("logstash-sniffed"); n != 100 {
		t.Errorf("%d documents arrived", n)
	}
}

// TestRsyslogOmelasticsearch ships lines from a file with rsyslog's
// omelasticsearch (plain HTTP to esgate, no credentials) into the server.
func TestRsyslogOmelasticsearch(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	key := writerKey(es, "rsyslog-*")
	p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key)
	const lines = 500
	if n, diag := runRsyslog(t, es, p.addr, `esVersion.major="8"`, "rsyslog-test", lines); n != lines {
		t.Fatalf("%d of %d lines arrived\n%s", n, lines, diag)
	}
	src := string(es.Source("rsyslog-test", firstID(t, es)))
	if !strings.Contains(src, "request") {
		t.Errorf("document %s", src)
	}
}

// runRsyslog ships lines log lines through rsyslog's omelasticsearch in
// bulk mode to esgate at addr, with the action's extra parameters, and
// waits until index holds them all, rsyslog reports a failed request in
// its error file, or 45 s pass. It returns the count and rsyslog's output
// and error file.
func runRsyslog(t *testing.T, es *esserver.Server, addr, params, index string, lines int) (int, string) {
	t.Helper()
	need(t, "/usr/sbin/rsyslogd")
	need(t, "/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "work"), 0o755)
	var in bytes.Buffer
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&in, "app[%d]: request %d served in %dms\n", 100+i%7, i, i%97)
	}
	inFile := filepath.Join(dir, "in.log")
	os.WriteFile(inFile, in.Bytes(), 0o644)
	host, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf(`
global(workDirectory="%s/work")
module(load="imfile")
module(load="omelasticsearch")
template(name="es-json" type="list" option.json="on") {
  constant(value="{\"@timestamp\":\"") property(name="timereported" dateFormat="rfc3339")
  constant(value="\",\"message\":\"") property(name="msg") constant(value="\"}") }
input(type="imfile" File="%s" Tag="test:")
action(type="omelasticsearch" server="%s" serverport="%s" usehttps="off"
       searchIndex="%s" template="es-json" bulkmode="on" %s
       errorfile="%s/es-errors.log")
`, dir, inFile, host, port, index, params, dir)
	confFile := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(confFile, []byte(conf), 0o644)
	if out, err := exec.Command("/usr/sbin/rsyslogd", "-N1", "-f", confFile).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/sbin/rsyslogd", "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslog.pid"))
	out := &syncBuffer{} // rsyslogd writes while this reads
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(catchHang)
	errFile := filepath.Join(dir, "es-errors.log")
	for es.Count(index) < lines && time.Now().Before(deadline) {
		if fi, err := os.Stat(errFile); err == nil && fi.Size() > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	errs, _ := os.ReadFile(errFile)
	return es.Count(index), "rsyslog: " + out.String() + "\nerrors: " + string(errs)
}

func firstID(t *testing.T, es *esserver.Server) string {
	t.Helper()
	id := es.FirstID("rsyslog-test")
	if id == "" {
		t.Fatal("no document")
	}
	return id
}
