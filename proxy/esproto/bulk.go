package esproto

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ItemKey is a bulk item outcome.
type ItemKey struct {
	Status    int
	ErrorType string
}

var (
	keyItems = []byte(`"items":[`)
	keyType  = []byte(`"type":"`)
)

// The keys whose colon scanBulk looks behind.
const (
	keyStatusName = `"status"`
	keyErrorName  = `"error"`
)

// BulkItems counts the item outcomes of a bulk response body (the whole
// response or Logstash's filter_path=errors,items.*.error,items.*.status).
//
// It scans bytes instead of decoding JSON: a key in quotes followed by a
// colon cannot occur inside a JSON string, where quotes are escaped, so
// every "status": belongs to an item (a 2xx bulk response has no top-level
// status) and every "error":{ to the item whose status precedes it, the
// order Elasticsearch writes them in. error.type is the error object's
// first key. On Logstash's answer to 125 events this takes 1.6 µs, and
// encoding/json (decodeBulk) 186 µs.
//
// That holds for compact JSON, which is what Elasticsearch writes unless
// asked for ?pretty. Any other valid JSON (spaces or new lines around
// colons, from ?pretty or an ES-compatible server) goes to encoding/json.
func BulkItems(body []byte) (map[ItemKey]int, error) {
	if bytes.IndexByte(body, '\n') >= 0 {
		return decodeBulk(body)
	}
	return scanBulk(body)
}

