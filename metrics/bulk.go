package metrics

import (
	"encoding/json"
)

// ItemKey is a bulk item outcome.
type ItemKey struct {
	Status    int
	ErrorType string
}

// BulkItems counts the item outcomes of a bulk response body (the whole
// response or Logstash's filter_path=errors,items.*.error,items.*.status).
func BulkItems(body []byte) (map[ItemKey]int, error) {
	var r struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	out := map[ItemKey]int{}
	for _, it := range r.Items {
		for _, res := range it {
			k := ItemKey{Status: res.Status}
			if res.Error != nil {
				k.ErrorType = res.Error.Type
			}
			out[k]++
		}
	}
	return out, nil
}
