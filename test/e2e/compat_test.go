package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esgate/esgate/test/esserver"
)

// TestRESTAPICompatibility7: 7.x-era clients that send typed requests
// (curl with a typed bulk URL or _type in action lines, python3-
// elasticsearch 7.17 with doc_type, rsyslog with searchType) work through
// a route with rest_api_compatibility: 7 against Elasticsearch 8, and get
// ES 8's own 400 through a plain route. Against Elasticsearch 9, which has
// no compatibility with 7, check fails naming the key and the version.
func TestRESTAPICompatibility7(t *testing.T) {
	es, ca := esserver.StartT(t, esserver.Options{})
	key := writerKey(es, "legacy*")
	plain := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key)
	compat := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key,
		"--rest-api-compatibility", "7")
	need(t, "/usr/bin/curl")
	dir := t.TempDir()
	typedURL := filepath.Join(dir, "typed-url.ndjson")
	os.WriteFile(typedURL, []byte(`{"index":{"_id":"u1"}}`+"\n"+`{"message":"typed url"}`+"\n"), 0o644)
	typedLines := filepath.Join(dir, "typed-lines.ndjson")
	os.WriteFile(typedLines, []byte(`{"index":{"_index":"legacy-lines","_type":"doc","_id":"l1"}}`+"\n"+`{"message":"typed line"}`+"\n"), 0o644)
	curl := func(base, path, file string) (string, string) {
		out, err := exec.Command("curl", "-sS", "-D", "-", "-XPOST", base+path, "-H", "Content-Type: application/x-ndjson", "--data-binary", "@"+file).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v %s", path, err, out)
		}
		head, body, _ := strings.Cut(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n\n")
		return head, body
	}
	for _, c := range []struct{ path, file, index string }{
		{"/legacy-url/doc/_bulk", typedURL, "legacy-url"},
		{"/_bulk", typedLines, "legacy-lines"},
	} {
		head, body := curl(compat.URL, c.path, c.file)
		if !strings.HasPrefix(head, "HTTP/1.1 200") || !strings.Contains(body, `"_type":"_doc"`) || !strings.Contains(body, `"errors":false`) ||
			!strings.Contains(head, "[types removal] Specifying types in bulk requests is deprecated.") || !strings.Contains(head, "Content-Type: application/json") {
			t.Errorf("compat-7 route, curl %s:\n%s\n%s", c.path, head, body)
		}
		if n := es.Count(c.index); n != 1 {
			t.Errorf("%s: _count %d", c.index, n)
		}
	}
	if head, body := curl(plain.URL, "/legacy-url/doc/_bulk", typedURL); !strings.HasPrefix(head, "HTTP/1.1 400") || !strings.Contains(body, "no handler found for uri [/legacy-url/doc/_bulk] and method [POST]") {
		t.Errorf("plain route, typed URL:\n%s\n%s", head, body)
	}
	if head, body := curl(plain.URL, "/_bulk", typedLines); !strings.HasPrefix(head, "HTTP/1.1 400") || !strings.Contains(body, "Action/metadata line [1] contains an unknown parameter [_type]") {
		t.Errorf("plain route, _type in lines:\n%s\n%s", head, body)
	}

	t.Run("python3-elasticsearch 7.17 with doc_type", func(t *testing.T) {
		need(t, "/usr/lib/python3/dist-packages/elasticsearch/__init__.py")
		script := `
import sys
from elasticsearch import Elasticsearch
es = Elasticsearch(sys.argv[1])
body = "".join('{"index":{"_id":"p%d"}}\n{"message":"python %d"}\n' % (i, i) for i in range(50))
try:
    r = es.bulk(body=body, index="legacy-py-" + sys.argv[2], doc_type="doc")
    print("errors", r["errors"], "items", len(r["items"]), "type", r["items"][0]["index"].get("_type"))
except Exception as e:
    print("failed", e)
`
		for _, c := range []struct{ route, name, want string }{
			{compat.URL, "compat", "errors False items 50 type _doc"},
			{plain.URL, "plain", "failed RequestError(400, 'no handler found for uri [/legacy-py-plain/doc/_bulk] and method [POST]'"},
		} {
			out, err := exec.Command("/usr/bin/python3", "-c", script, c.route, c.name).CombinedOutput()
			if err != nil || !strings.Contains(string(out), c.want) {
				t.Errorf("%s route: %v\n%s\nwant %q", c.name, err, out, c.want)
			}
		}
		if n := es.Count("legacy-py-compat"); n != 50 {
			t.Errorf("legacy-py-compat: _count %d", n)
		}
	})

	t.Run("rsyslog with searchType", func(t *testing.T) {
		const lines = 200
		if n, diag := runRsyslog(t, es, compat.addr, `searchType="events" esVersion.major="7"`, "legacy-rsyslog", lines); n != lines {
			t.Errorf("compat-7 route: %d of %d lines arrived\n%s", n, lines, diag)
		}
		n, diag := runRsyslog(t, es, plain.addr, `searchType="events" esVersion.major="7"`, "legacy-rsyslog-plain", lines)
		if n != 0 || !strings.Contains(diag, "unknown parameter [_type]") {
			t.Errorf("plain route: %d lines arrived; want ES 8's 400 in rsyslog's error file\n%s", n, diag)
		}
	})

	t.Run("Elasticsearch 9 has no compatibility with 7", func(t *testing.T) {
		es9, ca9 := esserver.StartT(t, esserver.Options{Version: "9.1.5"})
		key9 := writerKey(es9, "legacy*")
		out, code := runBin(t, "check", "--hosts", es9.URL, "--ssl-certificate-authorities", ca9, "--api-key", key9, "--rest-api-compatibility", "7")
		if code == 0 || !strings.Contains(out, "rest_api_compatibility: 7 needs Elasticsearch 8, and this cluster is Elasticsearch 9.1.5") {
			t.Errorf("check against 9.x: exit %d\n%s", code, out)
		}
		out, code = runBin(t, "check", "--hosts", es9.URL, "--ssl-certificate-authorities", ca9, "--api-key", key9)
		if code != 0 || !strings.Contains(out, "Elasticsearch 9.1.5 (major 9, build flavor default)") {
			t.Errorf("check against 9.x without compat: exit %d\n%s", code, out)
		}
	})

	out, code := runBin(t, "serve", "--hosts", es.URL, "--api-key", key, "--rest-api-compatibility", "8")
	if code != 2 || !strings.Contains(out, "rest_api_compatibility: want 7") {
		t.Errorf("rest_api_compatibility 8: exit %d\n%s", code, out)
	}
}
