package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAnswersThatListFewerItems: a 200 whose bulk answer lists fewer
// items than the request had actions acknowledges only those listed; the
// rest are reported as their own item error, not as a silent success.
func TestAnswersThatListFewerItems(t *testing.T) {
	batch := Batch{Raw: []byte("{\"create\":{}}\n{}\n{\"create\":{}}\n{}\n"), Events: 2}
	batch.Wire = batch.Raw
	for _, tc := range []struct {
		answer         string
		acked, missing int64
	}{
		{`{"took":1,"errors":false,"items":[]}`, 0, 2},
		{`{"took":1,"errors":false,"items":[{"create":{"status":201}}]}`, 1, 1},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, tc.answer)
		}))
		defer srv.Close()
		res, err := Run(context.Background(), Options{Target: srv.URL, Client: srv.Client(), Clients: 1,
			Events: 10, Batches: []Batch{batch}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Errors != res.Requests {
			t.Errorf("%q: %d errors in %d requests", tc.answer, res.Errors, res.Requests)
		}
		if got := res.ItemErrors[missingItems]; got != tc.missing*res.Requests || res.Events != tc.acked*res.Requests {
			t.Errorf("%q: %d acknowledged, %d reported %q, for %d requests", tc.answer, res.Events, got, missingItems, res.Requests)
		}
	}
}
