package h1

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

var answerSeeds = []string{
	"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-elastic-product: Elasticsearch\r\ncontent-length: 52\r\n\r\n",
	"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"security\" charset=\"UTF-8\"\r\nWWW-Authenticate: ApiKey\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 299 Whatever Reason\r\nWarning: 299 Elasticsearch-8.15.0 \"deprecated\"\r\nContent-Length: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n folded\r\n\r\n",
	"HTTP/1.1  200 OK\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: \x80\r\n\r\n",
}

// checkAnswer fails when ParseAnswer reads an answer otherwise than
// http.ReadResponse does.
func checkAnswer(t *testing.T, raw, method string) bool {
	t.Helper()
	end := headEnd([]byte(raw))
	if end <= 0 {
		return false
	}
	block := raw[:end]
	got, ok := ParseAnswer(block, method)
	if !ok {
		return false
	}
	want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("h1 reads an answer net/http refuses (%v): %q", err, block)
	}
	if want.Body != http.NoBody {
		io.Copy(io.Discard, want.Body)
	}
	want.Body, want.Request = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("h1:\n%#v\nnet/http:\n%#v\nfor %q", got, want, block)
	}
	return true
}

func TestAnswerSeedsAgainstNetHTTP(t *testing.T) {
	for i, s := range answerSeeds {
		ok := checkAnswer(t, s, http.MethodPost)
		if i < 5 && !ok {
			t.Errorf("h1 declines a plain answer: %q", s)
		}
	}
	if checkAnswer(t, answerSeeds[0], http.MethodHead) {
		t.Error("h1 reads the answer to a HEAD")
	}
}

// FuzzAnswer holds ParseAnswer to http.ReadResponse.
func FuzzAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, post bool) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		checkAnswer(t, raw, method)
	})
}
