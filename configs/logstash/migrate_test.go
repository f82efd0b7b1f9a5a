package logstash

import (
	"strings"
	"testing"
)

// The Logstash security guide's examples (basic authentication, API key
// output and the elasticsearch input) and a pipeline with two outputs to
// two clusters, one of them under a condition.
const guidePipeline = `input {
  elasticsearch {
    hosts => ["https://es01:9200"]
    user => "logstash_user"
    password => "${LOGSTASH_USER_PW}"
    ssl_certificate_authorities => "/etc/logstash/http_ca.crt"
    query => '{ "query": { "match_all": {} } }'
  }
}
output {
  elasticsearch {
    hosts => ["https://es01:9200", "https://es02:9200"]
    user => "logstash_internal"
    password => "x-pack-test-password"
    ssl_certificate_authorities => "/etc/logstash/http_ca.crt"
    ssl_verification_mode => "full"
    index => "logstash-%{+YYYY.MM.dd}"
    timeout => 90
  }
  if [type] == "audit" {
    elasticsearch {
      id => "audit"
      cloud_id => "${AUDIT_CLOUD_ID}"
      api_key => "${AUDIT_API_KEY}"
      data_stream => "true"
    }
  }
}
`

func TestMigrate(t *testing.T) {
	res, err := Migrate([]File{{"pipeline.conf", guidePipeline}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `input {
  elasticsearch {
    hosts => ["http://127.0.0.1:9200"]
    query => '{ "query": { "match_all": {} } }'
  }
}
output {
  elasticsearch {
    hosts => ["http://127.0.0.1:9202"]
    index => "logstash-%{+YYYY.MM.dd}"
    timeout => 90
  }
  if [type] == "audit" {
    elasticsearch {
      id => "audit"
      hosts => ["http://127.0.0.1:9203"]
      data_stream => "true"
    }
  }
}
`
	if got := res.Rewrites["pipeline.conf"]; got != want {
		t.Errorf("rewritten pipeline:\n%s\nwant:\n%s", got, want)
	}
	var routes []string
	for _, r := range res.Routes {
		routes = append(routes, r.Name+" "+r.Listen+" "+r.Policy)
	}
	if g, e := strings.Join(routes, "; "), "input-1 127.0.0.1:9200 read; output-2 127.0.0.1:9202 ingest; audit 127.0.0.1:9203 ingest"; g != e {
		t.Errorf("routes %q; expected %q", g, e)
	}
	if s := res.Routes[1].Settings; s["password"] != "x-pack-test-password" || s["timeout"] != "90" || len(s["hosts"].([]string)) != 2 {
		t.Errorf("output route settings %v", s)
	}
	if s := res.Routes[2].Settings; s["cloud_id"] != "${AUDIT_CLOUD_ID}" || s["api_key"] != "${AUDIT_API_KEY}" {
		t.Errorf("audit route settings %v", s)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "password is written in the pipeline") {
		t.Errorf("warnings %q: expected one for the literal password", res.Warnings)
	}
	y, err := res.ConfigYAML()
	if err != nil || !strings.Contains(string(y), "policy: ingest") || !strings.Contains(string(y), "cloud_id: ${AUDIT_CLOUD_ID}") {
		t.Errorf("config %v:\n%s", err, y)
	}
}

// TestMigrateShares: two outputs with the same connection share a route.
func TestMigrateShares(t *testing.T) {
	src := `output {
  if [a] { elasticsearch { hosts => "https://es:9200" api_key => "${K}" index => "a" } }
  else { elasticsearch { hosts => "https://es:9200" api_key => "${K}" index => "b" } }
}`
	res, err := Migrate([]File{{"p.conf", src}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Routes) != 1 || len(res.Routes[0].Plugins) != 2 {
		t.Fatalf("%d routes", len(res.Routes))
	}
	if strings.Count(res.Rewrites["p.conf"], `hosts => ["http://127.0.0.1:9200"]`) != 2 || strings.Contains(res.Rewrites["p.conf"], "api_key") {
		t.Errorf("rewrite:\n%s", res.Rewrites["p.conf"])
	}
}

// TestMigrateRefuses: what esgate cannot take over is an error naming the
// file, the line and the setting.
func TestMigrateRefuses(t *testing.T) {
	for src, want := range map[string]string{
		`output { elasticsearch { hosts => "http://es:9200" } }`:                       `p.conf:1 output/elasticsearch: hosts "http://es:9200" is plain HTTP`,
		`output { elasticsearch { hosts => "https://es" ssl_enabled => false } }`:      "ssl_enabled => false",
		`output { elasticsearch { hosts => "https://%{[@metadata][cluster]}:9200" } }`: "depends on the event",
		`output { stdout {} }`: "no elasticsearch plugin found",
		`output { elasticsearch { hosts => "https://es" custom_headers => { a => [1] } } }`: "custom_headers: want a hash of strings",
	} {
		_, err := Migrate([]File{{"p.conf", src}}, Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; expected %q", src, err, want)
		}
	}
}
