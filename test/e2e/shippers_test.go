package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esgate/esgate/test/esserver"
)

// rubyShipper is a shipper written with Debian's ruby-elasticsearch
// (7.17, the client Fluentd's and Logstash's Ruby plugins build on). It
// sets up what Beats and Logstash set up, through the client's API calls
// (its low-level perform_request for the data stream API, which the
// Debian package's gem, without elasticsearch-xpack, lacks): a data stream from an index template (GET 404, then PUT), and
// an ILM-style write alias on a date-math index; it bulk-writes through
// both, rolls both over, writes again, and reads the node statistics.
const rubyShipper = `
require "elasticsearch"
url, n = ARGV[0], ARGV[1].to_i
es = Elasticsearch::Client.new(url: url, transport_options: { request: { timeout: 60 } })
puts "version #{es.info["version"]["number"]}"
def batch(es, n, action)
  errors = 0
  (0...n).each_slice(100) do |s|
    body = s.flat_map { |i| [action, { "@timestamp" => "2026-12-05T00:00:00Z", "message" => "event #{i}" }] }
    r = es.bulk(body: body)
    errors += r["items"].count { |it| it.values.first["status"] >= 300 }
  end
  errors
end

# Data stream.
es.indices.put_index_template(name: "rb-ds", body: { index_patterns: ["rb-ds-*"], data_stream: {}, priority: 200 })
begin
  es.perform_request("GET", "_data_stream/rb-ds-app")
  puts "stream existed"
rescue Elasticsearch::Transport::Transport::Errors::NotFound
  puts "stream missing"
end
es.perform_request("PUT", "_data_stream/rb-ds-app")
e1 = batch(es, n, { "create" => { "_index" => "rb-ds-app" } })
ro = es.indices.rollover(alias: "rb-ds-app")
e2 = batch(es, n, { "index" => { "_index" => "rb-ds-app", "op_type" => "create" } })
ds = es.perform_request("GET", "_data_stream/rb-ds-*").body["data_streams"].first
puts "stream #{ds["name"]} generation #{ds["generation"]} rolled #{ro["new_index"]} errors #{e1 + e2}"

# Write alias, Beats 7.x ILM style.
puts "alias exists #{es.indices.exists_alias(name: "rb-alias")}"
es.indices.create(index: "<rb-alias-{now/d}-000001>", body: { aliases: { "rb-alias" => { is_write_index: true } } })
e1 = batch(es, n, { "index" => { "_index" => "rb-alias" } })
ro = es.indices.rollover(alias: "rb-alias")
e2 = batch(es, n, { "create" => { "_index" => "rb-alias" } })
al = es.indices.get_alias(name: "rb-alias")
writes = al.select { |_, v| v["aliases"]["rb-alias"]["is_write_index"] }.keys
puts "alias indices #{al.keys.sort.join(",")} write #{writes.join(",")} rolled #{ro["rolled_over"]} errors #{e1 + e2}"

# Node statistics: refused on an ingest route.
begin
  es.nodes.stats(node_id: "_local", metric: "indices")
  puts "node stats allowed"
rescue Elasticsearch::Transport::Transport::Errors::Forbidden
  puts "node stats forbidden"
end
`

