package esserver

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var day = time.Date(2026, 12, 5, 23, 30, 0, 0, time.FixedZone("UTC+5", 5*3600)) // 2026.12.05 in UTC

type step struct {
	method, path, body string
	status             int
	want               string // exact body, or a substring when it starts with "~"
}

func runSteps(t *testing.T, c *tc, hdr []string, steps []step) {
	t.Helper()
	for i, st := range steps {
		h := hdr
		if st.body != "" {
			h = with(hdr, "Content-Type", "application/json")
		}
		res, body := c.call(st.method, st.path, st.body, h...)
		ok := res.StatusCode == st.status
		if strings.HasPrefix(st.want, "~") {
			ok = ok && strings.Contains(body, st.want[1:])
		} else if st.want != "" {
			ok = ok && body == st.want
		}
		if !ok {
			t.Errorf("step %d %s %s: %d %s\nwant %d %s", i, st.method, st.path, res.StatusCode, body, st.status, st.want)
		}
	}
}

func notFound(name string) string {
	r := `{"type":"index_not_found_exception","reason":"no such index [` + name + `]","resource.type":"index_or_alias","resource.id":"` + name + `","index_uuid":"_na_","index":"` + name + `"}`
	return `{"error":{"root_cause":[` + r + `],` + r[1:len(r)-1] + `},"status":404}`
}

// TestDataStreamAPI: what Filebeat 8/9 and a client's data stream helpers
// do, on ES 8 and 9: GET 404, PUT (needs a data_stream template), bulk
// create, GET with wildcards, rollover, DELETE.
func TestDataStreamAPI(t *testing.T) {
	for _, v := range []string{"8.15.3", "9.1.5"} {
		c := newTC(t, Options{Version: v, Now: func() time.Time { return day }})
		runSteps(t, c, elastic, []step{
			{"GET", "/_data_stream/filebeat-8.17.0", "", 404, notFound("filebeat-8.17.0")},
			{"PUT", "/_data_stream/filebeat-8.17.0", "", 400, `~"reason":"no matching index template found for data stream [filebeat-8.17.0]"`},
			{"PUT", "/_index_template/filebeat-8.17.0", `{"index_patterns":["filebeat-8.17.0"],"data_stream":{},"priority":150}`, 200, `{"acknowledged":true}`},
			{"PUT", "/_data_stream/filebeat-8.17.0", "", 200, `{"acknowledged":true}`},
			{"PUT", "/_data_stream/filebeat-8.17.0", "", 400, `~"type":"resource_already_exists_exception","reason":"data_stream [filebeat-8.17.0] already exists"`},
			{"GET", "/_data_stream/filebeat-8.17.0?filter_path=data_streams.name,data_streams.generation,data_streams.template,data_streams.indices.index_name", "", 200,
				`{"data_streams":[{"name":"filebeat-8.17.0","indices":[{"index_name":".ds-filebeat-8.17.0-2026.12.05-000001"}],"generation":1,"template":"filebeat-8.17.0"}]}`},
			{"POST", "/_bulk?filter_path=items.*._index,items.*.status", "{\"create\":{\"_index\":\"filebeat-8.17.0\"}}\n{\"@timestamp\":\"2026-12-05T00:00:00Z\"}\n", 200,
				`{"items":[{"create":{"_index":".ds-filebeat-8.17.0-2026.12.05-000001","status":201}}]}`},
			{"POST", "/filebeat-8.17.0/_rollover", "", 200,
				`{"acknowledged":true,"shards_acknowledged":true,"old_index":".ds-filebeat-8.17.0-2026.12.05-000001","new_index":".ds-filebeat-8.17.0-2026.12.05-000002","rolled_over":true,"dry_run":false,"lazy":false,"conditions":{}}`},
			{"POST", "/_bulk?filter_path=items.*._index", "{\"index\":{\"_index\":\"filebeat-8.17.0\",\"op_type\":\"create\"}}\n{\"@timestamp\":\"2026-12-05T00:00:01Z\"}\n", 200,
				`{"items":[{"create":{"_index":".ds-filebeat-8.17.0-2026.12.05-000002"}}]}`},
			// Auto-created by a bulk create through the built-in logs template.
			{"POST", "/_bulk?filter_path=errors", "{\"create\":{\"_index\":\"logs-app-default\"}}\n{\"@timestamp\":\"2026-12-05T00:00:00Z\"}\n", 200, `{"errors":false}`},
			{"GET", "/_data_stream/*?filter_path=data_streams.name,data_streams.generation", "", 200,
				`{"data_streams":[{"name":"filebeat-8.17.0","generation":2},{"name":"logs-app-default","generation":1}]}`},
			{"GET", "/_data_stream/nomatch-*", "", 200, `{"data_streams":[]}`},
			{"GET", "/_data_stream/logs-app-default,missing", "", 404, notFound("missing")},
			{"PUT", "/logs-app-other", "", 400, `~cannot create index with name [logs-app-other], because it matches with template [logs] that creates data streams only, use create data stream api instead`},
			{"DELETE", "/_data_stream/filebeat-8.17.0", "", 200, `{"acknowledged":true}`},
			{"DELETE", "/_data_stream/filebeat-8.17.0", "", 404, notFound("filebeat-8.17.0")},
			{"POST", "/_data_stream/x", "", 405, `{"error":"Incorrect HTTP method for uri [/_data_stream/x] and method [POST], allowed: [GET, DELETE, PUT]","status":405}`},
		})
		if n := c.s.Count("logs-app-default"); n != 1 {
			t.Errorf("%s: count %d", v, n)
		}
	}
}

