package esproto

import (
	"strings"
	"testing"
)

func TestParseForbidden(t *testing.T) {
	for _, tt := range []struct {
		body                     string
		ok                       bool
		action, indices, granted string
		hint                     string
	}{
		{`{"error":{"type":"security_exception","reason":"action [cluster:admin/ilm/put] is unauthorized for API key id [k] of user [elastic], this action is granted by the cluster privileges [manage_ilm,manage,all]"},"status":403}`,
			true, "cluster:admin/ilm/put", "", "manage_ilm,manage,all", "cannot manage ILM"},
		{`{"error":{"type":"security_exception","reason":"action [indices:admin/auto_create] is unauthorized for user [u] with effective roles [r] on indices [ecs-logstash-2026.12.01], this action is granted by the index privileges [auto_configure,create_index,manage,all]"},"status":403}`,
			true, "indices:admin/auto_create", "ecs-logstash-2026.12.01", "auto_configure,create_index,manage,all", "cannot write to ecs-logstash-2026.12.01"},
		{`{"error":{"type":"security_exception","reason":"action [indices:data/read/search] is unauthorized for user [u], this action is granted by the index privileges [read,all]"},"status":403}`,
			true, "indices:data/read/search", "", "read,all", ""},
		{`{"error":{"type":"esgate_policy_exception","reason":"policy ingest does not allow"},"status":403}`, false, "", "", "", ""},
		{`<html>`, false, "", "", "", ""},
	} {
		f, ok := ParseForbidden([]byte(tt.body))
		if ok != tt.ok || f.Action != tt.action || f.Indices != tt.indices || f.GrantedBy != tt.granted {
			t.Errorf("%s: %+v %v", tt.body, f, ok)
		}
		if h := f.Hint(); tt.hint == "" && h != "" || tt.hint != "" && !strings.Contains(h, tt.hint) {
			t.Errorf("%s: hint %q", tt.action, h)
		}
	}
}

func TestForbiddenItem(t *testing.T) {
	body := `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":403,"error":{"type":"security_exception","reason":"action [indices:admin/auto_create] is unauthorized for API key id [k] of user [elastic] on indices [logstash-2026.12.01], this action is granted by the index privileges [auto_configure,create_index,manage,all]"}}}]}`
	f, ok := ForbiddenItem([]byte(body))
	if !ok || f.Action != "indices:admin/auto_create" || f.Indices != "logstash-2026.12.01" {
		t.Errorf("%+v %v", f, ok)
	}
	if _, ok := ForbiddenItem([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`)); ok {
		t.Error("no 403 item, yet found")
	}
	if _, ok := ForbiddenItem([]byte(`{"reason":"action [x`)); ok {
		t.Error("a cut body parsed")
	}
}

func FuzzParseForbidden(f *testing.F) {
	f.Add([]byte(`{"error":{"reason":"action [a] is unauthorized for x on indices [i], this action is granted by the index privileges [p]"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fb, ok := ParseForbidden(b)
		if !ok && fb != (Forbidden{}) {
			t.Errorf("not ok but %+v", fb)
		}
		_ = fb.Hint()
		ForbiddenItem(b)
	})
}