// TestRubyShipperDataStreamsAndAliases drives ruby-elasticsearch through
// an esgate route with policy ingest, on ES 8 and 9: every event of the
// data stream and of the write alias arrives, in the backing or rolled
// index ES would put it in.
func TestRubyShipperDataStreamsAndAliases(t *testing.T) {
	need(t, "/usr/bin/ruby")
	need(t, "/usr/lib/ruby/vendor_ruby/elasticsearch.rb")
	const n = 500
	for _, v := range []string{"8.15.3", "9.1.5"} {
		t.Run("ES "+v, func(t *testing.T) {
			es, ca := esserver.StartT(t, esserver.Options{Version: v})
			_, _, key := es.CreateAPIKey("elastic", "ruby-shipper", 0, map[string]esserver.Role{"shipper": {
				Cluster: []string{"monitor", "manage_index_templates", "manage_ilm"},
				Indices: []esserver.IndexPrivileges{{Names: []string{"rb-*"}, Privileges: []string{"create_doc", "index", "create_index", "view_index_metadata", "manage"}}},
			}})
			p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--policy", "ingest")
			out, err := exec.Command("/usr/bin/ruby", "-e", rubyShipper, p.URL, strconv.Itoa(n)).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			day := time.Now().UTC().Format("2006.01.02")
			for _, want := range []string{
				"version " + v + "\n",
				"stream missing\n",
				fmt.Sprintf("stream rb-ds-app generation 2 rolled .ds-rb-ds-app-%s-000002 errors 0\n", day),
				"alias exists false\n",
				fmt.Sprintf("alias indices rb-alias-%[1]s-000001,rb-alias-%[1]s-000002 write rb-alias-%[1]s-000002 rolled true errors 0\n", day),
				"node stats forbidden\n",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if got := es.Count("rb-ds-app"); got != 2*n {
				t.Errorf("data stream: %d of %d events arrived", got, 2*n)
			}
			first, second := fmt.Sprintf("rb-alias-%s-000001", day), fmt.Sprintf("rb-alias-%s-000002", day)
			if a, b := es.Count(first), es.Count(second); a != n || b != n {
				t.Errorf("alias: %d events in %s, %d in %s; want %d each", a, first, b, second, n)
			}
		})
	}
}

// TestPrometheusExporterNodeStats runs Debian's
// prometheus-elasticsearch-exporter against an esgate route with policy
// monitoring, on ES 8 and 9: its node statistics and cluster health
// collectors succeed, and the documents it reports indexed are exactly
// the ones the server received.
func TestPrometheusExporterNodeStats(t *testing.T) {
	const bin = "/usr/bin/prometheus-elasticsearch-exporter"
	need(t, bin)
	for _, v := range []string{"8.15.3", "9.1.5"} {
		t.Run("ES "+v, func(t *testing.T) {
			es, ca := esserver.StartT(t, esserver.Options{Version: v})
			_, _, key := es.CreateAPIKey("elastic", "exporter", 0, map[string]esserver.Role{"monitor": {Cluster: []string{"monitor"}}})
			p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--policy", "monitoring")
			// Traffic the exporter must see: 1234 documents straight to the server.
			if code, body := esPost(t, es, ca, "/_bulk", strings.Repeat("{\"create\":{\"_index\":\"logs-app-default\"}}\n{\"@timestamp\":\"2026-12-05T00:00:00Z\"}\n", 1234)); code != 200 || strings.Contains(body, `"errors":true`) {
				t.Fatalf("bulk: %d %s", code, body)
			}
			listen := freePort(t)
			cmd := exec.Command(bin, "--es.uri="+p.URL, "--web.listen-address="+listen, "--es.timeout=30s", "--log.output=stderr")
			var logs syncBuffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			var metrics map[string]float64
			deadline := time.Now().Add(60 * time.Second)
			for {
				metrics = scrapeExporter(t, "http://"+listen+"/metrics")
				if metrics != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no metrics from the exporter\n%s", logs.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
			for name, want := range map[string]float64{
				`elasticsearch_node_stats_up`:                 1,
				`elasticsearch_cluster_health_up`:             1,
				`elasticsearch_indices_indexing_index_total{`: 1234, // summed over its series (one node)
				`elasticsearch_indices_docs{`:                 1234,
			} {
				got, ok := metrics[name]
				if !ok {
					t.Errorf("no %s in the exporter's metrics\n%s", name, logs.String())
				} else if got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if es.Stats().Forbidden != 0 {
				t.Errorf("%d requests refused by the server", es.Stats().Forbidden)
			}
		})
	}
}

// esPost sends body to the server directly, as elastic.
func esPost(t *testing.T, es *esserver.Server, ca, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", es.URL+path, strings.NewReader(body))
	req.SetBasicAuth("elastic", "changeme")
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := tlsClient(t, ca).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// scrapeExporter reads a Prometheus text exposition into name{labels} -> value,
// also keeping each series under its bare name and under "name{" (the
// sum of its series); nil until the exporter answers.
func scrapeExporter(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		io.Copy(io.Discard, res.Body)
		return nil
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		out[series] = v
		if j := strings.IndexByte(series, '{'); j >= 0 {
			out[series[:j+1]] += v
			out[series[:j]] = v
		}
	}
	return out
}

// TestNodeLoggingTransports drives two logging transports from npm
// through esgate (policy ingest) on ES 8 and 9, every event counted:
// pino-elasticsearch's bulk helper writes {"index":{…,"op_type":"create"}}
// into a data stream; winston-elasticsearch puts an extra top-level
// "attempts" key after each action object, which ES 8 and ES 9 under the
// client's compatible-with=8 accept with a deprecation Warning (ES 9's
// own REST API version refuses it: TestBulkActionLines).
func TestNodeLoggingTransports(t *testing.T) {
	dir, _ := filepath.Abs("node")
	for _, pkg := range []string{"pino-elasticsearch", "winston-elasticsearch", "winston"} {
		need(t, filepath.Join(dir, "node_modules", pkg, "package.json"))
	}
	const n = 1000
	for _, v := range []string{"8.15.3", "9.1.5"} {
		for _, tc := range []struct{ kind, index, count string }{
			{"pino", "logs-pino-default", "logs-pino-default"},
			{"winston", "winston-app", "winston-app"},
		} {
			t.Run(tc.kind+" ES "+v, func(t *testing.T) {
				es, ca := esserver.StartT(t, esserver.Options{Version: v})
				var bulkType atomic.Value
				es.OnRequest(func(r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/_bulk") {
						bulkType.Store(r.Header.Get("Content-Type"))
					}
				})
				_, _, key := es.CreateAPIKey("elastic", "transport", 0, map[string]esserver.Role{"writer": {
					Cluster: []string{"monitor", "manage_index_templates"},
					Indices: []esserver.IndexPrivileges{{Names: []string{tc.index + "*"}, Privileges: []string{"create_doc", "index", "auto_configure", "view_index_metadata", "maintenance"}}},
				}})
				// pino's bulk helper refreshes its index when done: one
				// policy rule beside the ingest profile.
				p := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key,
					"--policy", "ingest", "--policy-rules", "allow GET /*/_refresh")
				out, err := exec.Command("node", filepath.Join(dir, "transports.mjs"), tc.kind, p.URL, tc.index, strconv.Itoa(n)).CombinedOutput()
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				var res struct {
					Bulk   *struct{ Total, Successful, Failed int } `json:"bulk"`
					Errors []string                                 `json:"errors"`
					Left   int                                      `json:"left"`
					Error  string                                   `json:"error"`
				}
				if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil || res.Error != "" || len(res.Errors) > 0 || res.Left != 0 ||
					tc.kind == "pino" && (res.Bulk == nil || res.Bulk.Successful != n || res.Bulk.Failed != 0) {
					t.Errorf("transport reports: %s", out)
				}
				if got := es.Count(tc.count); got != n {
					t.Errorf("%d of %d events arrived", got, n)
				}
				if ct, _ := bulkType.Load().(string); !strings.Contains(ct, "compatible-with=8") {
					t.Errorf("bulk Content-Type %q: the lenient parsing this test relies on is compat-8's", ct)
				}
			})
		}
	}
}

// perlShipper uses Debian's libsearch-elasticsearch-perl (8.00) and its
// native API: a data stream (get_data_stream 404, then
// create_data_stream from an index template), its bulk helper's
// create_docs, rollover, and then the node statistics through a second
// route whose policy is monitoring.
const perlShipper = `
use strict; use warnings;
use Search::Elasticsearch;
my ($ingest, $monitor, $n) = @ARGV;
my $es = Search::Elasticsearch->new(nodes => $ingest, client => '8_0::Direct', request_timeout => 60);
print "version ", $es->info->{version}{number}, "\n";
$es->indices->put_index_template(name => 'pl-ds', body => { index_patterns => ['pl-ds-*'], data_stream => {}, priority => 200 });
eval { $es->indices->get_data_stream(name => 'pl-ds-app'); print "stream existed\n"; 1 }
  or print "stream missing: ", (ref $@ ? $@->{type} : $@), "\n";
$es->indices->create_data_stream(name => 'pl-ds-app');
my $errors = 0;
for my $round (1, 2) {
  my $bulk = $es->bulk_helper(index => 'pl-ds-app', max_count => 100, on_error => sub { $errors++ });
  $bulk->create_docs(map { { '@timestamp' => '2026-12-05T00:00:00Z', message => "perl event $round $_" } } 1 .. $n);
  $bulk->flush;
  $es->indices->rollover(alias => 'pl-ds-app') if $round == 1;
}
my $ds = $es->indices->get_data_stream(name => 'pl-ds-app')->{data_streams}[0];
print "stream $ds->{name} generation $ds->{generation} errors $errors\n";
my $mon = Search::Elasticsearch->new(nodes => $monitor, client => '8_0::Direct');
my $stats = $mon->nodes->stats(node_id => '_local', metric => 'indices');
my ($node) = values %{ $stats->{nodes} };
print "index_total $node->{indices}{indexing}{index_total}\n";
`

// TestPerlShipperDataStreamAndNodeStats drives libsearch-elasticsearch-perl
// through two esgate routes (policy ingest, then monitoring) on ES 8 and
// 9: every event of the data stream arrives, and the node statistics it
// reads count exactly those events.
func TestPerlShipperDataStreamAndNodeStats(t *testing.T) {
	need(t, "/usr/bin/perl")
	need(t, "/usr/share/perl5/Search/Elasticsearch/Client/8_0/Direct.pm")
	const n = 400
	for _, v := range []string{"8.15.3", "9.1.5"} {
		t.Run("ES "+v, func(t *testing.T) {
			es, ca := esserver.StartT(t, esserver.Options{Version: v})
			_, _, key := es.CreateAPIKey("elastic", "perl-shipper", 0, map[string]esserver.Role{"shipper": {
				Cluster: []string{"monitor", "manage_index_templates"},
				Indices: []esserver.IndexPrivileges{{Names: []string{"pl-*"}, Privileges: []string{"create_doc", "create_index", "view_index_metadata", "manage"}}},
			}})
			ingest := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--policy", "ingest")
			monitor := startEsgate(t, []string{key}, "--hosts", es.URL, "--ssl-certificate-authorities", ca, "--api-key", key, "--policy", "monitoring")
			out, err := exec.Command("/usr/bin/perl", "-e", perlShipper, ingest.URL, monitor.URL, strconv.Itoa(n)).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, want := range []string{
				"version " + v + "\n",
				"stream missing: Missing\n",
				"stream pl-ds-app generation 2 errors 0\n",
				fmt.Sprintf("index_total %d\n", 2*n),
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if got := es.Count("pl-ds-app"); got != 2*n {
				t.Errorf("%d of %d events arrived", got, 2*n)
			}
		})
	}
}