// TestAliasesAndRollover: Filebeat 7.17's ILM bootstrap (GET /_alias, a
// date-math index with a write alias, bulk through the alias, rollover)
// and the alias API's answers, on ES 8 and 9.
func TestAliasesAndRollover(t *testing.T) {
	for _, v := range []string{"8.15.3", "9.1.5"} {
		c := newTC(t, Options{Version: v, Now: func() time.Time { return day }})
		const first, second = "filebeat-7.17.28-2026.12.05-000001", "filebeat-7.17.28-2026.12.05-000002"
		runSteps(t, c, elastic, []step{
			{"GET", "/_alias/filebeat-7.17.28", "", 404, `{"error":"alias [filebeat-7.17.28] missing","status":404}`},
			{"HEAD", "/_alias/filebeat-7.17.28", "", 404, ""},
			{"PUT", "/%3Cfilebeat-7.17.28-%7Bnow%2Fd%7D-000001%3E", `{"aliases":{"filebeat-7.17.28":{"is_write_index":true}}}`, 200,
				`{"acknowledged":true,"shards_acknowledged":true,"index":"` + first + `"}`},
			{"HEAD", "/_alias/filebeat-7.17.28", "", 200, ""},
			{"GET", "/_alias/filebeat-7.17.28", "", 200, `{"` + first + `":{"aliases":{"filebeat-7.17.28":{"is_write_index":true}}}}`},
			{"GET", "/" + first + "/_alias", "", 200, `{"` + first + `":{"aliases":{"filebeat-7.17.28":{"is_write_index":true}}}}`},
			{"GET", "/_alias/filebeat-7.17.28,nope", "", 404, `{"error":"alias [nope] missing","status":404,"` + first + `":{"aliases":{"filebeat-7.17.28":{"is_write_index":true}}}}`},
			{"GET", "/nope/_alias", "", 404, notFound("nope")},
			{"POST", "/_bulk?filter_path=items.*._index,items.*.status", "{\"index\":{\"_index\":\"filebeat-7.17.28\"}}\n{\"m\":1}\n", 200,
				`{"items":[{"index":{"_index":"` + first + `","status":201}}]}`},
			{"POST", "/filebeat-7.17.28/_doc?filter_path=_index,result", `{"m":2}`, 201, `{"_index":"` + first + `","result":"created"}`},
			{"POST", "/filebeat-7.17.28/_rollover", `{"conditions":{"max_docs":5}}`, 200,
				`{"acknowledged":false,"shards_acknowledged":false,"old_index":"` + first + `","new_index":"` + second + `","rolled_over":false,"dry_run":false,"lazy":false,"conditions":{"[max_docs: 5]":false}}`},
			{"POST", "/filebeat-7.17.28/_rollover", "", 200,
				`{"acknowledged":true,"shards_acknowledged":true,"old_index":"` + first + `","new_index":"` + second + `","rolled_over":true,"dry_run":false,"lazy":false,"conditions":{}}`},
			{"GET", "/_alias/filebeat-7.17.28", "", 200, `{"` + first + `":{"aliases":{"filebeat-7.17.28":{"is_write_index":false}}},"` + second + `":{"aliases":{"filebeat-7.17.28":{"is_write_index":true}}}}`},
			{"POST", "/_bulk?filter_path=items.*._index", "{\"create\":{\"_index\":\"filebeat-7.17.28\"}}\n{\"m\":3}\n", 200, `{"items":[{"create":{"_index":"` + second + `"}}]}`},
			{"GET", "/filebeat-7.17.28/_count?filter_path=count", "", 200, `{"count":3}`},
			{"POST", "/" + first + "/_rollover", "", 400, `~rollover target is a [concrete index] but one of [alias,data_stream] was expected`},
			{"POST", "/ghost/_rollover", "", 400, `~rollover target [ghost] does not exist`},
			// An alias over two indices with no write index: writes fail as ES fails them.
			{"PUT", "/old-a", "", 200, ""},
			{"PUT", "/old-b", "", 200, ""},
			{"POST", "/_aliases", `{"actions":[{"add":{"index":"old-a","alias":"both"}},{"add":{"indices":["old-b"],"alias":"both"}}]}`, 200, `{"acknowledged":true,"errors":false}`},
			{"POST", "/_bulk?filter_path=items.*.error.reason", "{\"index\":{\"_index\":\"both\"}}\n{\"m\":1}\n", 200,
				`{"items":[{"index":{"error":{"reason":"no write index is defined for alias [both]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"}}}]}`},
			{"POST", "/both/_doc", `{"m":1}`, 400, `~"type":"illegal_argument_exception","reason":"no write index is defined for alias [both].`},
			{"POST", "/both/_rollover", "", 400, `~rollover target [both] does not point to a write index`},
			{"POST", "/_aliases", `{"actions":[{"add":{"index":"old-a","alias":"both","is_write_index":true}},{"add":{"index":"old-b","alias":"both","is_write_index":true}}]}`, 400,
				`~"type":"illegal_state_exception","reason":"alias [both] has more than one write index [old-a,old-b]"`},
			{"POST", "/_aliases", `{"actions":[{"remove":{"index":"old-a","alias":"nope"}}]}`, 404, `~"type":"aliases_not_found_exception","reason":"aliases [nope] missing"`},
			{"POST", "/_aliases", `{"actions":[{"add":{"index":"ghost","alias":"x"}}]}`, 404, notFound("ghost")},
			{"POST", "/_bulk?filter_path=items.*.error.reason", "{\"index\":{\"_index\":\"old-a\",\"require_alias\":true}}\n{\"m\":1}\n", 200,
				`{"items":[{"index":{"error":{"reason":"no such index [old-a] and [require_alias] request flag is [true] and [old-a] is not an alias"}}}]}`},
			{"PUT", "/both", "", 400, `~Invalid index name [both], already exists as alias`},
			// One alias action by its own URL.
			{"PUT", "/old-a/_alias/both", `{"is_write_index":true}`, 200, `{"acknowledged":true,"errors":false}`},
			{"POST", "/both/_doc?filter_path=_index", `{"m":1}`, 201, `{"_index":"old-a"}`},
			{"DELETE", "/old-b/_alias/both", "", 200, `{"acknowledged":true,"errors":false}`},
			{"DELETE", "/old-b/_alias/both", "", 404, `~"type":"aliases_not_found_exception","reason":"aliases [both] missing"`},
			{"GET", "/_alias/both", "", 200, `{"old-a":{"aliases":{"both":{"is_write_index":true}}}}`},
		})
	}
}

