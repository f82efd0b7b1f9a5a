package logstash

import (
	"strings"
	"testing"
)

const sample = `# Logstash pipeline
input {
  beats { port => 5044 }
}
filter {
  if [type] == "nginx" and [path] =~ /\/var\/log\/{nginx}/ {
    grok { match => { "message" => "%{COMBINEDAPACHELOG}" } }
  } else if "x" in [tags] {
    mutate { add_tag => ["a", 'b'] }
  } else {
    drop { }
  }
}
output {
  elasticsearch {
    hosts => ["https://es01:9200", "https://es02:9200"]   # two nodes
    user => "logstash_internal"
    password => "${LS_PW}"
    ssl_certificate_authorities => "/etc/ls/ca.crt"
    index => "logstash-%{+YYYY.MM.dd}"
    codec => json { charset => "UTF-8" }
    retry_max_interval => 64
    "quoted name" => 'it\'s'
  }
  stdout { codec => rubydebug }
}
`

func TestParse(t *testing.T) {
	cfg, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range cfg.Plugins {
		names = append(names, p.Section+"/"+p.Name)
	}
	if g, e := strings.Join(names, " "), "input/beats filter/grok filter/mutate filter/drop output/elasticsearch output/stdout"; g != e {
		t.Fatalf("plugins %q; expected %q", g, e)
	}
	es := cfg.Plugins[4]
	hosts, ok := es.Attr("hosts").Value.Strings()
	if !ok || strings.Join(hosts, ",") != "https://es01:9200,https://es02:9200" {
		t.Errorf("hosts %v", hosts)
	}
	if es.Attr("password").Value.Str != "${LS_PW}" || es.Attr("retry_max_interval").Value.Str != "64" {
		t.Errorf("password %q retry %q", es.Attr("password").Value.Str, es.Attr("retry_max_interval").Value.Str)
	}
	if es.Attr("quoted name").Value.Str != "it's" {
		t.Errorf("escaped quote: %q", es.Attr("quoted name").Value.Str)
	}
	if a := es.Attr("user"); sample[a.Start:a.End] != `user => "logstash_internal"` {
		t.Errorf("attribute span %q", sample[a.Start:a.End])
	}
	if es.Line != 15 || cfg.Plugins[1].Cond != `[type] == "nginx" and [path] =~ /\/var\/log\/{nginx}/` || cfg.Plugins[3].Cond != "else" {
		t.Errorf("line %d, conditions %q %q", es.Line, cfg.Plugins[1].Cond, cfg.Plugins[3].Cond)
	}
	if g := cfg.Plugins[1].Attr("match").Value; g.Kind != Hash || g.Pairs[0].Key != "message" {
		t.Errorf("hash %+v", g)
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		"output { elasticsearch { hosts => } }":               "line 1, column 35: unexpected '}'",
		"outputs { }":                                         "want input, filter or output",
		"output { elasticsearch { hosts \"x\" } }":            "want => after hosts",
		"output { elasticsearch { user => \"x }":              "unterminated string",
		"output {\n  if [a] == 1 \n":                          "missing { after a condition",
		"output { elasticsearch { hosts => [\"a\" \"b\"] } }": "want ','",
	} {
		_, err := Parse(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; expected %q", src, err, want)
		}
	}
}

// FuzzParse: any input either parses or fails with a SyntaxError (no
// panic, no hang), and every span a parse reports lies in the source.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add(`output { if [x] { elasticsearch { hosts => "h" } } else { stdout {} } }`)
	f.Add(`filter { mutate { replace => { "a" => "b" , "c" => ["d", 1, -2.5] } } }`)
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse(src)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		for _, p := range cfg.Plugins {
			if p.Start < 0 || p.End > len(src) || p.Start > p.End {
				t.Fatalf("plugin span %d-%d of %d", p.Start, p.End, len(src))
			}
			for _, a := range p.Attrs {
				if a.Start < p.Start || a.End > p.End || a.Value.Start < a.Start || a.Value.End > a.End {
					t.Fatalf("attribute %s span out of its plugin", a.Name)
				}
			}
		}
	})
}