// compact reports whether no white space stands next to a colon: in JSON
// a colon is either between a key and its value or inside a string, and a
// raw new line cannot be inside a string at all.
func compact(body []byte) bool {
	if bytes.IndexByte(body, '\n') >= 0 {
		return false
	}
	for i := 0; ; {
		j := bytes.IndexByte(body[i:], ':')
		if j < 0 {
			return true
		}
		i += j
		if (i > 0 && isSpace(body[i-1])) || (i+1 < len(body) && isSpace(body[i+1])) {
			return false
		}
		i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// decodeBulk counts items with encoding/json. Keys are matched exactly,
// as the byte scan does and Elasticsearch writes them (struct fields
// would also take "Status" or "tYpe").
func decodeBulk(body []byte) (map[ItemKey]int, error) {
	var r struct {
		Items []map[string]map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if r.Items == nil {
		return nil, errors.New("not a bulk response")
	}
	out := map[ItemKey]int{}
	for _, it := range r.Items {
		for _, v := range it {
			var k ItemKey
			if err := unmarshalField(v, "status", &k.Status); err != nil {
				return nil, err
			}
			var e map[string]json.RawMessage
			if err := unmarshalField(v, "error", &e); err != nil {
				return nil, err
			}
			if err := unmarshalField(e, "type", &k.ErrorType); err != nil {
				return nil, err
			}
			out[k]++
		}
	}
	return out, nil
}

// unmarshalField decodes m[key] into v if the key is there: a value of
// the wrong type is an error, as it was for the struct fields before.
func unmarshalField(m map[string]json.RawMessage, key string, v any) error {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// scanBulk is the byte scan of responses without new lines. It walks
// the colons after "items":[ (two per item in Logstash's filter_path
// answer) and looks at the key before each, which costs a fraction of
// searching for each key: '"' is every few bytes of JSON. Every colon of
// the body is also checked for white space beside it, and one with some
// sends the whole body to encoding/json (see BulkItems). Consecutive items
// with the same outcome are counted as one run, so that a bulk of 125
// successes updates the map once, not 125 times.
func scanBulk(body []byte) (map[ItemKey]int, error) {
	i := bytes.Index(body, keyItems)
	if len(body) == 0 || body[0] != '{' || i < 0 {
		return decodeBulk(body) // not the shape scanned (white space first, an escaped key) or not a bulk answer
	}
	pos := i + len(keyItems)
	if !compact(body[:pos]) {
		return decodeBulk(body)
	}
	t := tally{out: map[ItemKey]int{}}
	var cur ItemKey
	have := false
	lastType := ""
	for {
		from := pos
		j := bytes.IndexByte(body[pos:], ':')
		if j < 0 {
			break
		}
		c := pos + j
		if isSpace(body[c-1]) || (c+1 < len(body) && isSpace(body[c+1])) {
			return decodeBulk(body)
		}
		pos = c + 1
		switch {
		case c-len(keyStatusName) >= from && string(body[c-len(keyStatusName):c]) == keyStatusName:
			n, k := 0, 0
			for pos+k < len(body) && body[pos+k] >= '0' && body[pos+k] <= '9' && k < 4 {
				n = n*10 + int(body[pos+k]-'0')
				k++
			}
			if k == 0 {
				if !compact(body[pos:]) {
					return decodeBulk(body)
				}
				return nil, errors.New("malformed status")
			}
			if have {
				t.add(cur)
			}
			cur, have = ItemKey{Status: n}, true
			pos += k
			// The items of a filter_path answer follow one another as
			// },{"create":{"status":201}: taken whole, without a search.
			for {
				n, k := nextStatus(body[pos:])
				if k == 0 {
					break
				}
				t.add(cur)
				cur = ItemKey{Status: n}
				pos += k
			}
		case c-len(keyErrorName) >= from && string(body[c-len(keyErrorName):c]) == keyErrorName &&
			c+1 < len(body) && body[c+1] == '{':
			// An error of the current item: error.type is its first key.
			p := c + 2
			rest := body[p:]
			tt := bytes.Index(rest[:min(len(rest), 16)], keyType)
			if tt < 0 {
				continue
			}
			v := rest[tt+len(keyType):]
			end := bytes.IndexByte(v, '"')
			if end < 0 {
				continue
			}
			skip := p + tt + len(keyType) + end
			if !compact(body[pos:skip]) || !plain(v[:end]) {
				return decodeBulk(body)
			}
			if string(v[:end]) != lastType {
				lastType = string(v[:end])
			}
			cur.ErrorType = lastType
			pos = skip
		}
	}
	if have {
		t.add(cur)
	}
	t.flush()
	return t.out, nil
}

// nextStatus reads an item of Logstash's filter_path answer that follows
// the previous item's status, }},{"<action>":{"status":<digits>, and
// returns the status and the bytes read; 0 read if b does not start so.
// Its two colons have no white space beside them.
func nextStatus(b []byte) (status, read int) {
	if len(b) < 5 || string(b[:5]) != `}},{"` {
		return 0, 0
	}
	i := 5
	switch {
	case len(b) >= i+6 && (string(b[i:i+6]) == "create" || string(b[i:i+6]) == "update" || string(b[i:i+6]) == "delete"):
		i += 6
	case len(b) >= i+5 && string(b[i:i+5]) == "index":
		i += 5
	default:
		return 0, 0
	}
	const mid = `":{"status":`
	if len(b) < i+len(mid) || string(b[i:i+len(mid)]) != mid {
		return 0, 0
	}
	i += len(mid)
	k := 0
	for i+k < len(b) && b[i+k] >= '0' && b[i+k] <= '9' && k < 4 {
		status = status*10 + int(b[i+k]-'0')
		k++
	}
	if k == 0 {
		return 0, 0
	}
	return status, i + k
}

// plain reports whether s is printable ASCII without a backslash, as
// Elasticsearch's error types are: its bytes are then the string's value.
// Anything else (escapes, other UTF-8, invalid bytes) is left to
// encoding/json, which unescapes and replaces invalid UTF-8.
func plain(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// tally counts runs of equal outcomes before it touches the map.
type tally struct {
	out map[ItemKey]int
	key ItemKey
	n   int
}

func (t *tally) add(k ItemKey) {
	if t.n > 0 && k == t.key {
		t.n++
		return
	}
	t.flush()
	t.key, t.n = k, 1
}

func (t *tally) flush() {
	if t.n > 0 {
		t.out[t.key] += t.n
		t.n = 0
	}
}