// TestShipperPrivileges: each call needs the privilege ES's automatons give it.
func TestShipperPrivileges(t *testing.T) {
	c := newTC(t, Options{Now: func() time.Time { return day }})
	c.s.PutRole("writer", Role{Cluster: []string{"monitor"}, Indices: []IndexPrivileges{{Names: []string{"fb-*", "logs-*"}, Privileges: []string{"create_doc", "view_index_metadata", "create_index"}}}})
	c.s.PutRole("nothing", Role{})
	c.s.AddUser("w", "password", "writer")
	c.s.AddUser("n", "password", "nothing")
	basic := func(u string) []string {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":password"))}
	}
	runSteps(t, c, elastic, []step{{"PUT", "/_index_template/fb", `{"index_patterns":["fb-ds"],"data_stream":{},"priority":150}`, 200, ""}})
	runSteps(t, c, basic("w"), []step{
		{"PUT", "/_data_stream/fb-ds", "", 200, `{"acknowledged":true}`},
		{"GET", "/_data_stream/fb-ds?filter_path=data_streams.name", "", 200, `{"data_streams":[{"name":"fb-ds"}]}`},
		{"DELETE", "/_data_stream/fb-ds", "", 403, `~action [indices:admin/data_stream/delete] is unauthorized for user [w] with effective roles [writer] on indices [fb-ds], this action is granted by the index privileges [delete_index,manage,all]`},
		{"PUT", "/%3Cfb-%7Bnow%2Fd%7D-000001%3E", `{"aliases":{"fb":{"is_write_index":true}}}`, 200, ""},
		{"GET", "/_alias/fb-x", "", 404, ""},
		{"POST", "/fb/_rollover", "", 403, `~action [indices:admin/rollover] is unauthorized for user [w] with effective roles [writer] on indices [fb], this action is granted by the index privileges [manage,all]`},
		{"POST", "/_aliases", `{"actions":[{"add":{"index":"fb-2026.12.05-000001","alias":"fb-y"}}]}`, 403, `~action [indices:admin/aliases] is unauthorized`},
		{"GET", "/_nodes/_local/stats/http", "", 200, ""},
	})
	runSteps(t, c, basic("n"), []step{
		{"GET", "/_nodes/stats", "", 403, `~action [cluster:monitor/nodes/stats] is unauthorized for user [n] with effective roles [nothing], this action is granted by the cluster privileges [monitor,manage,all]`},
		{"GET", "/_data_stream/fb-ds", "", 403, `~action [indices:admin/data_stream/get] is unauthorized for user [n] with effective roles [nothing] on indices [fb-ds], this action is granted by the index privileges [view_index_metadata,manage,all]`},
		{"PUT", "/_data_stream/fb-ds", "", 403, `~action [indices:admin/data_stream/create] is unauthorized for user [n] with effective roles [nothing] on indices [fb-ds], this action is granted by the index privileges [create_index,manage,all]`},
		{"GET", "/_alias/fb", "", 403, `~action [indices:admin/aliases/get] is unauthorized`},
	})
}

// TestNodeStats: the node statistics routes, sections and field names,
// numbers that follow the traffic, and unknown metrics refused.
func TestNodeStats(t *testing.T) {
	for _, v := range []string{"8.15.3", "9.1.5"} {
		c := newTC(t, Options{Version: v})
		for _, path := range []string{"/_nodes/stats", "/_nodes/_local/stats", "/_nodes/_all/stats", "/_nodes/" + nodeID + "/stats", "/_nodes/es01/stats"} {
			res, body := c.call("GET", path, "", elastic...)
			var got struct {
				Nodes map[string]map[string]json.RawMessage `json:"nodes"`
			}
			json.Unmarshal([]byte(body), &got)
			n := got.Nodes[nodeID]
			if res.StatusCode != 200 || n == nil {
				t.Fatalf("%s %s: %d %s", v, path, res.StatusCode, body)
			}
			for _, sec := range []string{"name", "host", "roles", "indices", "os", "process", "jvm", "thread_pool", "fs", "transport", "http", "breakers", "ingest", "indexing_pressure"} {
				if n[sec] == nil {
					t.Errorf("%s %s: no %s", v, path, sec)
				}
			}
		}
		stat := func(path string) map[string]any {
			_, body := c.call("GET", path, "", elastic...)
			var got struct {
				Nodes map[string]map[string]any `json:"nodes"`
			}
			json.Unmarshal([]byte(body), &got)
			return got.Nodes[nodeID]
		}
		num := func(m map[string]any, path ...string) float64 {
			var cur any = m
			for _, p := range path {
				cur, _ = cur.(map[string]any)[p]
			}
			f, _ := cur.(float64)
			return f
		}
		before := stat("/_nodes/_local/stats/indices,http")
		if len(before) != 9 { // timestamp, name, transport_address, host, ip, roles, attributes + the two asked for
			t.Errorf("%s: metric filter gave %d keys", v, len(before))
		}
		c.call("POST", "/_bulk", strings.Repeat("{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}\n", 7), with(elastic, "Content-Type", "application/x-ndjson")...)
		after := stat("/_nodes/stats/indices,http")
		if d := num(after, "indices", "indexing", "index_total") - num(before, "indices", "indexing", "index_total"); d != 7 {
			t.Errorf("%s: index_total moved by %v", v, d)
		}
		if num(after, "indices", "docs", "count") != 7 || num(after, "http", "total_opened") < 1 {
			t.Errorf("%s: docs %v total_opened %v", v, num(after, "indices", "docs", "count"), num(after, "http", "total_opened"))
		}
		runSteps(t, c, elastic, []step{
			{"GET", "/_nodes/stats/nope", "", 400, `~"reason":"request [/_nodes/stats/nope] contains unrecognized metric: [nope]"`},
			{"GET", "/_nodes/other/stats", "", 200, `{"_nodes":{"total":0,"successful":0,"failed":0},"cluster_name":"esgate-test","nodes":{}}`},
			{"GET", "/_nodes/stats/breaker?filter_path=nodes.*.breakers.parent.overhead", "", 200, `{"nodes":{"` + nodeID + `":{"breakers":{"parent":{"overhead":1}}}}}`},
		})
	}
}
